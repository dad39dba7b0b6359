"""Capture the netlink requests iproute2 sends, as golden bytes for the codec tests.

Run as root on a host with strace and iproute2: every command runs in a throw-away
network namespace, the kernel may reject it (this kernel has no esp4/ah4), only the
bytes `ip` sent matter. nlmsg_seq is zeroed so captures are reproducible. Keys here
are test vectors from the seed documents, not secrets.

    python3 tests/unit/golden/capture.py    # rewrites tests/unit/golden/*.hex
"""
import pathlib
import re
import subprocess

HERE = pathlib.Path(__file__).parent
NETNS = "xfrm-golden"

CASES = {
    # LARTC: ESP 3des-cbc + AH hmac-md5, transport, 10.0.0.216 -> 10.0.0.11
    "newsa_esp_transport": "xfrm state add src 10.0.0.216 dst 10.0.0.11 proto esp spi 24501 "
    "reqid 7 mode transport enc cbc(des3_ede) 0x313233343536373839303132313233343536373839303132 "
    "auth-trunc hmac(md5) 0x31323334353637383930313233343536 96",
    "newsa_ah_transport": "xfrm state add src 10.0.0.216 dst 10.0.0.11 proto ah spi 24500 "
    "mode transport auth-trunc hmac(md5) 0x31323334353637383930313233343536 96",
    # KAME site-to-site: tunnel endpoints 10.1.1.1 / 10.2.2.2, AEAD, mark, if_id, replay window
    "newsa_esp_tunnel_aead": "xfrm state add src 10.1.1.1 dst 10.2.2.2 proto esp spi 0x270e "
    "reqid 1879048192 mode tunnel replay-window 32 flag af-unspec "
    "aead rfc4106(gcm(aes)) 0x0102030405060708090a0b0c0d0e0f1011121314 128 "
    "mark 0x10 mask 0xff if_id 5 sel src 10.1.1.0/24 dst 10.2.2.0/24",
    "newsa_esp_encap_v6": "xfrm state add src 2001:db8::1 dst 2001:db8::2 proto esp spi 4096 "
    "mode tunnel enc cbc(aes) 0x000102030405060708090a0b0c0d0e0f "
    "auth-trunc hmac(sha256) 0x000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f 128 "
    "encap espinudp 4500 4500 0.0.0.0 limit time-hard 3600 limit packet-soft 1000",
    "newsa_comp": "xfrm state add src 10.0.0.216 dst 10.0.0.11 proto comp spi 0x1234 mode tunnel comp deflate",
    "delsa": "xfrm state delete src 10.0.0.216 dst 10.0.0.11 proto esp spi 24501 mark 7 mask 0xffffffff",
    "newpolicy_out_tunnel": "xfrm policy add src 10.1.1.0/24 dst 10.2.2.0/24 proto tcp dport 80 "
    "dir out priority 100 index 1879048201 tmpl src 10.1.1.1 dst 10.2.2.2 proto esp mode tunnel reqid 1879048193 level required",
    "newpolicy_in_esp_ah": "xfrm policy add src 10.0.0.11 dst 10.0.0.216 dir in "
    "tmpl proto esp mode transport level required tmpl proto ah spi 0x5fb4 mode transport level use",
    "newpolicy_block_mark": "xfrm policy update src 2001:db8::/64 dst ::/0 dir fwd action block "
    "mark 3 mask 0xf if_id 9 ptype sub",
    "delpolicy": "xfrm policy delete src 10.1.1.0/24 dst 10.2.2.0/24 proto tcp dport 80 dir out",
    "flushsa_esp": "xfrm state flush proto esp",
    "flushpolicy": "xfrm policy flush",
}

SENDMSG = re.compile(r'nlmsg_type=(\w+), nlmsg_flags=([\w|]+), nlmsg_seq=\d+, nlmsg_pid=\d+\}(?:, "([^"]*)")?')


def capture(args):
    out = subprocess.run(
        ["ip", "netns", "exec", NETNS, "strace", "-e", "trace=sendmsg", "-xx", "-s", "4096", "ip"] + args.split(),
        capture_output=True, text=True, check=False).stderr
    match = SENDMSG.search(out)
    if not match:
        raise SystemExit("no sendmsg captured for: %s\n%s" % (args, out))
    return match.group(1), match.group(2), bytes.fromhex((match.group(3) or "").replace("\\x", ""))


def main():
    subprocess.run(["ip", "netns", "add", NETNS], check=False, capture_output=True)
    try:
        for name, args in CASES.items():
            mtype, flags, body = capture(args)
            (HERE / (name + ".hex")).write_text("# ip %s\n# %s %s\n%s\n" % (args, mtype, flags, body.hex()))
    finally:
        subprocess.run(["ip", "netns", "del", NETNS], check=False)


if __name__ == "__main__":
    main()
