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
