"""Faults on this host's real kernel, in a throw-away network namespace: two module runs at once, a run killed
with SIGKILL in the middle of a bulk apply. The modules run as processes of their own, as Ansible starts them
(python -m <module>, arguments on stdin), so that they really race and really die.

Policies only: this kernel has no esp4 (SAs are the lab's); the lock and the repair are the same code for both.
"""

import fcntl
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_system
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.transport import Transport
from ansible_collections.xfrm.ipsec.plugins.modules import ipsec_policy
from ansible_collections.xfrm.ipsec.tests.unit.fake_kernel import capture_exits
from ansible_collections.xfrm.ipsec.tests.unit.test_module_runs import run

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / "tests" / "output" / "collections"


def wanted(count, third_octet):
    """count out policies 10.<third_octet>.x.y -> 10.250.0.1, ESP required."""
    return [{"src": "10.%d.%d.%d" % (third_octet, i // 250, i % 250 + 1), "dst": "10.250.0.1", "dir": "out",
             "templates": [{"proto": "esp"}]} for i in range(count)]


def start(module, args, **env):
    """The module as a process of its own; its arguments on stdin, as Ansible's pipelining sends them."""
    proc = subprocess.Popen([sys.executable, "-m", "ansible_collections.xfrm.ipsec.plugins.modules." + module],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(COLLECTIONS), **env))
    proc.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc.stdin.close()
    return proc


def result_of(proc, timeout=300):
    out = proc.stdout.read()
    proc.wait(timeout=timeout)
    return json.loads(out)


def held(ns):
    """The namespace's policies as iproute2 reads them: {(src, dst, dir)}."""
    out = subprocess.run(["ip", "-n", ns, "xfrm", "policy"], capture_output=True, text=True, check=True).stdout
    entries, src = set(), None
    for line in out.splitlines():
        words = line.split()
        if line.startswith("src "):
            src = (words[1], words[3])
        elif words[:1] == ["dir"]:
            entries.add(src + (words[1],))
    return entries


def as_held(policies):
    return {(p["src"] + "/32", p["dst"] + "/32", p["dir"]) for p in policies}


def lock_path(ns):
    return os.path.join(ipsec_system.LOCK_DIR, "netns-%s.lock" % ns)


def test_two_runs_at_once_are_serialised_and_the_second_plans_on_what_the_first_left(netns):
    first, second = wanted(20000, 1), wanted(20000, 2)
    runs = [start("ipsec_policy", {"netns": netns, "policies": first, "exclusive": True}),
            start("ipsec_policy", {"netns": netns, "policies": second, "exclusive": True})]
    results = [result_of(proc) for proc in runs]
    assert all(not r.get("failed") for r in results), [r.get("msg") for r in results]
    # whichever got the lock first added its 3000; the other then planned against them: it added its own and
    # deleted the first's. Interleaved (no lock), both would have planned on an empty kernel and left 6000.
    later = max(results, key=lambda r: r["summary"]["delete"])
    earlier = min(results, key=lambda r: r["summary"]["delete"])
    assert earlier["summary"] == {"add": 20000, "update": 0, "replace": 0, "delete": 0}
    assert later["summary"] == {"add": 20000, "update": 0, "replace": 0, "delete": 20000}
    assert held(netns) == as_held(second if later is results[1] else first)


def test_a_run_waits_for_the_lock_holder_and_gives_up_after_the_wait_naming_it(netns):
    os.makedirs(ipsec_system.LOCK_DIR, exist_ok=True)
    fd = os.open(lock_path(netns), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        waiting = start("ipsec_policy", {"netns": netns, "policies": wanted(5, 3)})
        time.sleep(2)
        assert waiting.poll() is None and held(netns) == set(), "the run did not wait for the lock"
        impatient = result_of(start("ipsec_policy", {"netns": netns, "policies": wanted(5, 4)}, XFRM_IPSEC_LOCK_WAIT="1"))
        assert impatient["failed"] and "pid %d" % os.getpid() in impatient["msg"] and "nothing was changed" in impatient["msg"]
    finally:
        os.close(fd)
    assert result_of(waiting)["changed"] and held(netns) == as_held(wanted(5, 3))


def test_a_run_killed_mid_apply_leaves_a_state_the_next_run_repairs(netns):
    target = wanted(20000, 5)
    proc = start("ipsec_policy", {"netns": netns, "policies": target})
    deadline = time.monotonic() + 120
    count = 0
    while time.monotonic() < deadline:  # kill it once the kernel holds some of the list, not all
        out = subprocess.run(["ip", "-n", netns, "xfrm", "policy", "count"], capture_output=True, text=True,
                             check=False).stdout
        count = int(out.split("OUT")[1].split()[0]) if "OUT" in out else 0
        if count > 0:
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    partial = held(netns)
    assert 0 < len(partial) < len(target), "killed at %d of %d policies: not mid-apply" % (len(partial), len(target))
    repair = result_of(start("ipsec_policy", {"netns": netns, "policies": target}))
    assert repair["changed"] and repair["summary"]["add"] == len(target) - len(partial), repair["summary"]
    assert held(netns) == as_held(target)
    assert not result_of(start("ipsec_policy", {"netns": netns, "policies": target}))["changed"]


@pytest.mark.parametrize("failing", ["adds_and_updates", "deletes"])
def test_a_netlink_error_in_the_middle_of_a_bulk_apply_leaves_the_real_kernel_as_it_was(netns, monkeypatch, failing):
    """In-process, with the real Transport: one request in the middle of a batch is cut short on its way to the kernel,
    which refuses it (EINVAL); every change that took effect, in that batch and the ones before, is undone."""
    capture_exits(monkeypatch)
    old = wanted(1000, 6)
    assert not run(ipsec_policy, {"netns": netns, "policies": old})["failed"]
    subprocess.run(["ip", "-n", netns, "xfrm", "policy", "add", "src", "10.9.9.9/32", "dst", "10.250.0.1/32", "dir", "in",
                    "tmpl", "proto", "ah"], check=True)
    before = listing(netns)
    # 3,000 adds, 500 priority updates, 500 deletes (exclusive): two batches, adds and updates, then deletes
    request = [dict(p, priority=5) for p in old[:500]] + wanted(3000, 7)
    batch = {"adds_and_updates": 1, "deletes": 2}[failing]
    sent = []
    real = Transport.request

    def cut_short(transport, messages):
        sent.append(len(messages))
        if len(sent) == batch:
            messages = list(messages)
            middle = len(messages) // 2
            messages[middle] = (messages[middle][0], messages[middle][1][:8])
        return real(transport, messages)

    monkeypatch.setattr(Transport, "request", cut_short)
    result = run(ipsec_policy, {"netns": netns, "policies": request, "exclusive": True})
    assert result["failed"] and "Every change of this request was undone" in result["msg"], result["msg"][:500]
    assert sent[0] == 3500 and (failing != "deletes" or sent[1] == 500), sent
    assert listing(netns) == before, "the kernel differs from before the failed run"


def listing(ns):
    """iproute2's listing of the namespace's policies, entry by entry, sorted (indexes and priorities included)."""
    out = subprocess.run(["ip", "-n", ns, "xfrm", "policy"], capture_output=True, text=True, check=True).stdout
    return sorted(re.split(r"\n(?=src )", out.strip()))
