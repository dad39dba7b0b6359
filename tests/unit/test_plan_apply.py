"""Planning (want vs have -> changes) and applying them all or nothing, with a fake kernel."""

import errno

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.apply import ApplyError, apply_policies, apply_sas
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import with_dump
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.plan import plan_policies, plan_sas
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas

from ansible_collections.xfrm.ipsec.tests.unit.fake_kernel import FakeKernel


def sas(*entries):
    return validate_sas({"sas": list(entries)})[0]


def esp(spi, key="00", **extra):
    entry = {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": spi, "enc": {"algorithm": "aes-cbc", "key": "0x" + key * 32},
             "auth": {"algorithm": "hmac-sha256", "key": "0x" + "11" * 32}}
    entry.update(extra)
    return entry


def policies(*entries):
    return validate_policies({"policies": list(entries)})[0]


def pol(src, dst, direction="out", **extra):
    entry = {"src": src, "dst": dst, "dir": direction, "templates": [{"proto": "esp"}]}
    entry.update(extra)
    return entry


def actions(changes):
    return [(c.action, (c.new or c.old).spi if hasattr(c.new or c.old, "spi") else c.action) for c in changes]


def test_new_sas_are_added_equal_ones_left_alone():
    have = sas(esp(4096))
    changes = plan_sas(sas(esp(4096), esp(4097)), [], have)
    assert actions(changes) == [("add", 4097)]


def test_new_key_means_replace_new_lifetime_means_update():
    have = sas(esp(4096), esp(4097))
    want = sas(esp(4096, key="ff"), esp(4097, lifetime={"hard_add_expires_seconds": 60}))
    assert actions(plan_sas(want, [], have)) == [("replace", 4096), ("update", 4097)]


def test_dumped_counters_do_not_make_a_difference():
    (sa,) = sas(esp(4096))
    assert plan_sas([sa], [], [with_dump(sa._replace(), counters={"bytes": 999})]) == []


def test_exclusive_deletes_only_managed_entries_not_wanted_and_deletes_come_last():
    have = sas(esp(4096), esp(4097), esp(4098, reqid=7))
    changes = plan_sas(sas(esp(4099), esp(4096)), [], have, exclusive=True)
    assert actions(changes) == [("add", 4099), ("delete", 4097)]


def test_absent_entries_are_deleted_once():
    have = sas(esp(4096))
    gone = [{"dst": "192.0.2.2", "spi": 4096, "state": "absent"}, {"dst": "192.0.2.2", "spi": 4100, "state": "absent"}]
    absent = validate_sas({"sas": gone})[1]
    assert actions(plan_sas([], absent, have)) == [("delete", 4096)]


def test_kernel_helper_sas_of_ipcomp_tunnels_are_never_planned_away():
    (helper,) = sas(esp(4096))
    helper = helper._replace(proto=4)  # pylint: disable=protected-access  # the kernel's IPIP SA of an IPComp tunnel
    assert plan_sas([], [], [helper], exclusive=True) == []


def test_new_policies_get_free_managed_indexes_with_the_direction_in_the_low_bits():
    existing = policies(pol("10.0.0.1", "10.0.0.2"))[0]
    existing = existing.with_index(C.MANAGED_MIN + 1)  # slot 0 of dir out is taken
    changes = plan_policies(policies(pol("10.0.0.3", "10.0.0.4"), pol("10.0.0.4", "10.0.0.3", "in"),
                                     pol("10.0.0.5", "10.0.0.6", "fwd")), [], [existing])
    indexes = [c.new.index for c in changes]
    assert indexes == [C.MANAGED_MIN + 8 + 1, C.MANAGED_MIN + 16, C.MANAGED_MIN + 24 + 2]
    assert all(i & 7 == c.new.dir for i, c in zip(indexes, changes))


def test_policy_update_keeps_the_index_the_kernel_has():
    have = [policies(pol("10.0.0.1", "10.0.0.2"))[0].with_index(12345 * 8 + 1)]
    (change,) = plan_policies(policies(pol("10.0.0.1", "10.0.0.2", priority=5)), [], have)
    assert change.action == "update" and change.new.index == 12345 * 8 + 1


