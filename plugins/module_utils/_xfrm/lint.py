# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A safety lint of IPsec state: what a reviewer of a setkey file or of a host's SAD/SPD would flag.

The state is model values (SAs, policies): a kernel's dump, a setkey file's result (setkey.desired_state) or a
plan. Each check is a small function in CHECKS that yields Findings: an id, a severity, the entry it is about and
a fix hint. Checks about a pair need the peer's state too: `lint` takes the states of several hosts.

Command line, for setkey files (no Ansible needed):
    python3 -m ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.lint [--management NET] host1.conf [host2.conf ...]
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from . import constants as C
from .model import Address
from .validate import COUNTER_MODE

ERROR, WARNING = "error", "warning"
WEAK = frozenset(a.name for a in C.ALGORITHMS if a.weak)
IN, OUT, FWD = C.XFRM_POLICY_DIRS["in"], C.XFRM_POLICY_DIRS["out"], C.XFRM_POLICY_DIRS["fwd"]
TRANSPORT = C.XFRM_MODES["transport"]


class Finding(NamedTuple):
    id: str
    severity: str
    host: str
    entry: str
    message: str
    hint: str

    def as_result(self):
        """The finding as a module result reports it (the host is the task's own)."""
        return {k: v for k, v in self._asdict().items() if k != "host"}

    def __str__(self):
        where = "%s: " % self.host if self.host else ""
        return "%s%s [%s] %s: %s (fix: %s)" % (where, self.severity, self.id, self.entry, self.message, self.hint)


class State(NamedTuple):
    """One host's SAs and policies (model values)."""

    host: str
    sas: tuple
    policies: tuple


# -- checks: one function each, one row in CHECKS --------------------------------------------

def _weak_algorithms(state, _states, _management):
    for sa in state.sas:
        for algo in (sa.enc, sa.auth, sa.aead):
            if algo is not None and algo.name in WEAK:
                yield ERROR, "weak-algorithm", sa, "%s is broken or too weak" % algo.name, \
                    "rotate to cbc(aes) 256 with hmac(sha256) (the roles' default)"


def _static_key_counter_mode(state, _states, _management):
    for sa in state.sas:
        for algo in (sa.enc, sa.aead):
            if algo is not None and algo.name in COUNTER_MODE:
                yield ERROR, "counter-mode-static-key", sa, \
                    "%s takes its nonce from the sequence number, which restarts at every reboot with manual keys" \
                    % algo.name, "use cbc(aes) with hmac(sha256), or rotate keys at every boot"


def _replay_window(state, _states, _management):
    for sa in state.sas:
        if sa.replay_window:
            yield WARNING, "replay-window-manual-keys", sa, \
                "a replay window of %d with manual keys drops the peer's packets after it reboots (its sequence numbers " \
                "restart at 1) until they overtake the old ones" % sa.replay_window, "replay_window: 0, as setkey had"


def _use_level(state, _states, _management):
    for policy in state.policies:
        if policy.dir == OUT and any(t.optional for t in policy.templates):
            yield WARNING, "use-level", policy, \
                "level use sends the traffic in clear whenever the SA is missing", "level required (setkey's require)"


def _out_without_in(state, _states, _management):
    inbound = {(p.selector.dst, p.selector.src, p.selector.proto) for p in state.policies if p.dir == IN}
    for policy in state.policies:
        sel = policy.selector
        if policy.dir == OUT and policy.templates and (sel.src, sel.dst, sel.proto) not in inbound:
            yield ERROR, "out-without-in", policy, \
                "outbound traffic is protected but nothing requires the peer's traffic to be: plaintext spoofing its " \
                "address is accepted", "add the in policy (%s -> %s, dir in, the same templates reversed)" % (sel.dst, sel.src)


def _policy_without_sa(state, _states, _management):
    for policy in state.policies:
        if policy.dir != OUT:
            continue
        for template in policy.templates:
            if template.optional:
                continue
            dst = template.dst if template.mode != TRANSPORT else _host(policy.selector.dst)
            if dst is None:
                continue  # a transport policy over a network: its SAs are per host, not checkable here
            if not any(sa.dst == dst and sa.proto == template.proto and sa.mode == template.mode
                       and (template.reqid in (0, sa.reqid)) and (not template.spi or template.spi == sa.spi)
                       for sa in state.sas):
                yield ERROR, "policy-without-sa", policy, \
                    "no %s %s SA toward %s%s: this traffic is dropped" % (
                        C.name("proto", template.proto), C.name("mode", template.mode), dst,
                        " with reqid %d" % template.reqid if template.reqid else ""), \
                    "add the SA (mode and reqid as the template's; setkey's -m any is transport on Linux)"


def _spi_reused(state, _states, _management):
    seen = {}
    for sa in state.sas:
        key = (sa.dst, sa.spi)
        if key in seen and seen[key].proto != sa.proto:
            yield WARNING, "spi-reused", sa, "SPI 0x%08x is also %s's at %s" % (sa.spi, seen[key], sa.dst), \
                "give every SA toward one destination its own SPI"
        seen.setdefault(key, sa)


