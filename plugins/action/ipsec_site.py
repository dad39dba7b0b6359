# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of xfrm.ipsec.ipsec_site (documented in plugins/modules/ipsec_site.py).

Runs on the controller: reads the site from the inventory (groups and hostvars, not the play's
hosts), derives this host's keys and SPIs from the master secret, and hands the host only its own
SAs and policies through xfrm.ipsec.ipsec_apply (SAs applied, policies compared) and ipsec_policy.
The master secret never leaves the controller and no fleet-sized list crosses Ansible's templating.
"""

from __future__ import annotations

import socket

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys, lint, rotation, site
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import ValidationError, validate_policies, validate_sas
from ansible_collections.xfrm.ipsec.plugins.plugin_utils.site_inventory import Inventory, master_deriver

STAGES = ("scan", "sas", "policies", "routes", "retire", "status", "plan")
READY_FACT = "__ipsec_site_sas_ready"
SUPERSEDED_FACT = "__ipsec_site_superseded"  # the sas stage kept these SAs: the previous generation of its directions
SWITCHED_FACT = "__ipsec_site_switched"  # the policies stage left the outbound policies toward these peers on target
IN_PLACE_FACT = "__ipsec_site_policies_in_place"   # the sas stage found every planned policy in place
NATT_FACT = "__ipsec_site_natt"  # after the sas stage: the UDP 4500 socket holder and the peers to keep NAT mappings to
PLANNED_FACT = "__ipsec_site_planned"  # after the policies stage: this host's SAs (addresses) and policies, no keys
POLICY_OPTIONS = ("src", "dst", "proto", "sport", "dport", "dir", "action", "priority", "templates", "mark", "if_id",
                  "ptype", "flags", "lifetime")


class KeyedArgs(dict):
    """Module arguments that carry keys. ansible-core's ANSIBLE_DEBUG=1 prints the arguments of every module it runs,
    str() of this dict, whatever no_log says: this one prints its keys masked. The module receives them whole (as
    JSON) and masks them in its own output (no_log)."""

    def __repr__(self):
        return repr(_masked(dict(self)))

    __str__ = __repr__


def _masked(value):
    if isinstance(value, dict):
        return {k: "********" if k == "key" else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _known_pairs(inventory, overrides):
    """SiteError when ipsec_pair_generations names a pair the site does not have (a typo would leave the pair
    meant on the site's generation)."""
    if not isinstance(overrides, dict):
        return
    names = {keys.pair_name(a, b) for kind in site.KINDS for a, b in inventory.pair_names(kind)}
    unknown = sorted(str(name) for name in overrides if str(name) not in names)
    if unknown:
        raise site.SiteError("ipsec_pair_generations: %s names no pair of the site (a pair is its two hosts sorted, "
                             "joined with ~, like %s)" % (", ".join(unknown), min(names) if names else "db1~db2"))


def controller_address(host):
    """The controller's own address toward host, as routed (a UDP connect sends nothing), or None."""
    try:
        found = socket.getaddrinfo(host, 22, proto=socket.IPPROTO_UDP)[0]
        family, sockaddr = found[0], found[4]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(sockaddr)
            return probe.getsockname()[0]
    except OSError:
        return None


def _left_out(policies):
    """Warnings for the IPsec policies the management path's bypass replaced."""
    if not policies:
        return {}
    return {"warnings": ["%s -> %s dir %s is the management path: left in clear (its bypass policy wins over IPsec; "
                         "manage the host from another address to protect it)" % (p["src"], p["dst"], p["dir"])
                         for p in policies]}


def _add_warnings(result, warnings):
    if warnings:
        result["warnings"] = list(result.get("warnings") or []) + [w for w in warnings if w not in (result.get("warnings") or [])]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("stage", "master_secret", "generation", "spi_collisions", "management", "phase", "netns",
                             "require_peers", "link_mtu"))

    def run(self, tmp=None, task_vars=None):
        super().run(tmp, task_vars)
        args = self._task.args
        stage = args.get("stage", "plan")
        if stage not in STAGES:
            raise AnsibleActionFail("stage: %r; one of %s" % (stage, ", ".join(STAGES)))
        deriver = master_deriver(args, task_vars, self._templar)
        inventory = Inventory(task_vars, self._templar)
        host = task_vars["inventory_hostname"]
        netns = {"netns": args["netns"]} if args.get("netns") is not None else {}
        try:
            generation = site.pair_generations(args.get("generation", inventory.var(host, "ipsec_generation")),
                                               inventory.var(host, "ipsec_pair_generations"), "ipsec_pair_generations")
            with paused_gc():  # a site of thousands of pairs: see gc_pause.py
                if stage == "scan":
                    return self._scan(deriver, inventory, generation)
                groups = {kind: inventory.group(kind) for kind in site.KINDS}
                # a member of a group or of a roster belongs to the site, pairs or not (a host of the group that
                # the roster left out is removed from the site: docs/site-rollout.md); a host in neither is a mistake
                if not any(host in members or host in task_vars["groups"].get(name, ())
                           for members, name in groups.values()):
                    raise site.SiteError("%s is in neither group %s: it belongs to no site (a roll-out would remove "
                                         "its IPsec state); add it to one, or leave it out of the play"
                                         % (host, " nor ".join(name for _members, name in groups.values())))
                _known_pairs(inventory, inventory.var(host, "ipsec_pair_generations"))
                pairs = [p for kind in site.KINDS for p in inventory.pairs(kind, host)]
                collisions = {tuple(c[:4]): c[4] for c in args.get("spi_collisions") or ()}
                if stage == "retire":
                    return self._retire(task_vars, pairs, netns)
                if stage == "routes":
                    return self._routes(task_vars, pairs, netns)
                if stage == "status":
                    return self._status(task_vars, deriver, pairs, generation, collisions, netns)
                ready = None if stage in ("sas", "plan") or args.get("phase") == "policies" else self._ready(task_vars, pairs)
                plan = site.plan_host(deriver, pairs, generation, collisions, ready=ready)
        except site.SiteError as exc:
            raise AnsibleActionFail(str(exc)) from None
        summary = {"pairs": sorted(p.name for p in pairs), "deferred": plan["deferred"]}
        management = args.get("management")
        if management is None:
            management = self._management(task_vars)
        summary["management"] = list(management)
        left_out = []  # IPsec policies the management path's bypass replaced (warned of)
        if stage == "plan":
            policies, left_out = site.with_bypasses(plan["policies"], management)
            findings = self._lint(host, plan["sas"], policies, management)
            summary.update(_left_out(left_out))
            return dict(changed=False, sas=len(plan["sas"]), policies=len(plan["policies"]), findings=findings, **summary)
        guarded = []  # the policies the firewall follows (policies stage)
        if stage == "sas":
            # the SAs, and the policies compared only: where they are all in place already (a re-run), the
            # policies stage has nothing to do and skips its module run
            policies, left_out = site.with_bypasses(plan["policies"], management)
            # the SAs of another generation of the same directions stay (superseded: keep) until the retire stage
            result = self._exclusive(task_vars, "ipsec_apply", dict(sas=plan["sas"], policies=policies, exclusive=True,
                                                                    compare_only=["policies"], superseded="keep", **netns))
            in_place = not result.get("failed") and result.get("pending") == []
            result.setdefault("ansible_facts", {}).update({READY_FACT: not result.get("failed"), IN_PLACE_FACT: in_place,
                                                           SUPERSEDED_FACT: result.get("superseded") or [],
                                                           NATT_FACT: site.natt(pairs)})
            result.pop("pending", None)
        elif args.get("phase", "all") == "all" and (task_vars.get("ansible_facts") or {}).get(IN_PLACE_FACT):
            result = dict(changed=False, msg="every planned policy was in place at the sas stage of this run")
            policies, left_out = site.with_bypasses(plan["policies"] + plan["deferred_policies"], management)
            guarded = policies
            switched = [p.peer.name for p in pairs]
            routed = pairs
        else:
            policies, guarded = plan["policies"], list(plan["policies"])
            held_if_ids = set()
            if plan["deferred"]:
                kept = self._kept(plan["deferred_policies"], netns, task_vars)
                policies += kept
                guarded += site.established_entries(pairs, plan["deferred"], kept)
                held_if_ids = {p.get("if_id") for p in kept}
            # the routes the firewall guards: the pairs of this run, and the deferred ones that still hold policies
            routed = [p for p in pairs if p.peer.name not in plan["deferred"] or p.if_id in held_if_ids]
            policies, left_out = site.with_bypasses(policies, management)
            guarded = site.with_bypasses(guarded, management)[0]
            result = self._exclusive(task_vars, "ipsec_policy", dict(policies=policies, exclusive=True, **netns))
            switched = [p.peer.name for p in pairs if p.peer.name not in plan["deferred"]]
        if stage == "policies":
            result.setdefault("ansible_facts", {})[SWITCHED_FACT] = [] if result.get("failed") else switched
        if stage == "policies" and not result.get("failed"):
            # what the host holds after this stage, without keys, for the firewall role (exact in check mode): the
            # pairs of this run, and the pairs a partial run leaves alone as they were meant to be (their leak guard
            # stays while a policy of theirs is missing)
            result.setdefault("ansible_facts", {})[PLANNED_FACT] = {
                "sas": [{k: sa[k] for k in ("src", "dst", "proto", "encap") if k in sa} for sa in plan["sas"]],
                "policies": guarded,
                "routes": [{k: r[k] for k in ("dst", "dev")} for r in site.route_entries(routed)],
                "management": list(management)}
        result.update(summary)
        _add_warnings(result, _left_out(left_out).get("warnings", []))
        return result

    def _exclusive(self, task_vars, module, args):
        """ipsec_apply / ipsec_policy with exclusive: true; for a host left with nothing to hold (its last peer taken
        out of the inventory), ipsec_flush of the collection's entries in the tables the stage changes, as the
        modules refuse an exclusive request without entries."""
        if args.get("sas") or args.get("policies"):
            return self._execute_module(module_name="xfrm.ipsec." + module, task_vars=task_vars,
                                        module_args=KeyedArgs(args))
        flush = dict(scope="managed", sas=module == "ipsec_apply", policies=module == "ipsec_policy")
        if "netns" in args:
            flush["netns"] = args["netns"]
        return self._execute_module(module_name="xfrm.ipsec.ipsec_flush", task_vars=task_vars, module_args=flush)

    def _scan(self, deriver, inventory, generation):
        pairs = inventory.all_pairs()
        directions = site.all_directions(pairs)
        moved = keys.spi_collisions(deriver, directions, generation)
        collisions = [list(d) + [spi] for d, spi in sorted(moved.items())]
        result = dict(changed=False, spi_collisions=collisions, directions=len(directions), pairs=len(pairs))
        if collisions:
            result["warnings"] = ["SPI collision resolved at %s: pair %s %s->%s %s takes SPI 0x%08x instead of its first "
                                  "choice" % (c[2], c[0], c[1], c[2], c[3], c[4]) for c in collisions]
        return result

    def _retire(self, task_vars, pairs, netns):
        """Delete the superseded SAs (kept by this run's sas stage) of the pairs whose two peers both switched their
        outbound policies in this run; the others keep them, as their peer may still send with them."""
        facts = task_vars.get("ansible_facts") or {}
        mine = set(facts.get(SWITCHED_FACT) or ())
        me = task_vars["inventory_hostname"]
        in_play = set(task_vars.get("ansible_play_hosts") or ())
        hostvars = task_vars["hostvars"]
        pair_of = {}
        for pair in pairs:
            for a, b in pair.seen().links():  # as the kernel names them (the superseded SAs come from it)
                pair_of[(a, b)] = pair_of[(b, a)] = pair
        done = {p.peer.name for p in pairs if p.peer.name in mine and p.peer.name in in_play
                and me in ((hostvars[p.peer.name].get("ansible_facts") or {}).get(SWITCHED_FACT) or ())}
        retired, waiting = [], set()
        for sa in facts.get(SUPERSEDED_FACT) or ():
            pair = pair_of.get((sa["src"], sa["dst"]))
            if pair is not None and pair.peer.name in done:
                retired.append(sa)
            elif pair is not None:
                waiting.add(pair.name)
        summary = dict(retired=[sa["entry"] for sa in retired], waiting=sorted(waiting))
        if not retired:
            return dict(changed=False, **summary)
        result = self._execute_module(module_name="xfrm.ipsec.ipsec_apply", task_vars=task_vars, module_args=dict(
            sas=[dict({k: sa[k] for k in ("src", "dst", "proto", "spi", "mark") if k in sa}, state="absent") for sa in retired],
            **netns))
        result.update(summary)
        return result

    def _routes(self, task_vars, pairs, netns):
        """Route mode: an XFRM interface per pair (all of them: an interface without routes carries nothing), and the
        routes of the pairs whose policies this run's policies stage set; the routes of the others stay as they are.
        The collection's interfaces of pairs gone or back in policy mode are removed (exclusive)."""
        switched = set((task_vars.get("ansible_facts") or {}).get(SWITCHED_FACT) or ())
        try:
            link_mtu = int(self._task.args.get("link_mtu") or site.DEFAULT_LINK_MTU)
        except (TypeError, ValueError):
            raise site.SiteError("ipsec_gateway_link_mtu: %r is not a number of bytes" % self._task.args.get("link_mtu")) from None
        interfaces = site.interface_entries(pairs, link_mtu)
        routes = site.route_entries([p for p in pairs if p.peer.name in switched])
        keep = sorted({p.interface for p in pairs if p.mode == "route" and p.peer.name not in switched})
        result = self._execute_module(module_name="xfrm.ipsec.ipsec_interface", task_vars=task_vars, module_args=dict(
            interfaces=interfaces, routes=routes, exclusive=True, keep_routes_of=keep, **netns))
        if keep and not result.get("failed"):
            result["kept"] = keep
        return result

    def _status(self, task_vars, deriver, pairs, generation, collisions, netns):
        """Each pair's key generation as the kernel holds it, against the inventory's (see rotation.pair_status)."""
        info = self._execute_module(module_name="xfrm.ipsec.ipsec_info", task_vars=task_vars,
                                    module_args=dict(managed_only=True, **netns))
        if info.get("failed"):
            raise AnsibleActionFail("cannot read the SAs and policies of %s: %s"
                                    % (task_vars["inventory_hostname"], info.get("msg")))
        report = rotation.pair_status(deriver, pairs, generation, collisions, info["sas"], info["policies"])
        result = dict(changed=False, generations=report)
        if self._task.args.get("require_peers"):
            in_run = set(task_vars.get("ansible_play_hosts_all") or ())
            outside = ["%s (peer %s)" % (name, entry["peer"]) for name, entry in sorted(report.items())
                       if entry["state"] in rotation.MOVING and entry["peer"] not in in_run]
            if outside:
                raise AnsibleActionFail(
                    "these pairs are between two generations or due to move, and their peer is not in this run: %s. A "
                    "rotation moves both peers of a pair or neither: add the peers to --limit, or run without --limit"
                    % ", ".join(outside))
        return result

    def _ready(self, task_vars, pairs):
        """Peers whose SAs this run put in place (in the play, and their SA stage succeeded)."""
        in_play = set(task_vars.get("ansible_play_hosts") or ())
        hostvars = task_vars["hostvars"]
        return {p.peer.name for p in pairs if p.peer.name in in_play
                and (hostvars[p.peer.name].get("ansible_facts") or {}).get(READY_FACT)}

    def _kept(self, deferred, netns, task_vars):
        """The deferred pairs' policies that the kernel already has, exactly as it has them (nothing added, nothing removed)."""
        info = self._execute_module(module_name="xfrm.ipsec.ipsec_info", task_vars=task_vars,
                                    module_args=dict(sas=False, managed_only=True, **netns))
        if info.get("failed"):
            raise AnsibleActionFail("cannot read the policies of %s: %s" % (task_vars["inventory_hostname"], info.get("msg")))
        try:
            wanted = {p.identity for p in validate_policies({"policies": deferred})[0]}
            existing = [{k: v for k, v in p.items() if k in POLICY_OPTIONS} for p in info["policies"]]
            present = validate_policies({"policies": existing})[0]
        except ValidationError as exc:
            raise AnsibleActionFail("deferred policies: %s" % exc) from None
        return [entry for entry, policy in zip(existing, present) if policy.identity in wanted]

    @staticmethod
    def _lint(host, sas, policies, management):
        """The lint's findings of this host's planned state (as ipsec_lint reports them)."""
        try:
            state = lint.State(host, tuple(validate_sas({"sas": sas})[0]), tuple(validate_policies({"policies": policies})[0]))
        except ValidationError as exc:
            raise AnsibleActionFail("the plan does not validate (a bug): %s" % exc) from None
        return [f.as_result() for f in lint.lint([state], management)]

    def _management(self, task_vars):
        if task_vars.get("ansible_connection") == "local":
            return []
        address = controller_address(task_vars.get("ansible_host") or task_vars["inventory_hostname"])
        return [address] if address else []
