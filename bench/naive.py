"""site_vpn.yml against the naive way, side by side, in the lab's mesh3 (real SAs, three TCG guests).

The naive way is what people write first: the controller renders each host's `ip -batch` file (the
same SAs and policies, keys included: a 0600 file) with ansible.builtin.copy, and one command task
runs `ip -batch` when the file changed (after flushing the tables, since `ip xfrm ... add` refuses
existing entries). It has no fleet safety: no check mode worth the name, no barrier between SAs
and policies, no readiness of peers, keys in a file on every host. Each way runs twice on freshly
flushed guests: the first run keys the mesh, the second changes nothing.

    bench/run naive   -> docs/naive.md, docs/naive.json   (root; boots the lab's mesh3)
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
LAB = ROOT / "lab" / "lab"
RUN = pathlib.Path(os.environ.get("XFRM_LAB_RUN", "/tmp/xfrm-ipsec-lab"))

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import ipbatch, keys, site  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas  # noqa: E402  pylint: disable=wrong-import-position

MASTER = "naive-versus-site_vpn benchmark master secret, not a real one"
COPY = {"content": "{{ naive_batch }}", "dest": "/root/xfrm.batch", "mode": "0600"}
LOAD = "sh -c 'ip xfrm policy flush && ip xfrm state flush && ip -batch /root/xfrm.batch'"
NAIVE = [{"name": "Key the mesh the naive way", "hosts": "ipsec_mesh", "gather_facts": False, "tasks": [
    {"name": "The host's ip -batch file", "ansible.builtin.copy": COPY, "register": "batch", "no_log": True},
    {"name": "Load it", "ansible.builtin.command": LOAD, "when": "batch.changed", "changed_when": True}]}]


def batches(lab_info):
    """{host: ip -batch text}: each host's SAs and policies as site_vpn.yml plans them (without its bypass policies)."""
    hosts = lab_info["hosts"]
    members = {n: site.Member(n, (h["lab_addr"], h["lab_addr6"])) for n, h in hosts.items()}
    deriver = keys.Deriver(MASTER.encode())
    out = {}
    for name in hosts:
        pairs = [site.Pair("host", members[name], members[p], site.Settings()) for p in sorted(hosts) if p != name]
        plan = site.plan_host(deriver, pairs, 0, {})
        sas = validate_sas({"sas": plan["sas"]})[0]
        policies = validate_policies({"policies": plan["policies"]})[0]
        out[name] = "\n".join([ipbatch.sa_line(sa) for sa in sas] + [ipbatch.policy_line(p) for p in policies]) + "\n"
    return out


def ssh(info, node, command):
    port = info["hosts"][node]["ansible_port"]
    return subprocess.run(["ssh", "-q", "-i", info["ssh_key"], "-p", str(port), "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "root@127.0.0.1", command],
                          capture_output=True, text=True, check=True).stdout


def timed(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (" ".join(cmd), proc.stdout[-3000:], proc.stderr[-3000:]))
    return time.perf_counter() - start


def main():
    subprocess.run([str(LAB), "up", "mesh3"], check=True)
    try:
        info = json.loads((RUN / "lab.json").read_text())
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "tests" / "output" / "collections"),
                   ANSIBLE_HOST_KEY_CHECKING="False")
        playbook = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", info["inventory"]]
        results = {}
        with tempfile.TemporaryDirectory(prefix="xfrm-naive-") as tmp:
            secret = pathlib.Path(tmp) / "secret.json"
            secret.touch(mode=0o600)
            secret.write_text(json.dumps({"ipsec_master_secret": MASTER}))
            naive_vars = pathlib.Path(tmp) / "naive.json"
            naive_vars.touch(mode=0o600)
            naive_vars.write_text(json.dumps({"naive_batches": batches(info)}))
            naive = pathlib.Path(tmp) / "naive.yml"
            NAIVE[0]["vars"] = {"naive_batch": "{{ naive_batches[inventory_hostname] }}"}
            naive.write_text(json.dumps(NAIVE))
            ways = {"site_vpn.yml": playbook + [str(ROOT / "playbooks" / "site_vpn.yml"), "-e", "@%s" % secret],
                    "naive (copy + ip -batch)": playbook + [str(naive), "-e", "@%s" % naive_vars]}
            for way, cmd in ways.items():
                for node in info["hosts"]:
                    ssh(info, node, "ip xfrm policy flush; ip xfrm state flush; rm -f /root/xfrm.batch")
                first = timed(cmd, env)
                noop = timed(cmd, env)
                states = [int(ssh(info, n, "ip xfrm state | grep -c '^src'")) for n in info["hosts"]]
                results[way] = {"first": first, "noop": noop, "sas_per_host": states}
                print("naive: %s first %.1f s, no-op %.1f s" % (way, first, noop), file=sys.stderr, flush=True)
    finally:
        subprocess.run([str(LAB), "down"], check=False)
    ours, theirs = results["site_vpn.yml"], results["naive (copy + ip -batch)"]
    lines = ["# site_vpn.yml against the naive way (lab mesh3)", "",
             "Written by `bench/run naive` (bench/naive.py): three TCG guests, each host with 2 peers x 2 families "
             "(8 SAs, 8 policies). The naive way: the controller renders each host's `ip -batch` file (the same SAs "
             "and policies), `ansible.builtin.copy` puts it in place and one command task flushes and loads it when "
             "it changed. Each way runs on freshly flushed guests, then again with nothing to change.", "",
             "| way | first run s | no-op re-run s | SAs per host after |", "|---|---|---|---|"]
    for way, r in results.items():
        lines.append("| %s | %.1f | %.1f | %s |" % (way, r["first"], r["noop"], ", ".join(map(str, r["sas_per_host"]))))
    lines += ["", "site_vpn.yml / naive: first run %.2fx (target at most 1.5x), no-op %.2fx (target below 1x)." % (
        ours["first"] / theirs["first"], ours["noop"] / theirs["noop"])]
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs")
    (out / "naive.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "naive.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
