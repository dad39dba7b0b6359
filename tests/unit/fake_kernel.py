"""A stand-in for the kernel's XFRM tables behind Transport: the fast layer of the tests.

It decodes every request with the collection's own codec and keeps SAs and policies by the
kernel's identities, answering with the errno the kernel would (EEXIST, ENOENT), or with a
scripted failure. The real kernel tiers prove the same paths against Linux.
"""

import errno

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import messages as M
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import Address, Mark, PolicyId, SAId, NO_MARK


class FakeKernel:
    def __init__(self, sas=(), policies=()):
        self.sas = {sa.identity: sa for sa in sas}
        self.policies = {p.identity: p for p in policies}
        self.requests = []  # every (type, payload) received, in order
        self.fail = lambda mtype, payload: 0  # scripted errno for a request
        self.closed = False

    # Transport's interface ---------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    def close(self):
        self.closed = True

    def dump_sas(self):
        return list(self.sas.values())

    def dump_policies(self):
        return list(self.policies.values())

    def request(self, messages):
        return [self._one(mtype, payload) for mtype, payload in messages]

    def flush(self, policies, ptypes, sas, proto):
        if policies:
            self.policies = {k: p for k, p in self.policies.items() if p.ptype not in ptypes}
        if sas:
            self.sas = {k: s for k, s in self.sas.items() if proto not in (0, s.proto)}

    # the kernel's behaviour --------------------------------------------------
    def _one(self, mtype, payload):
        self.requests.append((mtype, payload))
        code = self.fail(mtype, payload)
        if code:
            return (code, "scripted failure")
        if mtype in (C.XFRM_MSG_NEWSA, C.XFRM_MSG_UPDSA):
            sa = M.decode_sa(payload)
            exists = sa.identity in self.sas
            if exists == (mtype == C.XFRM_MSG_NEWSA):
                return (errno.EEXIST if exists else errno.ESRCH, "")
            self.sas[sa.identity] = sa
        elif mtype == C.XFRM_MSG_DELSA:
            return self._delete(self.sas, _sa_id(payload))
        elif mtype in (C.XFRM_MSG_NEWPOLICY, C.XFRM_MSG_UPDPOLICY):
            policy = M.decode_policy(payload)
            if mtype == C.XFRM_MSG_NEWPOLICY and policy.identity in self.policies:
                return (errno.EEXIST, "")
            self.policies[policy.identity] = policy
        elif mtype == C.XFRM_MSG_DELPOLICY:
            return self._delete(self.policies, _policy_id(payload))
        else:
            return (errno.EOPNOTSUPP, "")
        return (0, "")

    @staticmethod
    def _delete(table, identity):
        if identity not in table:
            return (errno.ENOENT, "")
        del table[identity]
        return (0, "")


def _mark(payload, offset):
    for kind, value in M.iter_attrs(payload, offset):
        if kind == C.XFRMA_MARK:
            return Mark(*M.MARK.unpack_from(value))
    return NO_MARK


def _sa_id(payload):
    daddr, spi, family, proto = M.USERSA_ID.unpack_from(payload)
    address = Address(family, daddr[:4] if family == C.AF_INET else daddr)
    return SAId(address, int.from_bytes(spi.to_bytes(4, "little"), "big"), proto, _mark(payload, M.USERSA_ID.size))


def _policy_id(payload):
    fields = M.USERPOLICY_ID.unpack_from(payload)
    selector = M._selector_from(fields[:12])  # pylint: disable=protected-access
    ptype, if_id = 0, 0
    for kind, value in M.iter_attrs(payload, M.USERPOLICY_ID.size):
        if kind == C.XFRMA_POLICY_TYPE:
            ptype = value[0]
        elif kind == C.XFRMA_IF_ID:
            if_id = M.U32.unpack_from(value)[0]
    return PolicyId(selector, fields[13], _mark(payload, M.USERPOLICY_ID.size), if_id, ptype)
