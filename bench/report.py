"""bench results -> docs/performance.md (tables of seconds and ratios) and docs/performance.png (the curves)."""

import json
import platform
import time

METHODS = [("bulk", "bulk (modules' path)"), ("noop", "no-op re-run"), ("remove", "remove managed"),
           ("ip_batch", "ip -batch"), ("ip_flush", "ip xfrm flush"), ("ip_each", "ip per entry"),
           ("kernel", "kernel's share")]


def _fmt(value):
    return "-" if value is None else ("%.3f" % value if value < 10 else "%.1f" % value)


def _ratio(a, b):
    """b / a, e.g. "2.5x"."""
    if a is None or b is None or a == 0:
        return "-"
    return "%.1fx" % (b / a) if b / a < 100 else "%.0fx" % (b / a)


def _table(kind, data):
    rows = data["rows"]
    lines = ["| N | " + " | ".join(label for _method, label in METHODS)
             + " | ip -batch / bulk (>1: bulk faster) | ip per entry / bulk | user space per entry: bulk, ip -batch |",
             "|---" * (len(METHODS) + 4) + "|"]
    for row in rows:
        lines.append("| %d | %s | %s | %s | %s |" % (
            row["n"], " | ".join(_fmt(row.get(m)) for m, _label in METHODS), _ratio(row["bulk"], row.get("ip_batch")),
            _ratio(row["bulk"], row.get("ip_each")), _user_space(row)))
    lines.append("")
    lines.append("Peak RSS of a process applying and removing %d %s with the bulk path: %.1f MiB. "
                 "First request of a process (imports, socket): %.3f s, not in the table." % (
                     data["max_n"], "policies" if kind == "policy" else "SAs", data["peak_rss_kib"] / 1024,
                     data.get("startup", 0)))
    return "\n".join(lines)


LAYERS = [("bulk", "core (in-process)"), ("module", "module process"), ("module_noop", "module process, no-op"),
          ("playbook", "ansible-playbook"), ("playbook_noop", "ansible-playbook, no-op"), ("ip_batch", "ip -batch")]


def _layers_table(data):
    """The same N through Ansible's own layers, against ip -batch; and what each layer adds per entry."""
    rows = [r for r in data["rows"] if r.get("module") is not None]
    if not rows:
        return None
    lines = ["| N | " + " | ".join(label for _m, label in LAYERS) + " | module / ip -batch | playbook / ip -batch |",
             "|---" * (len(LAYERS) + 3) + "|"]
    for row in rows:
        lines.append("| %d | %s | %s | %s |" % (row["n"], " | ".join(_fmt(row.get(m)) for m, _label in LAYERS),
                                                _ratio(row["ip_batch"], row["module"]), _ratio(row["ip_batch"], row["playbook"])))
    lo, hi = rows[0], rows[-1]
    if hi.get("module_rss_kib"):
        lines += ["", "Peak RSS of the module process applying N=%d (AnsibleModule and its copies of the arguments "
                  "included): %.1f MiB." % (hi["n"], hi["module_rss_kib"] / 1024)]
    span = hi["n"] - lo["n"]
    if span > 0:
        def per_entry(key):
            return 1e6 * (hi[key] - lo[key]) / span
        lines += ["", "What each layer costs per entry (slope between N=%d and N=%d, applying): the core %.0f µs; "
                  "the module process %.0f µs, of which %.0f µs are ansible-core's (AnsibleModule checking every "
                  "list element against the argument spec, copying the arguments, masking no_log values in the "
                  "result and echoing the arguments back); the controller %.0f µs more (reading the vars file, "
                  "templating the task arguments, building AnsiballZ, reading the result); `ip -batch` %.0f µs." % (
                      lo["n"], hi["n"], per_entry("bulk"), per_entry("module"), per_entry("module") - per_entry("bulk"),
                      per_entry("playbook") - per_entry("module"), per_entry("ip_batch"))]
    return "\n".join(lines)


