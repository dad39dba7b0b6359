"""The picture of a site's health report: the DOT graph, and the page and PNG that graphviz's dot draws from it.

The page is well-formed XML (XHTML with the SVG inline), so these tests read what it holds with ElementTree;
what a browser shows of it is tests/integration/test_site_picture_browser.py's. Needs graphviz's dot
(tests/system-packages.sh).
"""

import os
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.xfrm.ipsec.plugins.plugin_utils.site_picture import (
    PictureError, dot_source, edge_id, node_id, render)

NS = {"h": "http://www.w3.org/1999/xhtml", "svg": "http://www.w3.org/2000/svg"}
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
# the palette issue #16 states: the tests hold it, not the code under test
PALETTE = {"up": "#2ca02c", "degraded": "#ff7f0e", "down": "#d62728", "unknown": "#7f7f7f"}
KEYS_DIFFER = ("keys differ: gw2 holds another key for SA 192.0.2.1->192.0.2.2 esp 0x1234abcd "
               "(sha256:1f2e3d4c vs sha256:5a6b7c8d)")


def pair(a, b, kind, state, reasons=(), fixes=(), probe=None, headroom=4294967000):
    return {"kind": kind, "hosts": [a, b], "state": state, "reasons": list(reasons), "fixes": list(fixes),
            "generation": 0, "in_force": {a: 0, b: 0}, "probe": probe, "headroom": headroom}


def site_report():
    """Two gateways with their subnets and a mesh of three hosts (h3 not in the run), a pair in each state."""
    def host(address, in_run=True):
        return {"kind": "host", "addresses": [address], "subnets": [], "in_run": in_run}
    return {
        "checked_at": "2026-12-01T22:40:00Z",
        "summary": {"up": 1, "degraded": 1, "down": 1, "unknown": 1},
        "nodes": {
            "gw1": {"kind": "gateway", "addresses": ["192.0.2.1", "2001:db8::1"],
                    "subnets": ["198.51.100.0/24", "2001:db8:1::/64"], "in_run": True},
            "gw2": {"kind": "gateway", "addresses": ["192.0.2.2"], "subnets": ["203.0.113.0/24"], "in_run": True},
            "h1": host("192.0.2.11"), "h2": host("192.0.2.12"), "h3": host("192.0.2.13", in_run=False),
        },
        "pairs": {
            "gw1~gw2": pair("gw1", "gw2", "gateway", "down", [KEYS_DIFFER], ["re-run site_vpn.yml --limit gw2"],
                            {"sent": 6, "received": 0, "rtt_ms": None}),
            "h1~h2": pair("h1", "h2", "host", "up", probe={"sent": 6, "received": 6, "rtt_ms": 1.23}),
            "h1~h3": pair("h1", "h3", "host", "degraded", ["seq headroom low: 1,200 left"], ["run rotate_keys.yml"],
                          {"sent": 6, "received": 5, "rtt_ms": 2.5}, headroom=1200),
            "h2~h3": pair("h2", "h3", "host", "unknown", ["h3 is not in this run"], ["run without --limit"]),
        },
    }


def rendered(report, directory):
    paths = render(report, str(directory))
    return ET.parse(paths["html"]).getroot(), paths


def by_id(page, element_id):
    found = [e for e in page.iter() if e.get("id") == element_id]
    assert len(found) == 1, "%d elements with id %s" % (len(found), element_id)
    return found[0]


def text(element):
    return "".join(element.itertext())


def shown(element):
    """The lines an SVG node or edge shows (its <title> holds dot's own name for it)."""
    return [text(line) for line in element.iterfind(".//svg:text", NS)]


def test_each_pair_edge_is_drawn_and_labelled_in_its_state_colour(tmp_path):
    page = rendered(site_report(), tmp_path)[0]
    for name, state in (("gw1~gw2", "down"), ("h1~h2", "up"), ("h1~h3", "degraded"), ("h2~h3", "unknown")):
        edge = by_id(page, edge_id(name))
        assert edge.find(".//svg:path", NS).get("stroke") == PALETTE[state], name
        assert edge.find(".//svg:path", NS).get("stroke-width") == "3", name
        assert edge.find(".//svg:text", NS).get("fill") == PALETTE[state], name


def test_edge_labels_show_the_figures_of_up_pairs_and_the_first_reason_of_others(tmp_path):
    page = rendered(site_report(), tmp_path)[0]
    assert shown(by_id(page, edge_id("h1~h2"))) == ["gen 0 · 6/6 probes · 1.2 ms"]
    [down] = shown(by_id(page, edge_id("gw1~gw2")))
    assert down.startswith("down: keys differ: gw2") and down.endswith("…") and len(down) == len("down: ") + 40


def test_edge_tooltip_carries_reasons_fixes_generations_probe_and_headroom(tmp_path):
    page = rendered(site_report(), tmp_path)[0]
    tooltip = by_id(page, edge_id("gw1~gw2")).find(".//svg:a", NS).get(XLINK_TITLE)
    assert tooltip.splitlines() == ["gw1~gw2: down", KEYS_DIFFER, "fix: re-run site_vpn.yml --limit gw2",
                                    "generation 0 (in force: gw1 0, gw2 0)", "0/6 probes answered",
                                    "seq headroom: 4,294,967,000"]


def test_generation_in_force_says_none_where_a_host_holds_no_generation(tmp_path):
    report = site_report()
    report["pairs"]["h2~h3"]["in_force"]["h3"] = None
    page = rendered(report, tmp_path)[0]
    assert text(by_id(page, "row-" + edge_id("h2~h3"))[4]) == "generation 0 (in force: h2 0, h3 none)"


