"""ipsec_info format=setkey: the kernel's state as a setkey file that parses back to the same state."""

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import setkey
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas
from ansible_collections.xfrm.ipsec.tests.unit.seed_setkey import KAME_A, KAME_TUNNEL, LARTC_216

FLAGS = {"allow_weak_algorithms": True, "allow_static_counter_mode": True}
KEY16 = "0x" + "11" * 16
KEY32 = "0x" + "22" * 32
KEY20 = "0x" + "33" * 20


def state(text):
    sas, policies, errors = setkey.desired_state(setkey.parse(text), [], [], *setkey.validators(FLAGS, set()))
    assert errors == []
    return set(sas.values()), set(policies.values())


def values(sas=(), policies=()):
    got_sas = validate_sas(dict(FLAGS, sas=list(sas)))[0] if sas else []
    got_policies = validate_policies(dict(FLAGS, policies=list(policies)))[0] if policies else []
    return got_sas, got_policies


def round_trip(sas, policies):
    text, unexpressed = setkey.state_text(sas, policies, show_keys=True)
    return text, unexpressed, state(text)


@pytest.mark.parametrize("seed", [LARTC_216, KAME_A, KAME_TUNNEL.replace("-P ipsec", "-P out ipsec").replace("/use;", "/require;")],
                         ids=["lartc", "kame-host", "kame-tunnel"])
def test_seed_files_state_prints_and_parses_back_to_the_same_state(seed):
    sas, policies = state(seed)
    text, unexpressed, back = round_trip(sorted(sas), sorted(policies, key=str))
    assert unexpressed == [] and back == (sas, policies), text


def test_in_without_fwd_large_reqids_priorities_ports_icmp_and_ipv6_round_trip():
    sas, policies = values(
        sas=[{"src": "2001:db8::1", "dst": "2001:db8::2", "spi": 0x70000101, "mode": "tunnel", "reqid": 0x70000100,
              "replay_window": 32, "enc": {"algorithm": "cbc(aes)", "key": KEY32},
              "auth": {"algorithm": "hmac(sha256)", "key": KEY32},
              "lifetime": {"hard_byte_limit": 10 ** 9, "soft_add_expires_seconds": 3000}},
             {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": 300, "proto": "ah",
              "auth": {"algorithm": "hmac(sha1)", "key": KEY20}},
             {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": 301, "proto": "comp", "comp": {"algorithm": "deflate"}}],
        policies=[{"src": "2001:db8:1::/64", "dst": "2001:db8:2::/64", "dir": "in", "priority": 0,
                   "templates": [{"proto": "esp", "mode": "tunnel", "src": "2001:db8::2", "dst": "2001:db8::1",
                                  "reqid": 0x70000100}]},
                  {"src": "192.0.2.1/32", "dst": "192.0.2.2/32", "proto": "tcp", "dport": 22, "dir": "out",
                   "action": "allow", "priority": 10},
                  {"src": "2001:db8::1/128", "dst": "2001:db8::2/128", "proto": "ipv6-icmp", "sport": 135, "dport": 0,
                   "dir": "out", "action": "block", "priority": 0xC0000005},
                  {"src": "192.0.2.1/32", "dst": "192.0.2.2/32", "dir": "out", "priority": 0x7FFFFFFF,
                   "templates": [{"proto": "esp", "mode": "transport", "level": "use"}]}])
    text, unexpressed, back = round_trip(sas, policies)
    assert unexpressed == [] and back == (set(sas), set(policies)), text
    assert "-P fwd" not in text, "an in policy without its fwd copy stays without one"
    assert "unique:%d" % 0x70000100 in text and "-r 32" in text


@pytest.mark.parametrize("priority", [0, 1, 0x3FFFFFFF, 0x40000000, 0x40000001, 0x7FFFFFFF, 0x80000000, 0x80000001,
                                      0xBFFFFFFF, 0xC0000000, 0xFFFFFFFF])
def test_every_priority_has_a_setkey_spelling(priority):
    policies = values(policies=[{"src": "192.0.2.1/32", "dst": "192.0.2.2/32", "dir": "out", "action": "block",
                                 "priority": priority}])[1]
    assert round_trip([], policies)[2][1] == set(policies)


def test_what_setkey_cannot_express_is_a_comment_naming_the_fields_it_lacks():
    sas, policies = values(
        sas=[{"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 0x1000,
              "aead": {"algorithm": "rfc4106(gcm(aes))", "key": "0x" + "44" * 20, "icv_len": 128}},
             {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 0x1001, "enc": {"algorithm": "cbc(aes)", "key": KEY16},
              "mark": {"value": 7, "mask": 0xFF}}],
        policies=[{"src": "192.0.2.1/32", "dst": "192.0.2.2/32", "dir": "out", "if_id": 9,
                   "templates": [{"proto": "esp", "mode": "transport"}]}])
    text, unexpressed, back = round_trip(sas, policies)
    assert back == (set(), set()), "commented out: parsing gives nothing for them"
    assert [line.split(":")[0] for line in unexpressed] == [
        "SA esp spi 0x00001000 dst 192.0.2.2", "SA esp spi 0x00001001 dst 192.0.2.2 mark 0x7/0xff",
        "policy dir out 192.0.2.1/32 -> 192.0.2.2/32 if_id 9"]
    assert "setkey's language has no aead" in unexpressed[0] and "has no mark" in unexpressed[1]
    assert "has no if_id" in unexpressed[2]
    assert text.count("\n# not expressible in setkey's language") == 3


def test_without_show_keys_the_keys_are_fingerprints_and_parsing_says_so():
    sas = values(sas=[{"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 0x1000, "enc": {"algorithm": "cbc(aes)", "key": KEY16},
                       "auth": {"algorithm": "hmac(sha256)", "key": KEY32}}])[0]
    text, unexpressed = setkey.state_text(sas, [], show_keys=False)
    assert unexpressed == [] and KEY16[2:] not in text and KEY32[2:] not in text and "sha256:" in text
    with pytest.raises(setkey.SetkeyError, match="a key's fingerprint, as ipsec_info shows keys without show_keys"):
        setkey.parse(text)


def test_a_file_without_the_as_dumped_line_keeps_setkey_rules():
    line = "spdadd 192.0.2.1 192.0.2.2 any -P in prio def ipsec esp/transport//unique:%d;\n" % 0x70000100
    with pytest.raises(setkey.SetkeyError, match="1-16383"):
        setkey.parse(line)
    (only,) = setkey.parse(setkey.AS_DUMPED + "\n" + line)
    assert only.options["dir"] == "in" and only.options["templates"][0]["reqid"] == 0x70000100