def test_planning_is_linear_in_the_number_of_entries(monkeypatch):
    """Identity comparisons grow like N, not N squared: the plan looks entries up in dicts, never scans lists.
    (Counted, not timed: bench/ measures time.)"""
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import SAId
    compared = {"n": 0}
    original_eq = SAId.__eq__

    def counting_eq(self, other):
        compared["n"] += 1
        return original_eq(self, other)

    counts = {}
    for n in (1000, 4000):
        want = sas(*[esp(256 + i) for i in range(n)])
        have = sas(*[esp(256 + i, key="ab") for i in range(0, n, 2)])
        monkeypatch.setattr(SAId, "__eq__", counting_eq)
        compared["n"] = 0
        changes = plan_sas(want, [], have, exclusive=True)
        counts[n] = compared["n"]
        monkeypatch.setattr(SAId, "__eq__", original_eq)
        assert len(changes) == n
    assert 0 < counts[1000] and counts[4000] <= 4.5 * counts[1000], counts


# -- apply ------------------------------------------------------------------------

def test_apply_adds_replaces_and_deletes_in_the_kernel():
    kernel = FakeKernel(sas(esp(4096), esp(4097)))
    want = sas(esp(4096, key="ee"), esp(4098))
    changes = plan_sas(want, [], kernel.dump_sas(), exclusive=True)
    apply_sas(kernel, changes)
    assert {sa.spi: sa.enc.key[:1] for sa in kernel.dump_sas()} == {4096: b"\xee", 4098: b"\x00"}
    types = [mtype for mtype, _payload in kernel.requests]
    assert types == [C.XFRM_MSG_DELSA, C.XFRM_MSG_NEWSA, C.XFRM_MSG_NEWSA, C.XFRM_MSG_DELSA], "replace is delete then add"


def test_a_refused_request_undoes_everything_that_took_effect_in_reverse():
    kernel = FakeKernel(sas(esp(4096), esp(4097)))
    before = dict(kernel.sas)
    want = sas(esp(4096, key="ee"), esp(4098), esp(4099))
    changes = plan_sas(want, [], kernel.dump_sas(), exclusive=True)
    spi_4099 = (4099).to_bytes(4, "big")  # xfrm_usersa_info.id.spi, at offset 72
    kernel.fail = lambda mtype, payload: errno.ENOSYS if mtype == C.XFRM_MSG_NEWSA and payload[72:76] == spi_4099 else 0
    with pytest.raises(ApplyError) as info:
        apply_sas(kernel, changes)
    assert kernel.sas == before, "the replaced SA has its old key back, the added one is gone, the deleted one is back"
    assert "esp spi 0x00001003 dst 192.0.2.2" in str(info.value) and "undone" in str(info.value)
    assert info.value.rollback_failures == []


def test_a_rollback_that_fails_says_the_kernel_differs():
    kernel = FakeKernel()
    changes = plan_sas(sas(esp(4096), esp(4097)), [], [])
    calls = []

    def fail(mtype, payload):
        calls.append(mtype)
        if len(calls) == 2:
            return errno.ENOSYS
        return errno.EBUSY if mtype == C.XFRM_MSG_DELSA else 0
    kernel.fail = fail
    with pytest.raises(ApplyError) as info:
        apply_sas(kernel, changes)
    assert "ROLLBACK INCOMPLETE" in str(info.value) and info.value.rollback_failures


def test_delete_of_an_entry_already_gone_is_fine():
    kernel = FakeKernel(sas(esp(4096)))
    changes = plan_sas([], [], kernel.dump_sas(), exclusive=True)
    kernel.sas.clear()
    apply_sas(kernel, changes)


def test_policies_apply_and_roll_back_the_same_way():
    kernel = FakeKernel()
    changes = plan_policies(policies(pol("10.0.0.1", "10.0.0.2"), pol("10.0.0.2", "10.0.0.1", "in")), [], [])
    # xfrm_userpolicy_info.dir is at offset 160: refuse the in policy
    kernel.fail = lambda mtype, payload: errno.EINVAL if mtype == C.XFRM_MSG_NEWPOLICY and payload[160] == 0 else 0
    with pytest.raises(ApplyError):
        apply_policies(kernel, changes)
    assert kernel.policies == {}
    kernel.fail = lambda mtype, payload: 0
    apply_policies(kernel, changes)
    assert len(kernel.policies) == 2
