"""Every rule checked before the kernel is touched, and the error text that names the field."""

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import EMPTY_SELECTOR, PolicyId, SAId
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import (
    ValidationError, validate_policies, validate_sas,
)

AES = {"algorithm": "aes-cbc", "key": "0x" + "00" * 32}
SHA = {"algorithm": "hmac-sha256", "key": "0x" + "11" * 32}


def esp(**extra):
    entry = {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 4096, "enc": AES, "auth": SHA}
    entry.update(extra)
    return entry


def errors_of(validate, options):
    with pytest.raises(ValidationError) as info:
        validate(options)
    return info.value.errors


@pytest.mark.parametrize("spelling,kernel,key_bytes", [
    ("des-cbc", "cbc(des)", 8), ("3des-cbc", "cbc(des3_ede)", 24), ("rijndael-cbc", "cbc(aes)", 16),
    ("aes-cbc", "cbc(aes)", 32), ("aes-ctr", "rfc3686(ctr(aes))", 20), ("blowfish-cbc", "cbc(blowfish)", 56),
    ("cast128-cbc", "cbc(cast5)", 16), ("twofish-cbc", "cbc(twofish)", 32), ("camellia-cbc", "cbc(camellia)", 24),
    ("null", "ecb(cipher_null)", 0), ("CBC(AES)", "cbc(aes)", 16),
])
def test_setkey_encryption_names_map_to_kernel_names(spelling, kernel, key_bytes):
    entry = esp(enc={"algorithm": spelling, "key": "0x" + "ab" * key_bytes} if key_bytes else {"algorithm": spelling})
    (sa,) = validate_sas(dict(entry, allow_weak_algorithms=True, allow_static_counter_mode=True))[0]
    assert sa.enc.name == kernel and len(sa.enc.key) == key_bytes


@pytest.mark.parametrize("spelling,kernel,key_bytes,trunc", [
    ("hmac-md5", "hmac(md5)", 16, 96), ("hmac-sha1", "hmac(sha1)", 20, 96), ("hmac-sha256", "hmac(sha256)", 32, 128),
    ("hmac-sha384", "hmac(sha384)", 48, 192), ("hmac-sha512", "hmac(sha512)", 64, 256),
])
def test_setkey_auth_names_map_with_rfc_truncation(spelling, kernel, key_bytes, trunc):
    (sa,) = validate_sas(esp(auth={"algorithm": spelling, "key": "0x" + "cd" * key_bytes}, allow_weak_algorithms=True))[0]
    assert (sa.auth.name, sa.auth.bits) == (kernel, trunc)


def test_ascii_hex_and_setkey_quoted_keys():
    (sa,) = validate_sas(esp(enc={"algorithm": "des-cbc", "key": '"hogehoge"'}, allow_weak_algorithms=True))[0]
    assert sa.enc.key == b"hogehoge"
    (sa,) = validate_sas(esp(enc={"algorithm": "aes-cbc", "key": "0x" + "0f" * 16}))[0]
    assert sa.enc.key == bytes([15] * 16)
    assert errors_of(validate_sas, esp(enc={"algorithm": "aes-cbc", "key": "0xzz"})) == [
        "enc.key: the 0x form takes hex digits (0-9, a-f) only: character 3 is not one"]


def test_wrong_key_length_in_a_list_names_the_entry_and_the_sizes():
    bad = esp(spi=4097, enc={"algorithm": "aes-cbc", "key": "0x" + "00" * 24 + "01"})
    assert errors_of(validate_sas, {"sas": [esp(), esp(spi=4098), esp(spi=4099), bad]}) == [
        "sas[3].enc.key: 25 bytes given, cbc(aes) takes 16, 24 or 32 bytes"]


def test_weak_algorithms_are_refused_unless_allowed_then_warned():
    weak = esp(enc={"algorithm": "3des-cbc", "key": '"123456789012123456789012"'})
    assert "allow_weak_algorithms" in errors_of(validate_sas, weak)[0]
    _present, _absent, warnings = validate_sas(dict(weak, allow_weak_algorithms=True))
    assert warnings == ["enc.algorithm: 3des-cbc (cbc(des3_ede)) is weak; allowed by allow_weak_algorithms"]