def _asymmetric(state, states, _management):
    """Pairs: both directions on this host, and every SA the same (keys included) on the peer, where its state is known."""
    for sa in state.sas:
        if not any(o.src == sa.dst and o.dst == sa.src and o.proto == sa.proto for o in state.sas):
            yield WARNING, "asymmetric-pair", sa, "no SA back from %s to %s" % (sa.dst, sa.src), \
                "add the reverse SA (both peers hold both directions)"
        for other in states:
            if other.host == state.host or not {sa.src, sa.dst} & _own_addresses(other):
                continue
            theirs = next((o for o in other.sas if o.identity == sa.identity), None)
            if theirs is None:
                yield ERROR, "sa-missing-on-peer", sa, "%s does not hold this SA" % other.host, \
                    "apply the same SA on %s" % other.host
            elif (theirs.enc, theirs.auth, theirs.aead) != (sa.enc, sa.auth, sa.aead):
                yield ERROR, "keys-differ", sa, "%s holds this SA with other algorithms or keys" % other.host, \
                    "derive both ends from one source (the roles), or copy the same keys"


def _own_addresses(state):
    """The addresses a host sends IPsec from, as its out policies say: transport selectors' sources, tunnels' ends."""
    out = set()
    for policy in state.policies:
        if policy.dir == OUT:
            for template in policy.templates:
                own = template.src if template.mode != TRANSPORT else _host(policy.selector.src)
                if own is not None:
                    out.add(own)
    return out


def _covers_management(state, _states, management):
    for policy in state.policies:
        if not (policy.templates or policy.action == C.XFRM_POLICY_ACTIONS["block"]):
            continue
        remote = policy.selector.dst if policy.dir == OUT else policy.selector.src
        for net in management:
            if net.version == (6 if remote.family == C.AF_INET6 else 4) and net.overlaps(_ip_network(remote)) \
                    and not _bypassed(state, policy, net):
                yield ERROR, "covers-management", policy, "it covers the management network %s: a missing or wrong " \
                    "SA locks the controller out" % net, "narrow the selector, or add a bypass policy (action allow, " \
                    "no templates, a lower priority value) for %s" % net


def _bypassed(state, policy, net):
    """A bypass policy (allow, no templates) of the same direction that wins over policy covers net."""
    for bypass in state.policies:
        if bypass.dir != policy.dir or bypass.templates or bypass.action != C.XFRM_POLICY_ACTIONS["allow"] \
                or bypass.priority >= policy.priority:
            continue
        remote = _ip_network(bypass.selector.dst if bypass.dir == OUT else bypass.selector.src)
        if remote.version == net.version and net.subnet_of(remote):
            return True
    return False


CHECKS = (_weak_algorithms, _static_key_counter_mode, _replay_window, _use_level, _out_without_in,
          _policy_without_sa, _spi_reused, _asymmetric, _covers_management)


def lint(states, management=()):
    """[Finding] of every host's state; management: networks (text) the controller reaches the hosts from."""
    from .render import describe  # pylint: disable=import-outside-toplevel

    nets = [ipaddress.ip_network(str(m), strict=False) for m in management]
    states = list(states)
    out = []
    for state in states:
        for check in CHECKS:
            for severity, check_id, entry, message, hint in check(state, states, nets):
                out.append(Finding(check_id, severity, state.host, describe(entry), message, hint))
    return out


def _host(network):
    """The address of a /32 or /128 selector side, as the Address an SA has; None for a wider network."""
    if network.prefixlen != len(network.packed) * 8:
        return None
    return Address(network.family, network.packed)


def _ip_network(network):
    """A selector side (model Network) as an ipaddress network, to compare with the management networks."""
    return ipaddress.ip_network(str(network), strict=False)


def lint_setkey(files, management=(), allow_weak_algorithms=True):
    """lint() of setkey files: {host name: text}. Weak algorithms are read (and reported), not refused."""
    from . import setkey  # pylint: disable=import-outside-toplevel
    from .validate import ValidationError  # pylint: disable=import-outside-toplevel

    flags = {"allow_weak_algorithms": allow_weak_algorithms, "allow_static_counter_mode": True}
    states = []
    for host, text in files.items():
        sas, policies, errors = setkey.desired_state(setkey.parse(text), [], [], *setkey.validators(flags, set()))
        if errors:
            raise ValidationError(["%s: %s" % (host, e) for e in errors])
        states.append(State(host, tuple(sas.values()), tuple(policies.values())))
    return lint(states, management)


def main(argv=None):
    import argparse  # pylint: disable=import-outside-toplevel
    import pathlib  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    from . import setkey  # pylint: disable=import-outside-toplevel
    from .validate import ValidationError  # pylint: disable=import-outside-toplevel

    parser = argparse.ArgumentParser(description="Lint setkey files; the peers of a pair are checked together.")
    parser.add_argument("--management", action="append", default=[], help="a network the hosts are managed from")
    parser.add_argument("files", nargs="+", help="setkey files, one per host (the host is the file's name)")
    args = parser.parse_args(argv)
    try:
        findings = lint_setkey({pathlib.Path(f).stem: pathlib.Path(f).read_text() for f in args.files}, args.management)
    except (setkey.SetkeyError, ValidationError) as exc:
        sys.stderr.write("error: %s\n" % exc)
        return 2
    sys.stdout.write("".join(str(finding) + "\n" for finding in findings))
    return 1 if any(f.severity == ERROR for f in findings) else 0


if __name__ == "__main__":
    raise SystemExit(main())
