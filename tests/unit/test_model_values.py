"""The model's values: what takes part in equality and identity, what rides along, what never shows."""

import copy
import gc
import pickle

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.gc_pause import paused_gc
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import SA, Algo, Policy, PolicyId, SAId, with_dump
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas

KEY = "0x" + "5a" * 16


def one_sa(**extra):
    entry = {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 4096, "enc": {"algorithm": "aes-cbc", "key": KEY}}
    entry.update(extra)
    return validate_sas({"sas": [entry]})[0][0]


def one_policy(**extra):
    entry = {"src": "10.0.0.0/24", "dst": "10.0.1.0/24", "dir": "out", "templates": [{"proto": "esp"}]}
    entry.update(extra)
    return validate_policies({"policies": [entry]})[0][0]


def test_counters_and_index_ride_along_without_changing_equality_or_hash():
    sa = one_sa()
    counted = with_dump(sa._replace(), counters={"bytes": 1680, "packets": 20})
    assert counted == sa and hash(counted) == hash(sa) and counted.counters["packets"] == 20 and sa.counters is None
    policy = one_policy()
    indexed = policy.with_index(0x70000009)
    assert indexed == policy and indexed.index == 0x70000009 and policy.index == 0


def test_identity_is_the_kernels_lookup_key():
    sa = one_sa()
    assert sa.identity == SAId(sa.dst, 4096, 50, sa.mark)
    assert one_sa(mode="tunnel").identity == sa.identity and one_sa(mode="tunnel") != sa
    policy = one_policy()
    assert policy.identity == PolicyId(policy.selector, policy.dir, policy.mark, 0, 0)
    assert one_policy(priority=7).identity == policy.identity and one_policy(priority=7) != policy


def test_fields_can_be_given_by_name_or_position_and_wrong_names_are_refused():
    sa = one_sa()
    assert SA(*sa) == sa and SA(src=sa.src, dst=sa.dst, proto=50, spi=4096, reqid=sa.reqid, enc=sa.enc) == sa
    with pytest.raises(TypeError):
        SA(sa.src, sa.dst, 50, 4096, colour="red")  # pylint: disable=unexpected-keyword-arg
    with pytest.raises(ValueError):
        sa._replace(colour="red")  # pylint: disable=protected-access
    assert sa._replace(spi=4097).identity.spi == 4097  # pylint: disable=protected-access


def test_copies_and_pickles_keep_what_rides_along():
    policy = with_dump(one_policy().with_index(0x70000011), counters={"bytes": 1})
    for clone in (copy.copy(policy), copy.deepcopy(policy), pickle.loads(pickle.dumps(policy))):
        assert clone == policy and clone.index == 0x70000011 and clone.counters == {"bytes": 1}
        assert clone.identity == policy.identity


def test_keys_never_appear_in_the_repr_of_a_value():
    sa = one_sa()
    assert isinstance(sa.enc, Algo) and sa.enc.key == bytes.fromhex("5a" * 16)
    for text in (repr(sa), repr(sa.enc), str(sa)):
        assert "5a5a" not in text and "ZZZZ" not in text and "<16 bytes>" in text


def test_the_collector_is_paused_in_the_block_and_restored_after_errors():
    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with paused_gc():
            assert not gc.isenabled()
            raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()


def test_policy_values_have_no_instance_state_beyond_what_is_documented():
    assert set(vars(one_policy())) <= {"identity", "index", "counters"}
    assert set(vars(one_sa())) <= {"identity", "counters"}
    assert isinstance(one_policy(), Policy)
