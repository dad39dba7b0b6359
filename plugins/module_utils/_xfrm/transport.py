# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one NETLINK_XFRM socket: batched requests with every ACK checked, and dumps.

pyroute2 enters the network namespace (pushns/popns, the same in 0.7 and 0.9) and
names the errors (NetlinkError); the socket is the kernel's AF_NETLINK socket itself,
because requests are packed by messages.py and sent a batch per sendmsg, which neither
pyroute2 0.7's nor 0.9's (asyncio) socket classes offer in one shape.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket

from . import constants as C
from .validate import shown
from .messages import NLMSGHDR, NLMSGERR, decode_policy, decode_sa, encode_flush_policy, encode_flush_sa, iter_attrs

BATCH_MESSAGES = 1000
BATCH_BYTES = 256 * 1024
SOCKET_BUFFER = 8 * 1024 * 1024
RECV_SIZE = 1024 * 1024


class XfrmError(Exception):
    """A request the kernel refused, with the errno and the kernel's extended ACK message."""

    def __init__(self, code, message="", request=None):
        self.code = code
        self.kernel_message = message
        self.request = request
        super().__init__(explain(code, message))


def explain(code, message=""):
    """A sentence for an errno the kernel returned to an XFRM request."""
    text = os.strerror(code) if code else "success"
    if message:
        text = "%s: %s" % (message, text)
    if code == errno.EPROTONOSUPPORT:
        text += " (the kernel lacks the IPsec protocol module: modprobe esp4 ah4 esp6 ah6 ipcomp, or use the lab)"
    elif code == errno.ENOSYS:
        text += " (the kernel lacks this algorithm or its IPsec module: modprobe esp4 esp6 and the crypto module)"
    elif code == errno.EPERM:
        text += " (needs CAP_NET_ADMIN: run as root, become: true)"
    return text


def _import_netns():
    from pyroute2 import netns  # pylint: disable=import-outside-toplevel
    return netns


@contextlib.contextmanager
def netns_entered(netns):
    """The block runs inside the named network namespace (sockets opened there stay there, /proc/self/net is its);
    None: the current one. "" names no namespace: it is not the host's own."""
    if netns is None:
        yield
        return
    ns = _import_netns()
    if netns not in ns.listnetns():
        # pyroute2 0.9 would create a missing namespace: a typo must not make a new empty one
        raise XfrmError(errno.ENOENT, "netns: network namespace %s does not exist" % shown(netns))
    ns.pushns(netns)
    try:
        yield
    finally:
        ns.popns()


