"""Benchmarks: the collection's bulk path against `ip xfrm`, side by side, on the same kernel.

    bench/run                 policies on this host (netns) and SAs in a lab guest; writes docs/performance.md + .png
    bench/run --quick         N=100 only, no lab, output to a temp dir (what the test suite runs)

Measured for N entries (paired, realistic selectors):
  bulk        validate -> one socket: dump -> plan -> report -> batched apply (the modules' path, in-process)
  noop        the same request again: dump, compare, nothing to send (changed=0)
  remove      delete the N managed entries one by one, batched (ipsec_flush scope=managed)
  ip-batch    `ip -batch` of the same entries, and `ip xfrm ... flush` for removal
  ip-each     one `ip xfrm ... add` process per entry (measured at N <= 1,000)
  kernel      the kernel's own share, which every method pays: the adds as requests encoded beforehand
and, for policies on this host, the same N through Ansible's own layers:
  module      the module as Ansible runs it on a host: a fresh Python process, AnsibleModule parsing the
              list, the core above, the JSON result (apply, then no-op)
  playbook    `ansible-playbook` (local connection) with one task and the list in a vars file (apply, no-op)
plus controller-side planning of keys/SPIs for a full mesh, and the peak RSS of the bulk path at the largest N.
Ratios are what matter: machines here are noisy, and the lab runs under TCG.
"""

import argparse
import gc
import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent

try:
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import apply, keys, plan, site, tables, validate
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.transport import Transport
except ImportError:  # inside a lab guest: the _xfrm package copied next to this file
    sys.path.insert(0, str(HERE))
    from _xfrm import apply, keys, plan, site, tables, validate  # pylint: disable=import-error
    from _xfrm.gc_pause import paused_gc  # pylint: disable=import-error
    from _xfrm.transport import Transport  # pylint: disable=import-error

KEY = "0x" + "42" * 32


def address(net, i):
    return "%s.%d.%d" % (net, (i >> 8) & 255, i & 255)


