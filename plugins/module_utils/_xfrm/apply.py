# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Execute a plan over the transport, all of it or none of it.

Each change becomes one or two netlink requests, each with the request that undoes it (a
table's steps: sa_steps, policy_steps). All requests go out in batches; when any fails, the
ones that took effect are undone in reverse order, so the kernel is left as it was, and the
error names the entry. apply_all does the same across tables.
"""

from __future__ import annotations

import errno

from . import constants as C
from . import messages as M
from .plan import ADD, DELETE, REPLACE, UPDATE, invert
from .render import describe
from .transport import explain


class ApplyError(Exception):
    """Some requests failed. `failures` is [(entry text, reason)]; `rollback_failures` likewise for undo."""

    def __init__(self, failures, rollback_failures):
        self.failures = failures
        self.rollback_failures = rollback_failures
        text = "; ".join("%s: %s" % f for f in failures)
        if rollback_failures:
            text += ". ROLLBACK INCOMPLETE, the kernel now differs from before: " + "; ".join(
                "%s: %s" % f for f in rollback_failures)
        else:
            text += ". Every change of this request was undone: the kernel holds what it held before."
        super().__init__(text)


def _add_sa(sa):
    return (C.XFRM_MSG_NEWSA, M.encode_sa(sa))


def _upd_sa(sa):
    return (C.XFRM_MSG_UPDSA, M.encode_sa(sa))


def _del_sa(sa):
    return (C.XFRM_MSG_DELSA, M.encode_sa_id(sa.identity, sa.src))


def _add_policy(policy):
    return (C.XFRM_MSG_NEWPOLICY, M.encode_policy(policy))


def _set_policy(policy):
    return (C.XFRM_MSG_UPDPOLICY, M.encode_policy(policy))


def _del_policy(policy):
    return (C.XFRM_MSG_DELPOLICY, M.encode_policy_id(policy.identity))


# Each change is one or two steps: (request, (undo, entry)). The undo request is built only
# when a rollback needs it: a request that succeeds, as nearly all do, costs one encoding.

def sa_steps(change):
    new, old = change.new, change.old
    if change.action == ADD:
        return [(_add_sa(new), (_del_sa, new))]
    if change.action == UPDATE:
        return [(_upd_sa(new), (_upd_sa, old))]
    if change.action == REPLACE:
        return [(_del_sa(old), (_add_sa, old)), (_add_sa(new), (_del_sa, new))]
    return [(_del_sa(old), (_add_sa, old))]


def policy_steps(change):
    new, old = change.new, change.old
    if change.action == ADD:
        return [(_add_policy(new), (_del_policy, new))]
    if change.action in (UPDATE, REPLACE):
        return [(_set_policy(new), (_set_policy, old))]
    return [(_del_policy(old), (_add_policy, old))]


def _is_gone(request, code):
    """A delete of an entry that someone else removed meanwhile has the effect asked for."""
    return code == errno.ENOENT and request[0] in (C.XFRM_MSG_DELSA, C.XFRM_MSG_DELPOLICY)


def execute(transport, changes, steps_of):
    """One table's changes, all of them or none: steps_of is the table's steps (sa_steps, policy_steps)."""
    steps = [step for change in changes for step in steps_of(change)]
    results = transport.request([do for do, _undo in steps])
    failures, done = [], []
    for (do, undo), (code, message) in zip(steps, results):
        if code == 0:
            done.append(undo)
        elif not _is_gone(do, code):
            failures.append((describe(undo[1]), explain(code, message)))
    if not failures:
        return
    rollback_failures = []
    undo_requests = [make(entry) for make, entry in reversed(done)]
    for (_make, entry), request, (code, message) in zip(
            reversed(done), undo_requests, transport.request(undo_requests) if undo_requests else []):
        if code and not _is_gone(request, code):
            rollback_failures.append((describe(entry), explain(code, message)))
    raise ApplyError(failures, rollback_failures)


def apply_all(transport, plans):
    """Several tables' changes in one request, all of it or none of it.

    plans: [(steps, changes)] of each table, in roll-out order (SAs before the policies that use
    them). Additions and updates go table by table in that order, deletions in the reverse order
    (policies before the SAs they used). When a batch fails (it undoes itself), the batches
    before it are undone too, newest first."""
    batches = [(steps, [c for c in changes if c.action != DELETE]) for steps, changes in plans]
    batches += [(steps, [c for c in changes if c.action == DELETE]) for steps, changes in reversed(plans)]
    done = []
    for steps, changes in batches:
        if not changes:
            continue
        try:
            execute(transport, changes, steps)
        except ApplyError as exc:
            undo_failures = list(exc.rollback_failures)
            for applied_steps, applied in reversed(done):
                try:
                    execute(transport, invert(applied), applied_steps)
                except ApplyError as undo:
                    undo_failures += undo.failures + undo.rollback_failures
            raise ApplyError(exc.failures, undo_failures) from None
        done.append((steps, changes))


def apply_sas(transport, changes):
    apply_all(transport, [(sa_steps, changes)])


def apply_policies(transport, changes):
    apply_all(transport, [(policy_steps, changes)])
