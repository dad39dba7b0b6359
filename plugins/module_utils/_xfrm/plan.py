# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Want vs have -> the ordered changes that make the kernel hold what is wanted. Pure, no I/O.

Order is make-before-break: additions, replacements and updates in the order the user
listed them, deletions last, so an entry that is still in use goes only after its
successor is in place. Every lookup is by identity in a dict: planning is linear in
the number of entries.
"""

from __future__ import annotations

from typing import NamedTuple

from . import constants as C
from .render import describe, entry_dict

ADD, UPDATE, REPLACE, DELETE = "add", "update", "replace", "delete"
SA_PROTOS = frozenset(C.XFRM_PROTOS.values())


class Change(NamedTuple):
    """One change: add (new), update (old -> new in place), replace (delete old, add new), delete (old)."""

    action: str
    new: object = None
    old: object = None

    @property
    def entry(self):
        """The entry the change is about: the new one, or the old one for a delete."""
        return self.new if self.new is not None else self.old


def _plan(want, absent, have, exclusive, updatable):
    have_by_id = {entry.identity: entry for entry in have}
    changes, kept = [], set()
    for entry in want:
        identity = entry.identity
        kept.add(identity)
        old = have_by_id.get(identity)
        if old is None:
            changes.append(Change(ADD, new=entry))
        elif old != entry:
            changes.append(Change(UPDATE if updatable(entry, old) else REPLACE, new=entry, old=old))
    deleted = set()
    for identity in absent:
        old = have_by_id.get(identity)
        if old is not None and identity not in deleted:
            deleted.add(identity)
            changes.append(Change(DELETE, old=old))
    if exclusive:
        for old in have:
            if old.managed and old.identity not in kept and old.identity not in deleted:
                changes.append(Change(DELETE, old=old))
    return changes


def plan_sas(want, absent, have, exclusive=False):
    """Changes for SAs. Only ESP, AH and IPComp SAs are considered (the kernel's own IPIP
    helper SAs of IPComp tunnels are never touched). Keys, algorithms, mode or reqid that
    differ need a replace: XFRM_MSG_UPDSA changes only lifetimes and encapsulation."""
    have = [sa for sa in have if sa.proto in SA_PROTOS]
    return _plan(want, absent, have, exclusive, lambda new, old: new.updatable_from(old))


def foreign_conflicts(want, have):
    """[(wanted, held)]: wanted managed entries whose identity the kernel holds as a foreign entry (another IPsec
    daemon's, or made by hand: reqid or index outside the managed range) with other contents. Planning them
    would change the foreign entry; an equal one is left as it is."""
    held = {entry.identity: entry for entry in have if not entry.managed}
    out = []
    for entry in want:
        old = held.get(entry.identity)
        if old is None or old == entry:
            continue
        if hasattr(entry, "reqid") and not entry.managed:
            continue  # an SA the request itself gives a reqid outside the range: the user took it over knowingly
        out.append((entry, old))
    return out


def direction(sa):
    """What an SA carries traffic for, whatever its keys: source, destination, protocol, mark."""
    return (sa.src, sa.dst, sa.proto, sa.mark)


def superseded_sas(want, have, absent=()):
    """The managed SAs of `have` that carry a listed SA's direction under another SPI (the previous key
    generation of that direction, in a make-before-break rotation), in `have`'s order; not those listed absent."""
    directions = {direction(sa) for sa in want}
    wanted = {sa.identity for sa in want} | set(absent)
    return [sa for sa in have if sa.managed and sa.proto in SA_PROTOS and sa.identity not in wanted
            and direction(sa) in directions]


def plan_policies(want, absent, have, exclusive=False):
    """Changes for policies. New policies get a free index in the managed range (the
    collection's marker); updated ones keep the index they have (the kernel keeps it)."""
    changes = _plan(want, absent, have, exclusive, lambda new, old: True)
    used = {p.index for p in have}
    next_slot = [0]

    def free_index(direction):
        while True:
            index = C.MANAGED_MIN + (next_slot[0] << C.POLICY_INDEX_DIR_BITS) + direction
            next_slot[0] += 1
            if index > C.MANAGED_MAX:
                raise ValueError("no free policy index left in the managed range")
            if index not in used:
                used.add(index)
                return index

    out = []
    for change in changes:
        if change.action == ADD:
            change = Change(ADD, new=change.new.with_index(free_index(change.new.dir)))
        elif change.action == UPDATE:
            change = Change(UPDATE, new=change.new.with_index(change.old.index), old=change.old)
        out.append(change)
    return out


def invert(changes):
    """The changes that undo `changes` once they took effect, in reverse order."""
    undo = {ADD: lambda c: Change(DELETE, old=c.new), DELETE: lambda c: Change(ADD, new=c.old),
            UPDATE: lambda c: Change(UPDATE, new=c.old, old=c.new), REPLACE: lambda c: Change(REPLACE, new=c.old, old=c.new)}
    return [undo[change.action](change) for change in reversed(changes)]


def plan_report(changes):
    """The result keys that describe a plan: actions (one line each) and counts by action."""
    summary = {action: 0 for action in (ADD, UPDATE, REPLACE, DELETE)}
    actions = []
    for change in changes:
        summary[change.action] += 1
        actions.append({"action": change.action, "entry": describe(change.entry)})
    return dict(changed=bool(changes), actions=actions, summary=summary)


def plan_diff(changes):
    """before/after of the entries a plan touches, keys as fingerprints."""
    before, after = {}, {}
    for change in changes:
        label = describe(change.entry)
        if change.old is not None:
            before[label] = _without_counters(entry_dict(change.old))
        if change.new is not None:
            after[label] = _without_counters(entry_dict(change.new))
    return {"before": before, "after": after}


def _without_counters(entry):
    entry.pop("counters", None)
    return entry
