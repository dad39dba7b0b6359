"""Pages as a real browser shows them: Debian's chromium, headless, for tests of what a page looks like.

boxes() measures elements in an instrumented copy of the page (measured_path()): take the screenshot of that
same copy, so that boxes and pixels come from one page laid out in one window size. Chromium's --window-size is
the window's: the page's viewport is smaller (1400x1000 gives a 1400x857 viewport here, as both the screenshot and
the measurement see it), the screenshot is the window's size, and page pixels are screenshot pixels (device scale
factor 1, nothing scrolled). tests/system-packages.sh installs chromium.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import shutil
import signal
import subprocess
import tempfile

from PIL import Image, ImageColor

from ansible_collections.xfrm.ipsec.plugins.plugin_utils.site_picture import edge_id
from ansible_collections.xfrm.ipsec.tests.unit.test_site_picture import PALETTE

TIMEOUT = 60
RESULT_ID = "browser-py-boxes"
# Runs last in the page; writes only into a JSON script element, which is never laid out.
MEASURE = r"""<script>(function () {
  function tooltip(el) {
    var link = el.closest("a") || el.querySelector("a"), title = el.querySelector(":scope > title");
    return el.getAttribute("title") || (link && link.getAttributeNS("http://www.w3.org/1999/xlink", "title"))
      || (title && title.textContent) || "";
  }
  var found = [];
  document.querySelectorAll(%s).forEach(function (el) {
    var r = el.getBoundingClientRect();
    found.push({id: el.id, x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height,
                text: el.textContent, tooltip: tooltip(el)});
  });
  var out = document.createElement("script");
  out.type = "application/json";
  out.id = "%s";
  out.textContent = JSON.stringify(found).replace(/</g, "\\u003c");
  document.body.appendChild(out);
})();</script>
"""


def _chromium(page, width, height, *args):
    """chromium's stdout for page. --no-sandbox: the tests run as root, where chromium's sandbox refuses to start."""
    binary = shutil.which("chromium")
    if binary is None:
        raise AssertionError("chromium is not installed: tests/system-packages.sh installs it")
    with tempfile.TemporaryDirectory(prefix="browser-py-") as profile:
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
               "--user-data-dir=" + profile, "--window-size=%d,%d" % (width, height), *args,
               pathlib.Path(page).resolve().as_uri()]
        # its own session: on a timeout the whole browser (zygote, renderers) goes, not only the first process
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError("chromium %s took more than %d s on %s" % (" ".join(args), TIMEOUT, page)) from None
    if proc.returncode != 0:
        error = err.decode("utf-8", "replace")[-2000:]
        raise AssertionError("chromium %s on %s: rc %d\n%s" % (" ".join(args), page, proc.returncode, error))
    return out


def screenshot(html_path, png_path, width=1400, height=1000):
    """A PNG of the page as chromium draws it in a window of width x height; png_path."""
    png_path = pathlib.Path(png_path).resolve()
    _chromium(html_path, width, height, "--screenshot=%s" % png_path)
    with Image.open(png_path) as image:
        if image.size != (width, height):
            raise AssertionError("chromium's screenshot of %s is %dx%d, not the window's %dx%d"
                                 % ((html_path,) + image.size + (width, height)))
    return png_path


def measured_path(html_path):
    """The instrumented copy of html_path that boxes() writes, beside it (relative links resolve alike)."""
    path = pathlib.Path(html_path)
    return path.with_name(path.stem + ".measured.html")


def boxes(html_path, selector, width=1400, height=1000):
    """The elements matching a CSS selector as chromium lays the page out in a window of width x height, in
    document order: dicts of id, x, y, width, height (page pixels), text (textContent) and tooltip (the hover
    text: its title attribute, the xlink:title of the link in or around it as graphviz writes, or its <title>)."""
    page = pathlib.Path(html_path).read_text(encoding="utf-8")
    script = MEASURE % (json.dumps(selector).replace("<", "\\u003c"), RESULT_ID)
    end = page.lower().rfind("</body>")
    measured = measured_path(html_path)
    measured.write_text(page[:end] + script + page[end:] if end >= 0 else page + script, encoding="utf-8")
    dom = _chromium(measured, width, height, "--dump-dom").decode("utf-8")
    found = re.search(r'<script type="application/json" id="%s">(.*?)</script>' % RESULT_ID, dom, re.S)
    if found is None:
        raise AssertionError("the measuring script left no result in %s (did the page's scripts fail?)" % measured)
    return json.loads(found.group(1))


def colour_share(png_path, box, rgb, tolerance=40, ignore=None):
    """The share (0 to 1) of the pixels in box (a dict of x, y, width, height in page pixels, as boxes() gives)
    within tolerance of rgb on every channel; pixels within tolerance of ignore (e.g. white, the background)
    are left out of the count. Colours are (r, g, b) or "#rrggbb"."""
    def colour(value):
        return ImageColor.getrgb(value) if isinstance(value, str) else tuple(value)

    def close(pixel, target):
        return all(abs(a - b) <= tolerance for a, b in zip(pixel, target))

    target = colour(rgb)
    left, top = math.floor(box["x"]), math.floor(box["y"])
    right, bottom = math.ceil(box["x"] + box["width"]), math.ceil(box["y"] + box["height"])
    with Image.open(png_path) as image:
        if left < 0 or top < 0 or right > image.width or bottom > image.height:
            raise AssertionError("box %r lies outside the %dx%d screenshot %s" % ((box,) + image.size + (png_path,)))
        crop = image.convert("RGB").crop((left, top, right, bottom))
    counts = crop.getcolors(maxcolors=max(1, crop.width * crop.height))
    if ignore is not None:
        counts = [(n, pixel) for n, pixel in counts if not close(pixel, colour(ignore))]
    total = sum(n for n, _pixel in counts)
    return sum(n for n, pixel in counts if close(pixel, target)) / total if total else 0.0


WHITE = (255, 255, 255)
OWN_SHARE = 0.25  # of an edge box's non-white pixels, at least, in the state's own colour (0.40 to 0.57 measured)
DOMINANCE = 3  # the state's colour covers at least 3 times what black or another state's colour does (4.0 measured)


def edge_shares(png_path, box):
    """{state or "black": share of the box's non-white pixels in that colour} (the issue's colours, written here so
    that a product drawing the wrong colour fails)."""
    return {state: colour_share(png_path, box, colour, ignore=WHITE) for state, colour in dict(PALETTE, black="#000000").items()}


def drawn_state(png_path, box):
    """The state whose colour an edge's box is drawn in (edges meeting at a host cross into each other's boxes, and
    antialiased black passes through the unknown grey: the own colour must dominate), or None."""
    shares = edge_shares(png_path, box)
    for state, own in shares.items():
        if state != "black" and own >= OWN_SHARE and all(share * DOMINANCE <= own for s, share in shares.items() if s != state):
            return state
    return None


def drawn_states(html_path, pairs):
    """{pair: the state its edge is drawn in} as chromium shows the page (the site picture of check_vpn.yml)."""
    found = {box["id"]: box for box in boxes(html_path, "g.edge") if box["id"]}
    png = screenshot(measured_path(html_path), pathlib.Path(html_path).with_suffix(".screenshot.png"))
    return {pair: drawn_state(png, found[edge_id(pair)]) if edge_id(pair) in found else None for pair in pairs}