def _user_space(row):
    """What each method spends outside the kernel per entry (its time less the kernel's share), in µs."""
    if row.get("kernel") is None:
        return "-"
    return "%.0f µs, %.0f µs" % (1e6 * (row["bulk"] - row["kernel"]) / row["n"], 1e6 * (row["ip_batch"] - row["kernel"]) / row["n"])


def _plot(results, path):
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    kinds = [k for k in ("policy", "sa") if k in results]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.5), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        rows = results[kind]["rows"]
        for method, label in METHODS + [m for m in LAYERS if m[0] in ("module", "playbook")]:
            points = [(r["n"], r[method]) for r in rows if r.get(method) is not None]
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("entries (N)")
        ax.set_ylabel("seconds")
        ax.set_title("SAs (lab guest, TCG)" if kind == "sa" else "policies (host netns)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def _targets(results):
    """The issue's targets, each with the figure that meets it or not."""
    out = []
    for kind, label in (("policy", "policies"), ("sa", "SAs")):
        if kind not in results:
            continue
        rows = {r["n"]: r for r in results[kind]["rows"]}
        top, mid = rows[max(rows)], rows.get(1000)
        verdict = {True: "met", False: "**not met**"}.__getitem__
        out.append("- %s, bulk vs `ip -batch` at N=%d: %.2fx (target >= 1x: %s)" % (
            label, top["n"], top["ip_batch"] / top["bulk"], verdict(top["ip_batch"] >= top["bulk"])))
        if mid and mid.get("ip_each"):
            out.append("- %s, bulk vs one `ip` per entry at N=1,000: %.0fx (target >= 30x: %s)" % (
                label, mid["ip_each"] / mid["bulk"], verdict(mid["ip_each"] >= 30 * mid["bulk"])))
        out.append("- %s, no-op re-run of N=%d: %.2f s (target < 0.5 s%s: %s)" % (
            label, top["n"], top["noop"], ", under TCG" if kind == "sa" else "", verdict(top["noop"] < 0.5)))
        slowdown = _tcg_slowdown(results) if kind == "sa" else None
        if slowdown:
            out.append("  (the guest's CPU ran a fixed piece of Python %.1fx slower than this host's: %.2f s on this "
                       "host's CPU, by that factor)" % (slowdown, top["noop"] / slowdown))
        if mid:
            out.append("- %s, growth from N=1,000 to N=%d: %.1fx the time for %dx the entries (linear: ~%d)" % (
                label, top["n"], top["bulk"] / mid["bulk"], top["n"] // 1000, top["n"] // 1000))
        if top.get("module") is not None:
            out.append("- %s through Ansible at N=%d: module process %.2f s (ip -batch is %.1fx faster), "
                       "ansible-playbook %.1f s (%.0fx); see \"Through Ansible\" for where that time goes" % (
                           label, top["n"], top["module"], top["module"] / top["ip_batch"], top["playbook"],
                           top["playbook"] / top["ip_batch"]))
    return out


def _tcg_slowdown(results):
    host, guest = results.get("policy", {}).get("cpu_probe"), results.get("sa", {}).get("cpu_probe")
    return guest / host if host and guest else None


def write_report(results, out):
    out.mkdir(parents=True, exist_ok=True)
    (out / "performance.json").write_text(json.dumps(results, indent=1) + "\n")
    plotted = _plot(results, out / "performance.png")
    mesh = results["mesh"]
    parts = ["# Performance", "",
             "Generated by `bench/run` on %s (%s, Python %s). Times in seconds; ratios are what to compare: the "
             "machine is shared and noisy, and the SA numbers come from a qemu guest under TCG (no KVM), where "
             "everything, `ip` included, runs several times slower than on hardware." % (
                 time.strftime("%Y-%m-%d"), platform.machine(), platform.python_version()), "",
             "*bulk*: the modules' own path in-process (validate, one NETLINK_XFRM socket, dump, plan, batched apply "
             "with every ACK checked). *no-op re-run*: the same request again (dump, compare, `changed=0`). "
             "*remove managed*: deleting the N managed entries (what `ipsec_flush` and `exclusive` do). "
             "*ip -batch*: the same entries from a file; *ip xfrm flush*: the kernel's flush; *ip per entry*: one `ip` "
             "process per entry (measured up to N = 1,000); *kernel's share*: the same adds as requests encoded beforehand, "
             "sent in batches (what every method pays; the rest is user space). What Ansible itself adds on top of the core, which grows "
             "with N as well, is measured in its own table below.", ""]
    if plotted:
        parts += ["![time against N, log-log](performance.png)", ""]
    for kind, title in (("policy", "Policies (this host, network namespace)"), ("sa", "SAs (lab guest, kernel with esp4)")):
        if kind in results:
            parts += ["## " + title, "", _table(kind, results[kind]), ""]
    layers = _layers_table(results["policy"]) if "policy" in results else None
    if layers:
        parts += ["## Through Ansible (policies, this host)", "",
                  "The same lists as a user runs them: *module process* is the module file run the way AnsiballZ "
                  "runs it on a host (a fresh Python, `AnsibleModule` parsing the arguments, the core, the JSON "
                  "result); *ansible-playbook* is one task with the list in a vars file, local connection. "
                  "Apply into an empty table, then the same again (no-op, `changed=0`).", "", layers, "",
                  "How to read it: the collection's own work is the *core* column, and it beats `ip -batch`. "
                  "What makes a task of thousands of entries take seconds is ansible-core's work per list element, "
                  "on the host (AnsibleModule) and more so on the controller. A module cannot skip the host part "
                  "without giving up Ansible's checking of the nested options and, worse, its masking of the nested "
                  "`no_log` keys before it logs the invocation (declaring the lists without suboptions was measured: "
                  "it saves under half of the module process and none of the controller's time; not done). "
                  "What does help is giving a task fewer, smaller elements: the roles hand each host what it needs, "
                  "not the fleet's lists. `ANSIBLE_DEBUG=1 ansible-playbook ...` shows the controller's steps with "
                  "timestamps: for 10,000 policies, reading the vars file, templating the arguments and reading "
                  "the 3.7 MB result (which echoes the arguments back) each took seconds.", ""]
    parts += ["## Against the targets", ""] + _targets(results) + [""]
    parts += ["## Keys and SPIs for a full mesh (controller)", "",
              "The keys and SPIs of a full mesh of %d hosts, each of its %d directions derived once (an SPI and "
              "64 bytes of keys, see keys.py): %.1f s, the target being under 5 s." % (
                  mesh["hosts"], mesh.get("directions", 0), mesh.get("keys_seconds", 0)), "",
              "What site_vpn.yml computes on the controller for that mesh: the SPI scan, once per play "
              "(one SPI per direction of the whole site, collisions resolved: %d found) took %.1f s; each host's "
              "share (its %d SAs with keys, %d policies, as the module's entries) %.1f ms on average, %.1f ms at "
              "most; %.1f s in all. That is more than the mesh's keys: each pair is planned by both its peers "
              "(a host receives its own pairs only, and the controller's workers share no state), and a share "
              "builds the modules' entries too. A host's share grows with its own peers only." % (
                  mesh.get("collisions", 0), mesh.get("scan_seconds", 0), mesh["sas_per_host"],
                  mesh.get("policies_per_host", 0), 1000 * mesh["per_host"], 1000 * mesh.get("max_per_host", 0),
                  mesh["seconds"]), "",
              "The whole play on a simulated fleet (hosts as network namespaces, check mode): [fleet.md](fleet.md) "
              "(`bench/run fleet`); site_vpn.yml against the naive copy + `ip -batch` way in the lab's mesh3: "
              "[naive.md](naive.md) (`bench/run naive`).", "",
              "Reproduce: `bench/run` (root; boots the lab for SAs; `--quick` for a smoke run)."]
    (out / "performance.md").write_text("\n".join(parts) + "\n")
