"""The bad-input matrix's module cases (tests/unit/bad_inputs.py) against this host's real kernel, in one network
namespace that holds the collection's policies and a foreign one: every case fails naming its field, and the
kernel's tables, read by iproute2 before and after each case, are the same.

The modules run in-process here (AnsibleModule with the real netlink Transport): the matrix's 140 module cases take
seconds, not the minutes of as many ansible-playbook runs. SAs cannot exist on this kernel (no esp4): the cases
that need a foreign SA are the lab's and the unit tier's.
"""

import os
import subprocess

import pytest

from ansible_collections.xfrm.ipsec.tests.unit.bad_inputs import CASES, policy
from ansible_collections.xfrm.ipsec.tests.unit.fake_kernel import capture_exits
from ansible_collections.xfrm.ipsec.tests.unit.test_bad_input import MODULES, assert_clear
from ansible_collections.xfrm.ipsec.tests.unit.test_module_runs import run

NS = "xfrm-bad-input-%d" % os.getpid()


def tables(ns):
    """The namespace's SAs and policies as iproute2 prints them (an independent reader of the kernel)."""
    return [subprocess.run(["ip", "-n", ns, "xfrm", table], capture_output=True, text=True, check=True).stdout
            for table in ("state", "policy")]


@pytest.fixture(scope="module")
def namespace():
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


@pytest.fixture(scope="module")
def held(namespace):
    """The collection's policies both ways (a run of ipsec_policy) and a foreign policy made with iproute2."""
    with pytest.MonkeyPatch.context() as patch:
        capture_exits(patch)
        result = run(MODULES["ipsec_policy"], {"netns": namespace, "policies": [
            policy(), policy(src="192.0.2.2", dst="192.0.2.1", dir="in")]})
    assert result["changed"] and not result["failed"], result
    subprocess.run(["ip", "-n", namespace, "xfrm", "policy", "add", "src", "192.0.2.8/32", "dst", "192.0.2.9/32",
                    "dir", "in", "tmpl", "proto", "ah", "reqid", "7"], check=True)
    before = tables(namespace)
    assert before[1].count("\ndir ") + before[1].count("\tdir ") == 3, before
    return before


@pytest.mark.parametrize("case", [c for c in CASES if c.target in MODULES and c.kernel], ids=lambda c: c.name)
def test_a_module_refuses_bad_input_and_the_real_kernel_keeps_its_tables(case, namespace, held, monkeypatch, tmp_path):
    capture_exits(monkeypatch)
    args = dict(case.args)
    args.setdefault("netns", namespace)
    if case.target in ("ipsec_save", "ipsec_firewall"):
        args.setdefault("path" if case.target == "ipsec_save" else "dir", str(tmp_path / "state"))
    result = run(MODULES[case.target], args)
    assert result["failed"], "%s was accepted: %s" % (case.name, str(result)[:500])
    assert_clear(case, result["msg"], str(result))
    assert tables(namespace) == held, "%s changed the kernel" % case.name
