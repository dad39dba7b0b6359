"""A simulated fleet: what playbooks/site_vpn.yml costs the controller as the site grows.

N hosts are network namespaces of this machine (connection local, `ipsec_netns` per host), so the
whole play runs for real (argument specs, the controller's planning, AnsiballZ, the modules reading
their namespace's kernel tables) in check mode: the host kernel lacks esp4, and check mode plans
every SA and policy without adding one. Two layouts:

- mesh: N end hosts, every two of them a pair (each host has N - 1 peers);
- sites: two gateways (a subnet each, tunnel mode) and N - 2 end hosts in two meshes of their own
  site (explicit pairs; each host has about N / 2 - 1 peers).

Per run: wall time, CPU of the whole run (ansible-playbook, its workers and the module processes),
that CPU per host, the controller's planning per host (the ipsec_site stages, timed in-process by
the same code), and the bytes of task arguments each host receives (its SAs and policies as JSON).

    bench/run fleet                                   mesh N = 10, 50, 200, sites N = 10, 50 -> docs/fleet.md, .json
    bench/run fleet --mesh-n 10 --sites-n --out DIR   a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys, site  # noqa: E402  pylint: disable=wrong-import-position

MASTER = "fleet benchmark master secret, not a real one"


def layout(kind, n):
    """(inventory dict, {host: [Pair]}) for n hosts."""
    names = ["h%03d" % i for i in range(n)]
    address = {name: "10.%d.%d.%d" % (1 + (i >> 16), (i >> 8) & 255, i & 255) for i, name in enumerate(names)}
    hosts, groups = {}, {}
    for name in names:
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "ipsec_netns": "xfrm-fleet-" + name}
    if kind == "mesh":
        groups["ipsec_mesh"] = {"hosts": {name: {"ipsec_host_address": address[name]} for name in names}}
        explicit = None
        mesh_names = names
    else:
        gateways, mesh_names = names[:2], names[2:]
        groups["ipsec_gateways"] = {"hosts": {gw: {"ipsec_gateway_address": address[gw],
                                                   "ipsec_gateway_subnets": ["172.%d.0.0/16" % (16 + i)]}
                                              for i, gw in enumerate(gateways)}}
        sites = [mesh_names[0::2], mesh_names[1::2]]
        explicit = [[a, b] for members in sites for i, a in enumerate(members) for b in members[i + 1:]]
        groups["ipsec_mesh"] = {"hosts": {name: {"ipsec_host_address": address[name]} for name in mesh_names},
                                "vars": {"ipsec_host_pairs": explicit}}
    inventory = {"all": {"hosts": hosts, "children": groups,
                         "vars": {"ipsec_master_secret": MASTER, "ipsec_management_addresses": []}}}
    settings = site.Settings()
    members = {name: site.Member(name, (address[name],)) for name in mesh_names}
    pairs = site.pairs_of(set(mesh_names), explicit, "ipsec_host_pairs", "ipsec_mesh")
    by_host = {name: [] for name in names}
    for a, b in pairs:
        by_host[a].append(site.Pair("host", members[a], members[b], settings))
        by_host[b].append(site.Pair("host", members[b], members[a], settings))
    if kind == "sites":
        g = {gw: site.Member(gw, (address[gw],), tuple(groups["ipsec_gateways"]["hosts"][gw]["ipsec_gateway_subnets"]))
             for gw in names[:2]}
        by_host[names[0]].append(site.Pair("gateway", g[names[0]], g[names[1]], settings))
        by_host[names[1]].append(site.Pair("gateway", g[names[1]], g[names[0]], settings))
    return inventory, by_host


def planning(by_host):
    """Per host: seconds of the controller's planning and bytes of task arguments (SAs + policies as JSON)."""
    deriver = keys.Deriver(MASTER.encode())
    seconds, sizes = [], []
    for pairs in by_host.values():
        start = time.perf_counter()
        plan = site.plan_host(deriver, pairs, 0, {})
        policies = site.bypass_entries(plan["policies"], []) + plan["policies"]
        seconds.append(time.perf_counter() - start)
        sizes.append(len(json.dumps({"sas": plan["sas"]})) + len(json.dumps({"policies": policies})))
    return seconds, sizes


