"""A stand-in for the kernel's XFRM tables behind Transport: the fast layer of the tests.

It decodes every request with the collection's own codec (each table's, tables.py) and keeps
SAs and policies by the kernel's identities, answering with the errno the kernel would (EEXIST, ENOENT), or with a
scripted failure. The real kernel tiers prove the same paths against Linux.
"""

import errno

from ansible.module_utils import basic

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.tables import POLICY, SA


class FakeKernel:
    def __init__(self, sas=(), policies=()):
        self.sas = {sa.identity: sa for sa in sas}
        self.policies = {p.identity: p for p in policies}
        self.tables = {SA: self.sas, POLICY: self.policies}
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
            for identity in [k for k, p in self.policies.items() if p.ptype in ptypes]:
                del self.policies[identity]
        if sas:
            for identity in [k for k, s in self.sas.items() if proto in (0, s.proto)]:
                del self.sas[identity]

    # the kernel's behaviour --------------------------------------------------
    def _one(self, mtype, payload):
        self.requests.append((mtype, payload))
        code = self.fail(mtype, payload)
        if code:
            return (code, "scripted failure")
        for table, entries in self.tables.items():
            new, update, delete = table.messages
            if mtype in (new, update):
                entry = table.decode(payload)
                exists = entry.identity in entries
                if mtype == new and exists:
                    return (errno.EEXIST, "")
                if mtype == update and not exists and table is SA:
                    return (errno.ESRCH, "")  # UPDSA changes a live SA; UPDPOLICY adds a missing policy
                entries[entry.identity] = entry
                return (0, "")
            if mtype == delete:
                return self._delete(entries, table.decode_id(payload))
        return (errno.EOPNOTSUPP, "")

    @staticmethod
    def _delete(table, identity):
        if identity not in table:
            return (errno.ENOENT, "")
        del table[identity]
        return (0, "")


class Exit(Exception):
    """What a module run ended with (exit_json or fail_json), its result in .result."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


def capture_exits(monkeypatch):
    """Make AnsibleModule's exit_json / fail_json raise Exit with the result instead of printing and exiting."""
    def exit_json(_module, **result):
        raise Exit(dict(result, failed=False))

    def fail_json(_module, msg, **result):
        raise Exit(dict(result, failed=True, msg=msg))
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