class Transport:
    """A NETLINK_XFRM socket, optionally inside a named network namespace."""

    def __init__(self, netns=None):
        self.netns = netns
        self._seq = 0
        with netns_entered(netns):
            self.sock = self._open()
        self._buf = bytearray(RECV_SIZE)

    @staticmethod
    def _open():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, C.NETLINK_XFRM)
        try:
            for force, plain in ((C.SO_SNDBUFFORCE, socket.SO_SNDBUF), (C.SO_RCVBUFFORCE, socket.SO_RCVBUF)):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)
            for option in (C.NETLINK_CAP_ACK, C.NETLINK_EXT_ACK):
                try:
                    sock.setsockopt(C.SOL_NETLINK, option, 1)
                except OSError:
                    pass
            sock.bind((0, 0))
        except Exception:
            sock.close()
            raise
        return sock

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def request(self, messages):
        """Send (type, payload) requests in batches; return one (errno, kernel message) per request, 0 for success.

        The kernel processes every message of a batch whatever happened to the one
        before, so the result list says exactly which requests took effect.
        """
        results = [None] * len(messages)
        pack = NLMSGHDR.pack
        flags = C.NLM_F_REQUEST | C.NLM_F_ACK
        start = 0
        while start < len(messages):
            chunk, size, seqs = [], 0, {}
            while start < len(messages) and len(seqs) < BATCH_MESSAGES and size < BATCH_BYTES:
                mtype, payload = messages[start]
                seq = self._next_seq()
                length = 16 + len(payload)
                chunk.append(pack(length, mtype, flags, seq, 0))
                chunk.append(payload)
                if length % 4:
                    chunk.append(bytes(-length % 4))
                seqs[seq] = start
                size += length
                start += 1
            self.sock.sendto(b"".join(chunk), (0, 0))
            self._collect_acks(seqs, results)
        return results

    def _collect_acks(self, seqs, results):
        """Read ACKs (struct nlmsgerr, error 0) and errors until every request of seqs has its answer."""
        buf, unpack_header, unpack_error = self._buf, NLMSGHDR.unpack_from, NLMSGERR.unpack_from
        while seqs:
            n = self.sock.recv_into(buf)
            offset = 0
            while offset + 16 <= n:
                length, mtype, _flags, seq, _pid = unpack_header(buf, offset)
                if length < 16:
                    break
                if mtype == C.NLMSG_ERROR and seq in seqs:
                    code = -unpack_error(buf, offset + 16)[0]
                    results[seqs.pop(seq)] = (code, _ext_ack_message(bytes(buf[offset + 16:offset + length]))) if code else _OK
                offset += (length + 3) & ~3

    def _recv(self):
        """Yield (type, flags, seq, body) for each message of one datagram."""
        n = self.sock.recv_into(self._buf)
        view = memoryview(self._buf)[:n]
        offset = 0
        while offset + 16 <= n:
            length, mtype, flags, seq, _pid = NLMSGHDR.unpack_from(view, offset)
            if length < 16:
                break
            yield mtype, flags, seq, bytes(view[offset + 16:offset + length])
            offset += (length + 3) & ~3

    def dump(self, mtype):
        """Payloads of every message a NLM_F_DUMP request of mtype returns."""
        seq = self._next_seq()
        self.sock.sendto(NLMSGHDR.pack(16, mtype, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, 0), (0, 0))
        out = []
        while True:
            for rtype, _flags, rseq, body in self._recv():
                if rseq != seq:
                    continue
                if rtype == C.NLMSG_DONE:
                    return out
                if rtype == C.NLMSG_ERROR:
                    code = -NLMSGERR.unpack_from(body)[0]
                    if code:
                        raise XfrmError(code, _ext_ack_message(body))
                    continue
                out.append(body)

    def flush(self, policies, ptypes, sas, proto):
        """The kernel's own flush (setkey -FP, -F): policies of the given types first, then SAs of proto (0: all)."""
        requests = [(C.XFRM_MSG_FLUSHPOLICY, encode_flush_policy(ptype)) for ptype in sorted(ptypes)] if policies else []
        if sas:
            requests.append((C.XFRM_MSG_FLUSHSA, encode_flush_sa(proto)))
        for code, message in self.request(requests):
            if code:
                raise XfrmError(code, message)

    def dump_sas(self):
        """Every SA of the namespace (keys included: the caller redacts)."""
        return [decode_sa(body) for body in self.dump(C.XFRM_MSG_GETSA)]

    def dump_policies(self):
        """Every policy of the namespace's SPD (per-socket policies excluded)."""
        return [p for p in (decode_policy(body) for body in self.dump(C.XFRM_MSG_GETPOLICY)) if p.dir < C.XFRM_POLICY_MAX]


_OK = (0, "")


def _ext_ack_message(body):
    """The kernel's extended ACK text (NLMSGERR_ATTR_MSG) of an error message, if any.

    With NETLINK_CAP_ACK the error carries only the request's header, so the
    attributes start right after struct nlmsgerr.
    """
    for kind, value in iter_attrs(body, NLMSGERR.size):
        if kind == C.NLMSGERR_ATTR_MSG:
            return value.split(b"\0", 1)[0].decode("utf-8", "replace")
    return ""