@pytest.mark.parametrize("algo", [{"aead": {"algorithm": "aes-gcm", "key": "0x" + "00" * 20}},
                                  {"enc": {"algorithm": "aes-ctr", "key": "0x" + "00" * 20}}])
def test_counter_mode_with_manual_keys_needs_the_opt_in(algo):
    entry = {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 4096}
    entry.update(algo)
    assert "reuses nonces" in " ".join(errors_of(validate_sas, entry))
    validate_sas(dict(entry, allow_static_counter_mode=True))


@pytest.mark.parametrize("entry,error", [
    (esp(spi=255), "spi: 255 is out of range 256-4294967295"),
    (esp(spi="0x1g"), "spi: '0x1g' is not a number (decimal or 0x hex)"),
    (esp(proto="comp", spi=70000, enc=None, auth=None, comp={"algorithm": "deflate"}), "spi: 70000 is out of range 1-65535"),
    (esp(enc=None), "enc: ESP needs enc or aead"),
    (esp(comp={"algorithm": "deflate"}), "comp: ESP takes enc (with auth) or aead"),
    (esp(proto="ah", enc=None, auth=None), "auth: AH needs auth"),
    (esp(aead={"algorithm": "aes-gcm", "key": "0x" + "00" * 20}), "aead: aead replaces enc and auth: give aead alone"),
    (esp(proto="ah"), "enc: AH takes auth only"),
    (esp(proto="comp", spi=5), "enc: IPComp takes comp only"),
    (esp(proto="ah", enc=None, mode="beet"), "mode: BEET mode is for ESP only"),
    (esp(dst="2001:db8::2"), "src: 192.0.2.1 is not of the same address family as the other end"),
    (esp(src=None), "src: required"),
    (esp(replay_window=64), "replay_window: 64 is out of range 0-32"),
    (esp(proto="ah", enc=None, encap={"type": "espinudp"}), "encap: UDP encapsulation is for ESP only"),
    (esp(selector={"src": "10.1.1.1/24", "dst": "any"}), "selector.src: 10.1.1.1/24 has host bits set; did you mean 10.1.1.0/24?"),
    (esp(selector={"src": "any", "dst": "any", "dport": 80}), "selector.dport: ports need proto tcp, udp, sctp, dccp (or icmp type/code)"),
    (esp(enc={"algorithm": "rot13", "key": "x"}), "enc.algorithm: 'rot13' is not a known enc algorithm"),
    (esp(auth={"algorithm": "hmac-sha256", "key": "0x" + "11" * 32, "trunc_len": 100}),
     "auth.trunc_len: 100 bits given, hmac(sha256) takes 128 or 96"),
])
def test_sa_rules_reject_with_the_field_named(entry, error):
    assert any(e.startswith(error) for e in errors_of(validate_sas, entry)), errors_of(validate_sas, entry)


def test_all_errors_of_a_request_are_reported_together():
    errors = errors_of(validate_sas, {"sas": [esp(spi=1), esp(spi=4097, enc=None), esp(dst="not-an-ip")]})
    assert [e.split(":")[0] for e in errors] == ["sas[0].spi", "sas[1].enc", "sas[2].dst"]


def test_duplicate_sa_identity_in_one_list_is_an_error():
    errors = errors_of(validate_sas, {"sas": [esp(), esp(src="192.0.2.9")]})
    assert errors == ["sas[1]: same SA (dst, spi, proto, mark) (esp spi 0x00001000 dst 192.0.2.2) as sas[0]"]
    validate_sas({"sas": [esp(), esp(mark={"value": 1})]})


