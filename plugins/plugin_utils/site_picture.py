# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The picture of a site's health report (xfrm.ipsec.ipsec_check): laid out and drawn by graphviz's dot, written
as a self-contained HTML page (inline SVG, legend, a table of every pair) and a PNG.

Runs on the controller. Every string of the report comes from the inventory or the kernel: all of it is escaped,
for DOT and for HTML. The SVG's ids are stable, for readers and tests: edge_id(pair) on each pair's edge,
node_id(host) on each host's node, subnet-<gateway as in node_id>-<index> on subnets; row-<edge_id> on table rows.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess

from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_system import write_private
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.health import STATES, in_words, worst_first

STATE_COLOURS = {"up": "#2ca02c", "degraded": "#ff7f0e", "down": "#d62728", "unknown": "#7f7f7f"}
# cluster frames, subnets and gateway-subnet edges: lighter than the "unknown" grey, never read as a state
FRAME = "#c8c8c8"
REASON_CHARS = 40  # of the first reason, beside an edge (the tooltip and the table have them all)
DOT_TIMEOUT = 60
MISSING_DOT = ("graphviz's dot is not installed on the controller: apt-get install graphviz "
               "(the report itself is complete without the picture)")


class PictureError(Exception):
    """The picture cannot be made; the report it would show is whole without it."""


def _safe(name):
    return "".join(c if c.isascii() and (c.isalnum() or c == "-") else "__" if c == "~" else "_%x_" % ord(c)
                   for c in str(name))


def edge_id(pair_name):
    """The SVG id of a pair's edge: "pair-" and the pair's name with "~" written "__" and every other character
    but A-Z, a-z, 0-9 and "-" written "_<hex code point>_": gw1~gw2 -> pair-gw1__gw2, db_1~db_2 ->
    pair-db_5f_1__db_5f_2. Distinct names give distinct ids, usable in CSS selectors as they are."""
    return "pair-" + _safe(pair_name)


def node_id(host):
    """The SVG id of a host's node: "node-" and the host's name written as in edge_id."""
    return "node-" + _safe(host)


def _dot_string(text, tooltip=False):
    """text as a quoted DOT string that graphviz shows as it is, lines broken at newlines. Graphviz reads
    entities (&lt;) and escapes (\\N: the node's name) in labels, and reads tooltips' escapes twice (2.43)."""
    text = str(text).replace("&", "&amp;").replace("\\", "\\\\" * (2 if tooltip else 1)).replace('"', '\\"')
    return '"%s"' % text.replace("\n", "\\n")


def _generation(pair):
    in_force = ", ".join("%s %s" % (host, "none" if gen is None else gen) for host, gen in sorted(pair["in_force"].items()))
    return "generation %s (in force: %s)" % (pair["generation"], in_force or "nowhere")


def _probe(pair):
    probe = pair["probe"]
    if probe is None:
        return "not probed"
    rtt = "" if probe["rtt_ms"] is None else ", rtt %.1f ms" % probe["rtt_ms"]
    return "%d/%d probes answered%s" % (probe["received"], probe["sent"], rtt)


def _headroom(pair):
    if pair["headroom"] is None:
        return "unknown"
    due = pair.get("rotation_due_in_s")
    return "{:,}".format(pair["headroom"]) + ("" if due is None else " (rotation due %s)" % in_words(due))


def _figures(pair):
    """The line beside a pair's edge: the figures of an up pair, the state and the first reason of the others."""
    if pair["state"] != "up":
        reason = pair["reasons"][0] if pair["reasons"] else ""
        if len(reason) > REASON_CHARS:
            reason = reason[:REASON_CHARS - 1] + "…"
        return "%s: %s" % (pair["state"], reason) if reason else pair["state"]
    figures = ["gen %s" % pair["generation"]]
    probe = pair["probe"]
    if probe is not None:
        figures.append("%d/%d probes" % (probe["received"], probe["sent"]))
        if probe["rtt_ms"] is not None:
            figures.append("%.1f ms" % probe["rtt_ms"])
    return " · ".join(figures)


def _node(name, node):
    """A host's node, dashed when the host was not in the run."""
    label = [name] + list(node["addresses"])
    tooltip = ["%s (%s)" % (name, node["kind"])] + list(node["addresses"]) + list(node["subnets"])
    tooltip += [] if node["in_run"] else ["not in this run"]
    return '"%s" [id="%s", label=%s, tooltip=%s, shape=%s, style=%s];' % (
        node_id(name), node_id(name), _dot_string("\n".join(label)), _dot_string("\n".join(tooltip), tooltip=True),
        "box" if node["kind"] == "gateway" else "ellipse", "solid" if node["in_run"] else "dashed")


def _edge(name, pair):
    details = ["%s: %s" % (name, pair["state"])] + list(pair["reasons"]) + ["fix: " + fix for fix in pair["fixes"]]
    details += [_generation(pair), _probe(pair), "seq headroom: " + _headroom(pair)] + list(pair.get("evidence") or ())
    colour = STATE_COLOURS[pair["state"]]
    return '"%s" -- "%s" [id="%s", color="%s", fontcolor="%s", penwidth=3, label=%s, tooltip=%s];' % (
        node_id(pair["hosts"][0]), node_id(pair["hosts"][1]), edge_id(name), colour, colour,
        _dot_string(_figures(pair)), _dot_string("\n".join(details), tooltip=True))