def test_nodes_have_ids_and_hosts_out_of_the_run_are_dashed(tmp_path):
    page = rendered(site_report(), tmp_path)[0]
    for host in ("gw1", "gw2", "h1", "h2", "h3"):
        assert shown(by_id(page, node_id(host)))[0] == host
    assert by_id(page, node_id("h3")).find(".//svg:ellipse", NS).get("stroke-dasharray")
    assert not by_id(page, node_id("h1")).find(".//svg:ellipse", NS).get("stroke-dasharray")


def test_each_gateway_is_a_cluster_with_its_subnets():
    source = dot_source(site_report())
    gw1 = source[source.index('subgraph "cluster_gw1"'):source.index('subgraph "cluster_gw2"')]
    assert "198.51.100.0/24" in gw1 and "2001:db8:1::/64" in gw1 and '"node-gw1" [' in gw1
    assert 'subgraph "cluster_mesh"' in source


def test_edge_ids_are_distinct_and_plain_for_hostile_names():
    names = ["gw1~gw2", "a_b~c", "a~_b", "a-~b", "a~-b", "x.y~z", "x_2e_y~z", '<b>x"y~z', "é~z", "a b~c"]
    ids = [edge_id(name) for name in names]
    assert edge_id("gw1~gw2") == "pair-gw1__gw2"
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"pair-[A-Za-z0-9_-]+", i) for i in ids), ids


def test_hostile_names_and_reasons_are_shown_as_they_are(tmp_path):
    hostile = '<b>x"y'
    odd = "a&lt;b\\N&amp;\\"
    report = site_report()
    report["nodes"][hostile] = report["nodes"].pop("h1")
    report["nodes"][odd] = report["nodes"].pop("h2")
    reason = "</script><script>alert(1)</script> & \\N \\E \\T \"quoted\" & &amp;"
    report["pairs"] = {"%s~%s" % (hostile, odd): pair(hostile, odd, "host", "down", [reason], [odd + " --limit"])}
    page = rendered(report, tmp_path)[0]
    assert not [e.tag for e in page.iter() if e.tag.split("}")[-1] in ("b", "script")]
    assert shown(by_id(page, node_id(hostile))) == [hostile, "192.0.2.11"]
    assert shown(by_id(page, node_id(odd))) == [odd, "192.0.2.12"]
    assert by_id(page, node_id(odd)).find(".//svg:a", NS).get(XLINK_TITLE).splitlines()[0] == odd + " (host)"
    edge = by_id(page, edge_id("%s~%s" % (hostile, odd)))
    assert edge.find(".//svg:a", NS).get(XLINK_TITLE).splitlines()[1] == reason
    cells = [text(td) for td in by_id(page, "row-" + edge_id("%s~%s" % (hostile, odd)))]
    assert cells[:4] == ["%s~%s" % (hostile, odd), "down", reason, odd + " --limit"]


def test_table_lists_every_pair_down_first_with_its_state_coloured(tmp_path):
    page = rendered(site_report(), tmp_path)[0]
    rows = page.findall(".//h:table[@class='pairs']/h:tbody/h:tr", NS)
    assert [text(row[0]) for row in rows] == ["gw1~gw2", "h1~h3", "h2~h3", "h1~h2"]
    assert [(text(row[1]), row[1].get("style")) for row in rows] == [
        (state, "color: " + PALETTE[state]) for state in ("down", "degraded", "unknown", "up")]


def test_page_title_has_the_summary_and_the_check_time(tmp_path):
    page = rendered(site_report(), tmp_path)[0]
    title = "IPsec site check: 1 down, 1 degraded, 1 unknown, 1 up"
    assert text(page.find("h:head/h:title", NS)) == title == text(page.find(".//h:h1", NS))
    assert page.find(".//h:time", NS).get("datetime") == "2026-12-01T22:40:00Z"
    assert [text(li) for li in page.findall(".//h:ul[@class='legend']/h:li", NS)] == ["down", "degraded", "unknown", "up"]


def test_page_loads_nothing_from_elsewhere(tmp_path):
    page, paths = rendered(site_report(), tmp_path)
    assert not [e.tag for e in page.iter() if e.tag.split("}")[-1] in ("script", "link", "img", "iframe", "object")]
    assert not [e.attrib for e in page.iter() if {"src", "href", "{http://www.w3.org/1999/xlink}href"} & set(e.attrib)]
    assert "url(" not in open(paths["html"], encoding="utf-8").read()


def test_files_are_png_and_html_mode_0644_with_no_leftovers(tmp_path):
    old = os.umask(0o077)
    try:
        paths = render(site_report(), str(tmp_path), basename="site")
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == ["site.html", "site.png"]
    assert {os.stat(p).st_mode & 0o777 for p in paths.values()} == {0o644}
    with open(paths["png"], "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_without_dot_render_says_how_to_install_it_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PictureError, match=r"graphviz's dot is not installed on the controller: apt-get install graphviz"):
        render(site_report(), str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_the_headroom_says_when_a_rotation_is_due(tmp_path):
    report = site_report()
    report["pairs"]["gw1~gw2"]["rotation_due_in_s"] = 49 * 86400 + 5
    page = rendered(report, tmp_path)[0]
    tooltip = by_id(page, edge_id("gw1~gw2")).find(".//svg:a", NS).get(XLINK_TITLE)
    assert "seq headroom: 4,294,967,000 (rotation due in 49 days)" in tooltip.splitlines()