def policies(n):
    """n policies: pairs of out/in between host i of 198.18.0.0/16 and host i of 198.19.0.0/16, TCP to port 443."""
    out = []
    for i in range(n // 2):
        a, b = address("198.18", i), address("198.19", i)
        out.append({"src": a, "dst": b, "proto": "tcp", "dport": 443, "dir": "out", "templates": [{"proto": "esp"}]})
        out.append({"src": b, "dst": a, "proto": "tcp", "sport": 443, "dir": "in", "templates": [{"proto": "esp"}]})
    return out


def sas(n):
    """n SAs: both directions between host i of 198.18.0.0/16 and host i of 198.19.0.0/16, AES-CBC + HMAC-SHA256."""
    out = []
    for i in range(n // 2):
        a, b = address("198.18", i), address("198.19", i)
        for src, dst, spi in ((a, b, 0x10000 + 2 * i), (b, a, 0x10001 + 2 * i)):
            out.append({"src": src, "dst": dst, "spi": spi, "enc": {"algorithm": "aes-cbc", "key": KEY},
                        "auth": {"algorithm": "hmac-sha256", "key": KEY}})
    return out


# the lists each table is measured with, and the module that takes them
MAKE = {"policy": policies, "sa": sas}
MODULE = {"policy": "ipsec_policy", "sa": "ipsec_sa"}


def bulk(kind, entries, netns, exclusive=False):
    """The module path: validate, dump, plan, apply. Returns (seconds, number of changes)."""
    table = tables.BY_NAME[kind]
    start = time.perf_counter()
    with paused_gc():  # as the modules do (plugins/modules/ipsec_*.py)
        want, absent, _warnings = table.validate({table.option: entries})
        with Transport(netns) as transport:
            changes = table.plan(want, absent, table.dump(transport), exclusive)
            plan.plan_report(changes)  # the module's result: one line per change
            if changes:
                apply.apply_all(transport, [(table.steps, changes)])
    elapsed = time.perf_counter() - start
    gc.collect()  # the collection the modules leave to the end of their process
    return elapsed, len(changes)


def kernel_share(kind, values, netns):
    """The kernel's own share of an apply, which every method pays: the same adds (validated values) as requests
    encoded beforehand, sent in batches over one socket, every ACK read. Returns seconds; leaves the entries in place."""
    table = tables.BY_NAME[kind]
    requests = [request for value in values for request, _undo in table.steps(plan.Change(plan.ADD, new=value))]
    with Transport(netns) as transport:
        start = time.perf_counter()
        results = transport.request(requests)
        elapsed = time.perf_counter() - start
    failed = [message for code, message in results if code]
    assert not failed, failed[:3]
    return elapsed


def module_run(kind, entries, netns, workdir):
    """The module as Ansible runs it on a host (AnsiballZ without the zip): a fresh Python, AnsibleModule
    parsing the arguments, the core, the JSON result. Returns (seconds, changed, summary, peak RSS in KiB)."""
    table, module = tables.BY_NAME[kind], MODULE[kind]
    work = pathlib.Path(workdir)
    args, output = work / "args.json", work / "result.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {table.option: entries, "netns": netns}}))
    with open(output, "w") as result_file:
        start = time.perf_counter()
        proc = subprocess.Popen(  # pylint: disable=consider-using-with  # reaped by wait4, for its rusage
            [sys.executable, "-m", "ansible_collections.xfrm.ipsec.plugins.modules." + module, str(args)],
            stdout=result_file, stderr=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = json.loads(output.read_text())
    if result.get("failed"):
        raise RuntimeError("%s failed: %s" % (module, result.get("msg")))
    return elapsed, result["changed"], result["summary"], usage.ru_maxrss


def playbook_run(kind, entries, netns, workdir):
    """ansible-playbook, local connection, one task given the list from a vars file. Returns (seconds, changed count)."""
    table = tables.BY_NAME[kind]
    work = pathlib.Path(workdir)
    (work / "vars.json").write_text(json.dumps({"entries": entries}))
    (work / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - xfrm.ipsec.%s:\n        %s: \"{{ entries }}\"\n"
        "        netns: %s\n" % (MODULE[kind], table.option, netns))
    playbook = pathlib.Path(sys.executable).parent / "ansible-playbook"
    start = time.perf_counter()
    proc = subprocess.run([str(playbook), "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                           "-e", "@" + str(work / "vars.json"), str(work / "play.yml")],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    recap = [line for line in proc.stdout.splitlines() if line.startswith("localhost")]
    if proc.returncode or not recap:
        raise RuntimeError("ansible-playbook failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
    return elapsed, int(recap[-1].split("changed=")[1].split()[0])


def ip(netns, *args, **kw):
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return subprocess.run(prefix + list(args), check=True, capture_output=True, **kw)


def measure(kind, n, netns, per_entry_max, ansible_layers=False):
    """Every method for one kind and N, in a clean table each time."""
    table = tables.BY_NAME[kind]
    entries = MAKE[kind](n)

    def flush():
        ip(netns, "xfrm", table.ip_object, "flush")

    flush()
    row = {"kind": kind, "n": n}
    row["bulk"], changed = bulk(kind, entries, netns)
    assert changed == n, (changed, n)
    row["noop"], changed = bulk(kind, entries, netns)
    assert changed == 0
    row["remove"], changed = bulk(kind, [], netns, exclusive=True)
    assert changed == n
    values = table.validate({table.option: entries})[0]
    lines = [table.ip_line(v) for v in values]
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        batch = f.name
    try:
        os.chmod(batch, 0o600)
        start = time.perf_counter()
        ip(netns, "-batch", batch)
        row["ip_batch"] = time.perf_counter() - start
        start = time.perf_counter()
        flush()
        row["ip_flush"] = time.perf_counter() - start
    finally:
        os.unlink(batch)
    row["kernel"] = kernel_share(kind, values, netns)
    flush()
    if n <= per_entry_max:
        start = time.perf_counter()
        for line in lines:
            ip(netns, *shlex.split(line))
        row["ip_each"] = time.perf_counter() - start
        flush()
    if ansible_layers:
        with tempfile.TemporaryDirectory() as work:
            row["module"], changed, summary, row["module_rss_kib"] = module_run(kind, entries, netns, work)
            assert changed and summary["add"] == n, summary
            row["module_noop"], changed, _summary, _rss = module_run(kind, entries, netns, work)
            assert not changed
            flush()
            row["playbook"], changed = playbook_run(kind, entries, netns, work)
            assert changed == 1
            row["playbook_noop"], changed = playbook_run(kind, entries, netns, work)
            assert changed == 0
            flush()
    return row


def peak_rss(kind, n, netns):
    """Peak RSS (KiB) of a fresh process running the bulk path for n entries, then removing them."""
    code = ("import resource, sys; sys.path[:0] = %r; import bench; bench.bulk(%r, bench.MAKE[%r](%d), %r); "
            "bench.bulk(%r, [], %r, exclusive=True); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
            % (sys.path[:3] + [str(HERE)], kind, kind, n, netns, kind, netns))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1])


def mesh_planning(hosts_count):
    """What site_vpn.yml computes on the controller for a full mesh: the SPI scan once per play (every direction of the
    site), then each host's share (its pairs' keys, SPIs, SA and policy entries) as the ipsec_site action does it."""
    members = {"h%04d" % i: site.Member("h%04d" % i, ("10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255),))
               for i in range(hosts_count)}
    settings = site.Settings()
    deriver = keys.Deriver(b"bench master secret")
    names = sorted(members)
    with paused_gc():  # as the ipsec_site action plans
        return _mesh_planning(members, names, settings, deriver)


def _mesh_planning(members, names, settings, deriver):
    every = [site.Pair("host", members[a], members[b], settings) for i, a in enumerate(names) for b in names[i + 1:]]
    directions = site.all_directions(every)
    start = time.perf_counter()
    for direction in directions:  # every direction's keys and SPI once: what the mesh needs, whoever computes it
        deriver.spi(*direction, 0)
        deriver.keys(*direction, 0, 64)
    keys_seconds = time.perf_counter() - start
    start = time.perf_counter()
    collisions = keys.spi_collisions(deriver, site.all_directions(every), 0)
    scan = time.perf_counter() - start
    shares = []
    for name in names:
        begin = time.perf_counter()
        pairs = [site.Pair("host", members[name], members[peer], settings) for peer in names if peer != name]
        plan = site.plan_host(deriver, pairs, 0, collisions)
        shares.append(time.perf_counter() - begin)
    total = time.perf_counter() - start
    return {"hosts": len(names), "seconds": total, "scan_seconds": scan, "keys_seconds": keys_seconds,
            "directions": len(directions), "per_host": sum(shares) / len(names),
            "max_per_host": max(shares), "sas_per_host": len(plan["sas"]), "policies_per_host": len(plan["policies"]),
            "collisions": len(collisions)}


def cpu_probe():
    """Seconds for a fixed piece of pure-Python work (validating 2,000 SAs, best of 3): run on the host and in the
    guest, the quotient is how much slower the guest's CPU (TCG) is, to read the guest's figures by."""
    entries = sas(2000)
    times = []
    while len(times) < 3:
        start = time.perf_counter()
        with paused_gc():
            validate.validate_sas({"sas": entries})
        times.append(time.perf_counter() - start)
    return min(times)


def run_inner(args):
    """Measure here (this host's netns, or a lab guest's own namespace) and print JSON rows.

    Module imports (pyroute2's netns support, the codec) are paid once per module run, like
    Python's start-up: they are measured apart, as "startup", and warmed up before the table."""
    start = time.perf_counter()
    bulk(args.kind, [], args.netns)
    startup = time.perf_counter() - start
    # the kernel loads crypto modules (cbc(aes), hmac(sha256)) at the first SA that uses them: not ours to count
    bulk(args.kind, MAKE[args.kind](2), args.netns)
    bulk(args.kind, [], args.netns, exclusive=True)
    rows = []
    for n in args.n:
        rows.append(measure(args.kind, n, args.netns, args.per_entry_max, args.ansible_layers))
        print("  %s N=%d done" % (args.kind, n), file=sys.stderr, flush=True)
    result = {"rows": rows, "peak_rss_kib": peak_rss(args.kind, max(args.n), args.netns), "max_n": max(args.n),
              "startup": startup, "cpu_probe": cpu_probe()}
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="policy")
    parser.add_argument("--netns")
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--per-entry-max", type=int, default=1000)
    parser.add_argument("--ansible-layers", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mesh-hosts", type=int, default=1000)
    parser.add_argument("--lab", action="store_true", help="also measure SAs in a lab guest (boots `pair`)")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--from-json", help="rewrite the report from a saved performance.json, measuring nothing")
    args = parser.parse_args()
    if args.inner:
        run_inner(args)
        return
    from report import write_report  # pylint: disable=import-outside-toplevel
    if args.from_json:
        write_report(json.loads(pathlib.Path(args.from_json).read_text()), pathlib.Path(args.out))
        return
    results = {"policy": host_policies(args)}
    if args.lab:
        results["sa"] = lab_sas(args)
    results["mesh"] = mesh_planning(args.mesh_hosts)
    write_report(results, pathlib.Path(args.out))


def host_policies(args):
    netns = "xfrm-bench-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        cmd = [sys.executable, str(HERE / "bench.py"), "--inner", "--kind", "policy", "--netns", netns, "--ansible-layers",
               "--per-entry-max", str(args.per_entry_max), "--n"] + [str(n) for n in args.n]
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def lab_sas(args):
    """SAs need esp4: run the same measurement inside a lab guest, with the guest's python3 and pyroute2."""
    lab = ROOT / "lab" / "lab"
    subprocess.run([str(lab), "up", "pair"], check=True)
    try:
        info = json.loads((pathlib.Path(os.environ.get("XFRM_LAB_RUN", "/tmp/xfrm-ipsec-lab")) / "lab.json").read_text())
        ssh = ["ssh", "-q", "-i", info["ssh_key"], "-p", str(info["hosts"]["h1"]["ansible_port"]),
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "root@127.0.0.1"]
        tar = subprocess.run(["tar", "-C", str(ROOT / "plugins" / "module_utils"), "-cf", "-", "_xfrm",
                              "-C", str(HERE), "bench.py"], check=True, capture_output=True).stdout
        subprocess.run(ssh + ["rm -rf /tmp/bench && mkdir /tmp/bench && tar -C /tmp/bench -xf -"], input=tar, check=True)
        cmd = "cd /tmp/bench && python3 bench.py --inner --kind sa --per-entry-max %d --n %s" % (
            args.per_entry_max, " ".join(map(str, args.n)))
        return json.loads(subprocess.run(ssh + [cmd], check=True, capture_output=True, text=True, timeout=3600).stdout)
    finally:
        subprocess.run([str(lab), "down"], check=False)


if __name__ == "__main__":
    main()
