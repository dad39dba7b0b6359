"""The lab fixture: tests marked @pytest.mark.lab("TOPOLOGY") get guests whose kernel has esp4/ah4.

One topology runs at a time; tests are ordered by topology so each boots once per session,
and whatever runs is stopped at the end of the session, pass or fail. A lab that fails to
boot fails the tests; they are skipped only where qemu cannot run at all (not root) or when
XFRM_LAB=skip says so.
"""

import json
import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAB = ROOT / "lab" / "lab"
RUN = pathlib.Path(os.environ.get("XFRM_LAB_RUN", "/tmp/xfrm-ipsec-lab"))


def pytest_configure(config):
    config.addinivalue_line("markers", "lab(topology): needs lab guests of that topology (pair, mesh3, sites2, boot2, nat2); "
                            "lab(None): needs the lab free, the test boots it itself (molecule)")


def pytest_collection_modifyitems(items):
    def topology(item):
        marker = item.get_closest_marker("lab")
        return str(marker.args[0]) if marker else ""
    items.sort(key=lambda item: (topology(item) != "", topology(item)))


class Lab:
    """The running topology: its inventory, its hosts' facts, and ssh into its guests."""

    def __init__(self):
        self.topology = None
        self.inventory = None
        self.hosts = {}
        self._ports = {}

    def up(self, topology):
        """Boot topology unless it runs already; None stops the lab (for tests that boot it themselves)."""
        if topology == self.topology:
            return
        self.down()
        if topology is None:
            return
        subprocess.run([str(LAB), "up", topology], check=True, timeout=600)
        info = json.loads((RUN / "lab.json").read_text())
        self.topology = topology
        self.inventory = info["inventory"]
        self.hosts = info["hosts"]
        self._key = info["ssh_key"]

    def ssh(self, node, command, check=True, input=None):  # pylint: disable=redefined-builtin
        """Run a shell command in a guest (input: its stdin); CompletedProcess with text output."""
        cmd = ["ssh", "-q", "-i", self._key, "-p", str(self.hosts[node]["ansible_port"]), "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "root@127.0.0.1", command]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, input=input)
        if check and proc.returncode != 0:
            raise AssertionError("lab ssh %s %r: rc %d\n%s%s" % (node, command, proc.returncode, proc.stdout, proc.stderr))
        return proc

    def down(self):
        if self.topology is not None:
            subprocess.run([str(LAB), "down"], check=False, timeout=120)
            self.topology = None


@pytest.fixture(scope="session")
def lab_session():
    if os.environ.get("XFRM_LAB") == "skip":
        pytest.skip("XFRM_LAB=skip")
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (apt for qemu, 9p export of the guest root)")
    subprocess.run([str(LAB), "setup"], check=True, timeout=1800)
    lab = Lab()
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def lab(request, lab_session):
    marker = request.node.get_closest_marker("lab")
    if marker is None:
        raise pytest.UsageError("a test using the lab fixture needs @pytest.mark.lab(TOPOLOGY)")
    lab_session.up(marker.args[0])
    return lab_session


@pytest.fixture(scope="module")
def workdir():
    """A temporary directory shared by the tests of one module (vars files, inventories), removed after them."""
    with tempfile.TemporaryDirectory(prefix="xfrm-test-") as tmp:
        yield tmp
