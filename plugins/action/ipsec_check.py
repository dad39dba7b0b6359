# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of xfrm.ipsec.ipsec_check (documented in plugins/modules/ipsec_check.py).

The health check of a site, in the stages playbooks/check_vpn.yml runs in order on every host (the linear
strategy's barrier between them): `observe` (before), `probe`, `observe` (after), then `report` once. The hosts
run xfrm.ipsec.ipsec_probe; the verdicts are computed on the controller (health.py), where the keys are derived
from the master secret to compare fingerprints: no key leaves the controller, none is shown.
"""

from __future__ import annotations

import ipaddress
import os
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import health, keys, site
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.plugin_utils import site_picture
from ansible_collections.xfrm.ipsec.plugins.plugin_utils.site_inventory import Inventory, master_deriver

STAGES = ("observe", "probe", "report")
FACT = "__ipsec_check_%s"  # before, after, probes
PROBE_OPTIONS = ("count", "interval", "timeout")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("stage", "snapshot", "netns", "count", "interval", "timeout", "report_dir", "master_secret",
                             "rotate_packets"))

    def run(self, tmp=None, task_vars=None):
        super().run(tmp, task_vars)
        args = self._task.args
        stage = args.get("stage")
        if stage not in STAGES:
            raise AnsibleActionFail("stage: %r; one of %s" % (stage, ", ".join(STAGES)))
        netns = {"netns": args["netns"]} if args.get("netns") is not None else {}
        inventory = Inventory(task_vars, self._templar)
        try:
            with paused_gc():
                if stage == "observe":
                    when = args.get("snapshot", "before")
                    if when not in ("before", "after"):
                        raise AnsibleActionFail("snapshot: %r; before or after" % when)
                    return self._probe(task_vars, when, dict(snapshot=True, **netns))
                if stage == "probe":
                    probes, skipped = self._probes(task_vars, inventory)
                    options = {k: args[k] for k in PROBE_OPTIONS if args.get(k) is not None}
                    if not probes:
                        return dict(changed=False, skipped_probes=skipped, ansible_facts={FACT % "probes": skipped})
                    result = self._probe(task_vars, "probes", dict(probes=probes, snapshot=False, **options, **netns))
                    result["ansible_facts"][FACT % "probes"] += skipped
                    result["skipped_probes"] = skipped
                    return result
                return self._report(task_vars, inventory, args)
        except site.SiteError as exc:
            raise AnsibleActionFail(str(exc)) from None

    def _probe(self, task_vars, what, module_args):
        """ipsec_probe's result, kept as the fact of `what` (before, after: the snapshot; probes: the probes')."""
        result = self._execute_module(module_name="xfrm.ipsec.ipsec_probe", task_vars=task_vars, module_args=module_args)
        if not result.get("failed"):
            kept = result.get("probes", []) if what == "probes" else \
                {k: result.get(k) for k in ("sas", "policies", "xfrm_stat", "addresses", "time")}
            result["ansible_facts"] = {FACT % what: kept}
        return result

    def _probes(self, task_vars, inventory):
        """This host's probes toward each peer in the run, one per address family of the pair: ([probe], [skipped])."""
        me = task_vars["inventory_hostname"]
        hostvars = task_vars["hostvars"]
        in_run = set(task_vars.get("ansible_play_hosts") or ())
        mine = _addresses((task_vars.get("ansible_facts") or {}).get(FACT % "before"))
        probes, skipped = [], []
        for pair in [p for kind in site.KINDS for p in inventory.pairs(kind, me)]:
            if pair.peer.name not in in_run:
                continue
            theirs = _addresses((hostvars[pair.peer.name].get("ansible_facts") or {}).get(FACT % "before"))
            if pair.kind == "host":
                probes += [{"name": pair.name, "src": local, "dst": peer} for local, peer in pair.links()]
                continue
            for family in pair.inner_families():  # each family of the subnets, whatever the tunnel's
                src = _inside(mine, pair.local.subnets, family)
                dst = _inside(theirs, pair.peer.subnets, family)
                if src and dst:
                    probes.append({"name": pair.name, "src": src, "dst": dst})
                else:
                    skipped.append({"name": pair.name, "src": src, "dst": dst, "sent": 0, "received": 0, "skipped":
                                    "%s has no address inside its subnets of IPv%d to probe from"
                                    % (me if not src else pair.peer.name, family)})
        return probes, skipped

    def _report(self, task_vars, inventory, args):
        deriver = master_deriver(args, task_vars, self._templar)
        me = task_vars["inventory_hostname"]
        generation = site.pair_generations(inventory.var(me, "ipsec_generation"), inventory.var(me, "ipsec_pair_generations"),
                                           "ipsec_pair_generations")
        pairs = inventory.all_pairs()
        collisions = keys.spi_collisions(deriver, site.all_directions(pairs), generation)
        observed = self._observed(task_vars)
        now = max([o.before.get("time") or 0 for o in observed.values() if o is not None] + [int(time.time())])
        rotate_packets = int(args.get("rotate_packets") or health.ROTATE_PACKETS)
        verdicts = {p.name: health.assess(deriver, p, {h: observed.get(h) for h in (p.local.name, p.peer.name)},
                                          collisions, generation, now, rotate_packets) for p in pairs}
        nodes = {}
        for pair in pairs:
            for member in (pair.local, pair.peer):
                nodes[member.name] = {"kind": pair.kind, "addresses": list(member.addresses),
                                      "subnets": list(member.subnets), "in_run": observed.get(member.name) is not None}
        summary = {state: sum(1 for v in verdicts.values() if v["state"] == state) for state in health.STATES}
        report = {"checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "summary": summary,
                  "nodes": nodes, "pairs": verdicts}
        result = dict(changed=False, report=report, lines=health.report_lines(verdicts),
                      down=sorted(n for n, v in verdicts.items() if v["state"] == "down"),
                      metrics={h: health.metrics(verdicts, h, now) for h in nodes if observed.get(h) is not None})
        report_dir = args.get("report_dir")
        if report_dir:
            try:
                directory = os.path.abspath(os.path.expanduser(report_dir))
                os.makedirs(directory, exist_ok=True)
                result["picture"] = site_picture.render(report, directory)
            except (site_picture.PictureError, OSError) as exc:
                result["warnings"] = ["no picture: %s" % exc]
        return result

    @staticmethod
    def _observed(task_vars):
        """{host: health.Observation} of the hosts of the play (an error for those that failed or were unreachable)."""
        hostvars = task_vars["hostvars"]
        alive = set(task_vars.get("ansible_play_hosts") or ())
        out = {}
        for host in task_vars.get("ansible_play_hosts_all") or ():
            facts = hostvars[host].get("ansible_facts") or {}
            before, after = facts.get(FACT % "before"), facts.get(FACT % "after")
            error = None if host in alive and before and after else "unreachable, or a task failed on it in this run"
            out[host] = health.Observation(before, after, facts.get(FACT % "probes"), error)
        return out


def _addresses(snapshot):
    return [entry["address"] for entry in (snapshot or {}).get("addresses") or ()]


def _inside(addresses, subnets, family):
    """The first of addresses of the family (4 or 6) inside one of the subnets; None if none."""
    for address in addresses:
        value = ipaddress.ip_address(address)
        if value.version == family and any(value in ipaddress.ip_network(net) for net in subnets):
            return address
    return None
