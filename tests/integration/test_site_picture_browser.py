"""What the site picture shows in a real browser: Debian's chromium, headless, draws the page render() wrote.

Each pair's edge is measured in the page by the browser (browser.boxes()) and its pixels are read from the
screenshot of that same page: the edge must be drawn in its state's colour. Edges that meet at a host cross into
each other's boxes near it, and antialiased black text and outlines pass through the "unknown" grey: other
states' colours (and black) are allowed in a box, far below its own. Needs chromium and graphviz (tests/system-packages.sh).
"""

import pytest

from browser import boxes, drawn_state, edge_shares, measured_path, screenshot

from ansible_collections.xfrm.ipsec.plugins.plugin_utils.site_picture import edge_id, render
from ansible_collections.xfrm.ipsec.tests.unit.test_site_picture import KEYS_DIFFER, site_report

STATES = {"gw1~gw2": "down", "h1~h2": "up", "h1~h3": "degraded", "h2~h3": "unknown"}


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    """The rendered page's edges and table rows as chromium lays them out, and its screenshot."""
    directory = tmp_path_factory.mktemp("picture")
    html = render(site_report(), str(directory))["html"]
    found = boxes(html, "g.edge, table.pairs tbody tr")
    png = screenshot(measured_path(html), directory / "screenshot.png")
    return {box["id"]: box for box in found if box["id"]}, png


@pytest.mark.parametrize("name", sorted(STATES))
def test_each_pair_edge_is_drawn_in_its_state_colour(shown, name):
    found, png = shown
    box = found[edge_id(name)]
    assert drawn_state(png, box) == STATES[name], "%s (%s): %s" % (name, STATES[name], edge_shares(png, box))


def test_table_rows_show_each_pair_state_down_first(shown):
    found = shown[0]
    rows = sorted((box for box in found.values() if box["id"].startswith("row-")), key=lambda box: box["y"])
    assert [row["id"] for row in rows] == ["row-" + edge_id(name) for name in ("gw1~gw2", "h1~h3", "h2~h3", "h1~h2")]
    for row in rows:
        name = next(name for name in STATES if row["id"] == "row-" + edge_id(name))
        assert row["text"].startswith(name + STATES[name]), row["text"]


def test_down_pair_tooltip_carries_its_reason(shown):
    found = shown[0]
    assert KEYS_DIFFER in found[edge_id("gw1~gw2")]["tooltip"].splitlines()