def run_once(kind, n, workdir):
    inventory, by_host = layout(kind, n)
    names = sorted(inventory["all"]["hosts"])
    for name in names:
        subprocess.run(["ip", "netns", "add", "xfrm-fleet-" + name], check=True)
    try:
        path = pathlib.Path(workdir) / ("%s-%d.json" % (kind, n))
        path.write_text(json.dumps(inventory))
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "tests" / "output" / "collections"),
                   ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_FORKS="5")
        cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(path), "--check",
               str(ROOT / "playbooks" / "site_vpn.yml")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit("fleet %s N=%d failed:\n%s\n%s" % (kind, n, proc.stdout[-3000:], proc.stderr[-3000:]))
        doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", "xfrm-fleet-" + name], check=False)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tasks = {}
    for play in doc["plays"]:
        for task in play["tasks"]:
            duration = task["task"]["duration"]
            name = task["task"]["name"].split(" : ", 1)[-1].split(" (")[0].split(",")[0]
            name = "argument specs" if name.startswith("Validating arguments") else name
            tasks[name] = tasks.get(name, 0.0) + _seconds(duration["end"]) - _seconds(duration["start"])
    seconds, sizes = planning(by_host)
    peers = [len(p) for p in by_host.values()]
    return {"layout": kind, "n": n, "wall": wall, "cpu": cpu, "cpu_per_host": cpu / n,
            "planning_per_host_ms": 1000 * sum(seconds) / n, "planning_max_ms": 1000 * max(seconds),
            "args_bytes_per_host": sum(sizes) / n, "args_bytes_max": max(sizes), "peers_max": max(peers),
            "peers_mean": sum(peers) / n, "tasks": tasks,
            "changed_hosts": sum(1 for s in doc["stats"].values() if s["changed"])}


def _seconds(stamp):
    """The json callback's ISO time stamps (UTC, microseconds) as seconds."""
    from datetime import datetime  # pylint: disable=import-outside-toplevel
    return datetime.strptime(stamp.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def report(rows):
    lines = ["# A simulated fleet: site_vpn.yml on N hosts as network namespaces (check mode)", "",
             "Written by `bench/run fleet` (bench/fleet.py), on this machine (2 cores), forks 5. Each host is a "
             "network namespace reached with connection `local`; the whole play runs (argument specs, the "
             "controller's planning, AnsiballZ, the modules reading their namespace's tables) in check mode, since "
             "the host kernel has no esp4. CPU is the whole run's (ansible-playbook, workers, module processes).", "",
             "| layout | N | peers per host (mean / max) | wall s | CPU s | CPU per host s | planning per host ms "
             "(mean / max) | task arguments per host KiB (mean / max) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %d | %.1f / %d | %.1f | %.1f | %.2f | %.1f / %.1f | %.1f / %.1f |" % (
            r["layout"], r["n"], r["peers_mean"], r["peers_max"], r["wall"], r["cpu"], r["cpu_per_host"],
            r["planning_per_host_ms"], r["planning_max_ms"], r["args_bytes_per_host"] / 1024, r["args_bytes_max"] / 1024))
    lines += ["", "Where the wall time goes (seconds, summed over each task's span, per layout and N):", ""]
    names = sorted({name for r in rows for name in r["tasks"]})
    lines.append("| layout | N | " + " | ".join(names) + " |")
    lines.append("|---|---|" + "---|" * len(names))
    for r in rows:
        lines.append("| %s | %d | " % (r["layout"], r["n"]) + " | ".join("%.1f" % r["tasks"].get(n, 0) for n in names) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mesh-n", type=int, nargs="*", default=[10, 50, 200])
    # the sites layout states its pairs explicitly (O(N^2) list elements in group_vars, which every host's
    # argument spec validation walks): 200 hosts took 9 minutes here, most of it in that validation
    parser.add_argument("--sites-n", type=int, nargs="*", default=[10, 50])
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--from-json", nargs="+", help="rewrite the report from saved fleet.json files, measuring nothing")
    args = parser.parse_args()
    if os.geteuid() != 0 and not args.from_json:
        raise SystemExit("bench/fleet.py: needs root (network namespaces)")
    rows = []
    if args.from_json:
        rows = [row for path in args.from_json for row in json.loads(pathlib.Path(path).read_text())]
    with tempfile.TemporaryDirectory(prefix="xfrm-fleet-") as workdir:
        for kind, sizes in (("mesh", [] if args.from_json else args.mesh_n), ("sites", [] if args.from_json else args.sites_n)):
            for n in sizes:
                rows.append(run_once(kind, n, workdir))
                print("fleet: %s N=%d %.1f s" % (kind, n, rows[-1]["wall"]), file=sys.stderr, flush=True)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "fleet.md").write_text(report(rows))


if __name__ == "__main__":
    main()
