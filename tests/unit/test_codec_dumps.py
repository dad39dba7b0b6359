"""Decoding what a real kernel dumps (6.1, lab guest: tests/unit/golden/dump_*.hex, see capture_dumps.py),
and round trips of every model field through encode and decode."""

import pathlib

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import messages as M
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import (
    SA, Address, Network, EMPTY_SELECTOR, Algo, Encap, Lifetime, Mark, Policy, Selector, Template, with_dump,
)

GOLDEN = pathlib.Path(__file__).parent / "golden"
A = Address.parse
N = Network.parse


def dumped(kind):
    return [bytes.fromhex(p.read_text().splitlines()[1]) for p in sorted(GOLDEN.glob("dump_%s_*.hex" % kind))]


def dumped_sas():
    return {sa.spi: sa for sa in map(M.decode_sa, dumped("sa"))}


def test_dumped_esp_sa_decodes_to_what_ip_added_keys_included():
    sa = dumped_sas()[0x1000]
    assert (sa.src, sa.dst, sa.proto, sa.mode, sa.reqid) == (A("192.0.2.1"), A("192.0.2.2"), 50, 0, 0x70000000)
    assert sa.enc == Algo("cbc(aes)", bytes(range(32)))
    assert sa.auth == Algo("hmac(sha256)", bytes(range(32, 64)), 128)
    assert sa.mark == Mark(0x10, 0xFF) and sa.if_id == 4
    assert sa.lifetime == Lifetime(hard_add_expires_seconds=86400)
    assert sa.selector == EMPTY_SELECTOR, "ip's SA without sel comes back with the empty selector"
    assert sa.counters["bytes"] == 0 and sa.counters["add_time"] > 1_700_000_000


def test_dumped_ah_sa_with_plain_auth_takes_the_kernels_truncation():
    sa = dumped_sas()[0x1001]
    assert sa.proto == 51 and sa.mode == 1
    assert sa.auth == Algo("hmac(sha1)", bytes(range(1, 21)), 96), "XFRMA_ALG_AUTH_TRUNC is dumped beside XFRMA_ALG_AUTH"
    assert sa.selector == Selector(family=C.AF_INET, src=N("198.51.100.0/24"), dst=N("203.0.113.0/24"))


def test_dumped_aead_sa_with_encapsulation():
    sa = dumped_sas()[0x1002]
    assert sa.aead == Algo("rfc4106(gcm(aes))", bytes(range(1, 21)), 128) and sa.enc is None and sa.auth is None
    assert sa.encap == Encap(2, 4500, 4500, None)
    assert sa.replay_window == 32


def test_dumped_sa_reencodes_to_an_equal_sa():
    for sa in dumped_sas().values():
        assert M.decode_sa(M.encode_sa(sa)) == sa


def test_dumped_policy_decodes_with_index_templates_and_ports():
    (policy,) = map(M.decode_policy, dumped("policy"))
    assert policy.selector == Selector(family=C.AF_INET, src=N("198.51.100.0/24"), dst=N("203.0.113.0/24"), proto=17,
                                       dport=53, dport_mask=0xFFFF)
    assert (policy.dir, policy.priority, policy.index, policy.action) == (1, 7, 1879048193, 0)
    assert policy.templates == (Template(family=C.AF_INET, proto=50, mode=1, src=A("192.0.2.1"), dst=A("192.0.2.2"),
                                         reqid=0x70000000),)
    assert policy.managed


def test_every_field_survives_encode_and_decode():
    sa = SA(src=A("2001:db8::1"), dst=A("2001:db8::2"), proto=50, spi=0xDEADBEEF, mode=1, reqid=0x7000ABCD,
            enc=Algo("cbc(aes)", b"k" * 16), auth=Algo("hmac(sha512)", b"a" * 64, 256), replay_window=16, flags=1 | 4,
            lifetime=Lifetime(1, 2, 3, 4, 5, 6, 7, 8), mark=Mark(1, 3), if_id=77, encap=Encap(1, 1000, 2000, A("2001:db8::9")),
            selector=Selector(family=C.AF_INET6, src=N("2001:db8:1::/48"), dst=N("2001:db8:2::/48"), proto=6, sport=22,
                              sport_mask=0xFFFF))
    assert M.decode_sa(M.encode_sa(sa)) == sa
    policy = Policy(selector=Selector(family=C.AF_INET, src=N("10.0.0.0/8"), dst=N("0.0.0.0/0"), proto=1, sport=8,
                                      sport_mask=0xFFFF), dir=2, action=1, priority=99, mark=Mark(5, 0xFF), if_id=3, ptype=1,
                    flags=1, lifetime=Lifetime(hard_add_expires_seconds=60),
                    templates=(Template(family=C.AF_INET, proto=51, spi=9, reqid=4, optional=True),
                               Template(family=C.AF_INET6, proto=50, mode=1, src=A("::1"), dst=A("::2"))))
    policy = with_dump(policy, index=0x70000012)
    decoded = M.decode_policy(M.encode_policy(policy))
    assert decoded == policy and decoded.index == policy.index
