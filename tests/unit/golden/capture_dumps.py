"""Capture dumped SAs and policies as the kernel sends them, from a lab guest (its kernel has esp4/ah4).

    lab/lab up pair && python3 tests/unit/golden/capture_dumps.py && lab/lab down

Adds SAs and a policy with iproute2 in guest h1, dumps them over a raw NETLINK_XFRM socket
there and writes each message payload to tests/unit/golden/dump_*.hex. Keys are test vectors.
"""
import pathlib
import subprocess

HERE = pathlib.Path(__file__).parent
LAB = HERE.parents[2] / "lab" / "lab"

SETUP = """ip xfrm state flush; ip xfrm policy flush
ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 reqid 1879048192 mode transport \
  enc 'cbc(aes)' 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
  auth-trunc 'hmac(sha256)' 0x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f 128 \
  mark 0x10 mask 0xff if_id 4 limit time-hard 86400
ip xfrm state add src 192.0.2.2 dst 192.0.2.1 proto ah spi 0x1001 mode tunnel \
  auth 'hmac(sha1)' 0x0102030405060708090a0b0c0d0e0f1011121314 sel src 198.51.100.0/24 dst 203.0.113.0/24
ip xfrm state add src 192.0.2.2 dst 192.0.2.1 proto esp spi 0x1002 mode tunnel replay-window 32 \
  aead 'rfc4106(gcm(aes))' 0x0102030405060708090a0b0c0d0e0f1011121314 128 encap espinudp 4500 4500 0.0.0.0
ip xfrm policy add src 198.51.100.0/24 dst 203.0.113.0/24 proto 17 dport 53 dir out priority 7 index 1879048193 \
  tmpl src 192.0.2.1 dst 192.0.2.2 proto esp mode tunnel reqid 1879048192
"""

DUMP = r"""
import socket, struct
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 6)
s.bind((0, 0))
for mtype, name in ((0x12, "sa"), (0x15, "policy")):
    s.send(struct.pack("=IHHII", 16, mtype, 0x301, 1, 0))
    done = False
    while not done:
        data = s.recv(65536)
        off = 0
        while off < len(data):
            length, rtype = struct.unpack_from("=IH", data, off)
            if rtype == 3:
                done = True
                break
            print(name, data[off + 16:off + length].hex())
            off += (length + 3) & ~3
"""


def main():
    subprocess.run([str(LAB), "ssh", "h1", "--", SETUP], check=True)
    out = subprocess.run([str(LAB), "ssh", "h1", "--", "python3 -c '%s'" % DUMP.replace("'", "'\\''")],
                         check=True, capture_output=True, text=True).stdout
    counts = {}
    for line in out.splitlines():
        kind, payload = line.split()
        counts[kind] = counts.get(kind, 0) + 1
        (HERE / ("dump_%s_%d.hex" % (kind, counts[kind]))).write_text(
            "# dumped by a 6.1 kernel (lab guest), see capture_dumps.py\n%s\n" % payload)
    subprocess.run([str(LAB), "ssh", "h1", "--", "ip xfrm state flush; ip xfrm policy flush"], check=True)


if __name__ == "__main__":
    main()
