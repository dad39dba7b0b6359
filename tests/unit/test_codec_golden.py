"""The kernel structs, byte for byte against what iproute2 sent (tests/unit/golden/*.hex, see capture.py).

Each case builds, from model values, the request that the `ip xfrm` command in the golden
file's first line expresses, and must produce the very bytes `ip` put on the socket.
"""

import pathlib

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import messages as M
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import (
    SA, Address, Network, Algo, Encap, Lifetime, Mark, Policy, PolicyId, SAId, Selector, Template, with_dump,
)

GOLDEN = pathlib.Path(__file__).parent / "golden"
A = Address.parse
N = Network.parse


def golden(name):
    lines = (GOLDEN / (name + ".hex")).read_text().splitlines()
    return bytes.fromhex(lines[2] if len(lines) > 2 else "")


def v4_selector(src, dst, proto=0, dport=0):
    return Selector(family=C.AF_INET, src=N(src), dst=N(dst), proto=proto, dport=dport, dport_mask=0xFFFF if dport else 0)


DES3_KEY = b"123456789012123456789012"
MD5_KEY = b"1234567890123456"

CASES = {
    "newsa_esp_transport": lambda: M.encode_sa(SA(
        src=A("10.0.0.216"), dst=A("10.0.0.11"), proto=50, spi=24501, reqid=7,
        enc=Algo("cbc(des3_ede)", DES3_KEY), auth=Algo("hmac(md5)", MD5_KEY, 96))),
    "newsa_ah_transport": lambda: M.encode_sa(SA(
        src=A("10.0.0.216"), dst=A("10.0.0.11"), proto=51, spi=24500, auth=Algo("hmac(md5)", MD5_KEY, 96))),
    "newsa_esp_tunnel_aead": lambda: M.encode_sa(SA(
        src=A("10.1.1.1"), dst=A("10.2.2.2"), proto=50, spi=0x270E, mode=1, reqid=0x70000000, replay_window=32,
        flags=C.XFRM_STATE_FLAGS["af-unspec"], aead=Algo("rfc4106(gcm(aes))", bytes(range(1, 21)), 128),
        mark=Mark(0x10, 0xFF), if_id=5, selector=v4_selector("10.1.1.0/24", "10.2.2.0/24"))),
    "newsa_esp_encap_v6": lambda: M.encode_sa(SA(
        src=A("2001:db8::1"), dst=A("2001:db8::2"), proto=50, spi=4096, mode=1,
        enc=Algo("cbc(aes)", bytes(range(16))), auth=Algo("hmac(sha256)", bytes(range(16)) * 2, 128),
        encap=Encap(2, 4500, 4500, None), lifetime=Lifetime(hard_add_expires_seconds=3600, soft_packet_limit=1000))),
    "newsa_comp": lambda: M.encode_sa(SA(
        src=A("10.0.0.216"), dst=A("10.0.0.11"), proto=108, spi=0x1234, mode=1, comp=Algo("deflate"))),
    "delsa": lambda: M.encode_sa_id(SAId(A("10.0.0.11"), 24501, 50, Mark(7, 0xFFFFFFFF)), src=A("10.0.0.216")),
    "newpolicy_out_tunnel": lambda: M.encode_policy(with_dump(Policy(
        selector=v4_selector("10.1.1.0/24", "10.2.2.0/24", proto=6, dport=80), dir=1, priority=100,
        templates=(Template(family=C.AF_INET, proto=50, mode=1, src=A("10.1.1.1"), dst=A("10.2.2.2"), reqid=1879048193),)),
        index=1879048201)),
    "newpolicy_in_esp_ah": lambda: M.encode_policy(Policy(
        selector=v4_selector("10.0.0.11/32", "10.0.0.216/32"), dir=0,
        templates=(Template(family=C.AF_INET, proto=50), Template(family=C.AF_INET, proto=51, spi=0x5FB4, optional=True)))),
    "delpolicy": lambda: M.encode_policy_id(PolicyId(v4_selector("10.1.1.0/24", "10.2.2.0/24", proto=6, dport=80), 1)),
    "flushsa_esp": lambda: M.encode_flush_sa(50),
    "flushpolicy": M.encode_flush_policy,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_request_bytes_equal_what_iproute2_sends(name):
    assert CASES[name]().hex() == golden(name).hex()


def test_policy_type_mark_and_if_id_attributes_match_ip_update():
    policy = Policy(selector=Selector(family=C.AF_INET6, src=N("2001:db8::/64"), dst=N("::/0")), dir=2, action=1,
                    mark=Mark(3, 0xF), if_id=9, ptype=1)
    ours, theirs = M.encode_policy(policy), golden("newpolicy_block_mark")
    assert ours[:M.USERPOLICY_INFO.size] == theirs[:M.USERPOLICY_INFO.size]
    assert sorted(M.iter_attrs(ours, M.USERPOLICY_INFO.size)) == sorted(M.iter_attrs(theirs, M.USERPOLICY_INFO.size))


@pytest.mark.parametrize("layout,size", [
    (M.SELECTOR, 56), (M.USERSA_INFO, 224), (M.USERSA_ID, 24), (M.USERPOLICY_INFO, 168), (M.USERPOLICY_ID, 64),
    (M.USER_TMPL, 64), (M.ALGO, 68), (M.ALGO_AUTH, 72), (M.ALGO_AEAD, 72), (M.ENCAP_TMPL, 24), (M.USERPOLICY_TYPE, 6),
])
def test_struct_sizes_are_the_kernels_on_x86_64(layout, size):
    assert layout.size == size


def test_selector_has_three_pad_bytes_before_ifindex():
    packed = M.SELECTOR.pack(bytes(16), bytes(16), 0, 0, 0, 0, 2, 24, 24, 6, 0x01020304, 0)
    assert packed[45:48] == b"\0\0\0" and packed[48:52] == (0x01020304).to_bytes(4, "little")
