"""Make the checkout importable as ansible_collections.xfrm.ipsec, wherever it lies.

ansible-test runs from .../ansible_collections/xfrm/ipsec already; a plain checkout gets a
symlink tree under tests/output/ (git-ignored), and ANSIBLE_COLLECTIONS_PATH points there so
that ansible-playbook in integration tests uses this very tree.
"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

if ROOT.parts[-3:] == ("ansible_collections", "xfrm", "ipsec"):
    COLLECTIONS = ROOT.parents[2]
else:
    COLLECTIONS = ROOT / "tests" / "output" / "collections"
    link = COLLECTIONS / "ansible_collections" / "xfrm" / "ipsec"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(ROOT, target_is_directory=True)
        except FileExistsError:
            pass
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(COLLECTIONS)


# -- fixtures shared by the tiers ------------------------------------------------

import itertools  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

_NETNS_COUNTER = itertools.count()


def _can_make_netns():
    return os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.fixture
def netns():
    """A throw-away network namespace of this host (deleted afterwards), for the kernel tier."""
    if not _can_make_netns():
        pytest.skip("needs root and iproute2 to create network namespaces")
    name = "xfrm-test-%d-%d" % (os.getpid(), next(_NETNS_COUNTER))
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