def dot_source(report):
    """The site as a DOT graph: a cluster per gateway (it and the subnets behind it), the mesh's hosts in a cluster
    "mesh", one edge per pair in its state's colour with its figures beside it and all that is known in its tooltip."""
    out = ["graph site {",
           'graph [fontname="sans-serif", fontsize=11, nodesep=0.5, ranksep=0.8, pencolor="%s"];' % FRAME,
           'node [fontname="sans-serif", fontsize=11];',
           'edge [fontname="sans-serif", fontsize=10];']
    mesh = []
    for name, node in sorted(report["nodes"].items()):
        if node["kind"] != "gateway":
            mesh.append(_node(name, node))
            continue
        out += ['subgraph "cluster_%s" {' % _safe(name), _node(name, node)]
        for number, subnet in enumerate(node["subnets"]):
            subnet_id = "subnet-%s-%d" % (_safe(name), number)
            out.append('"%s" [id="%s", label=%s, tooltip=%s, shape=note, color="%s"];' % (
                subnet_id, subnet_id, _dot_string(subnet), _dot_string("%s behind %s" % (subnet, name), tooltip=True),
                FRAME))
            out.append('"%s" -- "%s" [color="%s", penwidth=1];' % (node_id(name), subnet_id, FRAME))
        out.append("}")
    if mesh:
        out += ['subgraph "cluster_mesh" {', 'label="mesh";'] + mesh + ["}"]
    out += [_edge(name, pair) for name, pair in sorted(report["pairs"].items())]
    return "\n".join(out + ["}", ""])


def _dot(source, fmt):
    dot = shutil.which("dot")
    if dot is None:
        raise PictureError(MISSING_DOT)
    try:
        proc = subprocess.run([dot, "-T" + fmt], input=source.encode("utf-8"), capture_output=True,
                              timeout=DOT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PictureError("dot -T%s took more than %d s" % (fmt, DOT_TIMEOUT)) from None
    if proc.returncode != 0:
        error = proc.stderr.decode("utf-8", "replace").strip()
        raise PictureError("dot -T%s failed (rc %d): %s" % (fmt, proc.returncode, error))
    return proc.stdout


PAGE = """<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en">
<head><meta charset="utf-8"/><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em 2em; color: #222; }}
.legend {{ list-style: none; padding: 0; }}
.legend li {{ display: inline-block; margin-right: 1.5em; }}
.swatch {{ display: inline-block; width: 2em; height: 0.6em; margin-right: 0.4em; }}
figure.site svg {{ max-width: 100%; height: auto; }}
table.pairs {{ border-collapse: collapse; }}
table.pairs th, table.pairs td {{ border: 1px solid {frame}; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }}
td.state {{ font-weight: bold; }}
</style></head>
<body>
<h1>{title}</h1>
<p>Checked at <time datetime="{checked_at}">{checked_at}</time></p>
<ul class="legend">{legend}</ul>
<figure class="site">{svg}</figure>
<table class="pairs">
<thead><tr><th>pair</th><th>state</th><th>reasons</th><th>fixes</th><th>generation</th><th>probe</th><th>seq headroom</th>
<th>kernel counters during the probe</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


ROW = ('<tr id="row-{id}"><td>{name}</td><td class="state" style="color: {colour}">{state}</td><td>{reasons}</td>'
       '<td>{fixes}</td><td>{generation}</td><td>{probe}</td><td>{headroom}</td><td>{evidence}</td></tr>')


def _row(name, pair):
    return ROW.format(id=edge_id(name), name=html.escape(name), colour=STATE_COLOURS[pair["state"]],
                      state=html.escape(pair["state"]), reasons="<br/>".join(map(html.escape, pair["reasons"])),
                      fixes="<br/>".join(map(html.escape, pair["fixes"])), generation=html.escape(_generation(pair)),
                      probe=html.escape(_probe(pair)), headroom=html.escape(_headroom(pair)),
                      evidence="<br/>".join(map(html.escape, pair.get("evidence") or ())))


def _page(report, svg):
    summary = report["summary"]
    title = "IPsec site check: " + ", ".join("%d %s" % (summary.get(s, 0), s) for s in STATES)
    legend = "".join('<li><span class="swatch" style="background: %s"></span>%s</li>' % (STATE_COLOURS[s], s)
                     for s in STATES)
    return PAGE.format(title=html.escape(title), checked_at=html.escape(str(report["checked_at"])), legend=legend,
                       svg=svg[svg.index("<svg"):], frame=FRAME,
                       rows="\n".join(_row(n, p) for n, p in worst_first(report["pairs"])))


def render(report, directory, basename="check_vpn"):
    """Write <basename>.html and <basename>.png into directory: {"html": path, "png": path}.
    PictureError when dot is missing or fails."""
    source = dot_source(report)
    svg = _dot(source, "svg").decode("utf-8")
    paths = {"html": os.path.join(directory, basename + ".html"), "png": os.path.join(directory, basename + ".png")}
    write_private(paths["png"], _dot(source, "png"), mode=0o644)  # replaced at once; the picture holds no secret
    write_private(paths["html"], _page(report, svg), mode=0o644)
    return paths
