"""Stand-in for the get-pip.py that ansible-test downloads from a host this machine cannot reach.

tests/lint installs it as ~/.ansible/test/cache/get_pip_<version>.py next to a pip wheel fetched
from PyPI with `pip download`; ansible-test runs it with pip's install options in a new venv.
It installs pip from that wheel, offline, the way get-pip.py would.
"""

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    wheels = os.path.join(HERE, "pip-wheels")
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    wanted = [a.split("==", 1)[1] for a in args if a.startswith("pip==")]
    (wheel,) = glob.glob(os.path.join(wheels, "pip-%s-*.whl" % (wanted[0] if wanted else "*")))[:1]
    return subprocess.call([sys.executable, os.path.join(wheel, "pip"), "install", "--no-index", "--find-links", wheels] + args)


if __name__ == "__main__":
    sys.exit(main())