def test_absent_needs_only_the_identity():
    _present, (gone,), _warnings = validate_sas({"dst": "192.0.2.2", "spi": "0x1000", "state": "absent", "mark": {"value": 7}})
    assert gone == SAId(dst=gone.dst, spi=4096, proto=50, mark=gone.mark) and gone.mark.mask == 0xFFFFFFFF


def test_reqid_defaults_to_the_managed_range_and_outside_it_warns():
    (sa,), _absent, warnings = validate_sas(esp())
    assert sa.reqid == C.MANAGED_MIN and sa.managed and warnings == []
    (sa,), _absent, warnings = validate_sas(esp(reqid=7))
    assert not sa.managed and "outside the managed range" in warnings[0]


def test_an_any_to_any_sa_selector_is_the_empty_selector():
    (sa,) = validate_sas(esp(selector={"src": "any", "dst": "0.0.0.0/0"}))[0]
    assert sa.selector == EMPTY_SELECTOR


# -- policies -------------------------------------------------------------------

def tunnel(**extra):
    entry = {"src": "10.1.1.0/24", "dst": "10.2.2.0/24", "dir": "out",
             "templates": [{"proto": "esp", "mode": "tunnel", "src": "192.0.2.1", "dst": "192.0.2.2"}]}
    entry.update(extra)
    return entry


@pytest.mark.parametrize("entry,error", [
    (tunnel(templates=[{"mode": "tunnel", "src": "192.0.2.1"}]), "templates[0]: tunnel mode needs src and dst"),
    (tunnel(templates=[{"mode": "tunnel", "src": "192.0.2.1", "dst": "192.0.2.2", "level": "use"}]),
     "templates[0].level: use (optional) is not allowed for a tunnel-mode template of an out policy"),
    (tunnel(templates=[{"proto": "esp"}] * 7), "templates: 7 templates given, the kernel takes at most 6"),
    (tunnel(templates=[{"proto": "esp", "src": "2001:db8::1", "dst": "2001:db8::2"}]),
     "templates[0]: a transport-mode template cannot change the address family"),
    (tunnel(action="block"), "templates: a block policy takes no templates"),
    (tunnel(dir=None), "dir: required (in, out or fwd)"),
    (tunnel(dir="sideways"), "dir: 'sideways' is not one of fwd, in, out"),
    (tunnel(src="10.1.1.0/24", dst="2001:db8::/32"), "dst: 2001:db8::/32 is not of the address family of src 10.1.1.0/24"),
])
def test_policy_rules_reject_with_the_field_named(entry, error):
    assert any(e.startswith(error) for e in errors_of(validate_policies, entry)), errors_of(validate_policies, entry)


def test_use_level_is_fine_for_tunnel_templates_of_in_policies_and_transport_out():
    validate_policies(tunnel(dir="in", templates=[{"mode": "tunnel", "src": "192.0.2.2", "dst": "192.0.2.1", "level": "use"}]))
    (policy,) = validate_policies(tunnel(templates=[{"proto": "esp", "level": "use"}]))[0]
    assert policy.templates[0].optional and policy.templates[0].family == C.AF_INET


def test_any_takes_the_family_of_the_other_side_and_ports_get_full_masks():
    (policy,) = validate_policies({"src": "any", "dst": "2001:db8::/64", "dir": "in", "proto": "tcp", "dport": 22})[0]
    assert policy.selector.family == C.AF_INET6 and str(policy.selector.src) == "::/0"
    assert (policy.selector.proto, policy.selector.dport, policy.selector.dport_mask) == (6, 22, 0xFFFF)


def test_templates_default_to_the_managed_reqid_that_sas_default_to():
    (policy,) = validate_policies(tunnel())[0]
    (sa,) = validate_sas(esp())[0]
    assert policy.templates[0].reqid == sa.reqid == C.MANAGED_MIN


def test_priority_is_not_part_of_a_policy_identity():
    (a,) = validate_policies(tunnel(priority=1))[0]
    (b,) = validate_policies(tunnel(priority=2))[0]
    assert a.identity == b.identity and a != b
    assert isinstance(a.identity, PolicyId)
