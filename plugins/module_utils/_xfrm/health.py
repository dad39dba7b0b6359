# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a pair really up, and if not why: the health check's verdict from what both peers' kernels hold and what a
probe between them did (pure, no I/O; the ipsec_check action gathers the observations with ipsec_probe).

With manual keys nothing negotiates, so a broken pair fails silently. Each pair is checked from both ends:

- the SAs the inventory derives for each direction (SPI, key fingerprints of the generation the sender sends with),
  on the sender and on the receiver: missing on one side, or keys that differ between the two (fingerprints only:
  no key is ever compared or shown in clear);
- the policies of each side (out and in, fwd on gateways);
- the key generation each side holds (rotation.pair_status): a rotation left half done;
- a bounded echo probe each way, with the SAs' packet counters before and after (the sender's SA sent, the
  receiver's SA received, its integrity failures) and the kernel's XFRM error counters (/proc/net/xfrm_stat,
  host-wide): they tell where the packets vanished;
- each outbound SA's sequence-number headroom and when a rotation is due.

A pair is `down` when its traffic cannot flow (a missing SA or policy that carries it, keys that differ, a probe
that got no answer), `degraded` when it flows with a flaw (a rotation half done, an inbound policy missing in
transport mode: plaintext from the peer accepted, probe loss, a rotation due), `unknown` when a peer is not in
the run, else `up`. Every reason comes with the fix.
"""

from __future__ import annotations

import ipaddress

from . import constants as C
from . import keys, rotation, site
from .render import fingerprint

STATES = ("down", "degraded", "unknown", "up")  # worst first
ROTATE_PACKETS = 1 << 32  # rotation due after this many packets under one key (one sequence space)
SEQ_LOW = C.SEQ_SPACE // 100  # an SA that cannot wrap and has less headroom than this is about to stop
# /proc/net/xfrm_stat counters and what they mean for a pair (all of them count errors)
XFRM_STAT_MEANING = {
    "XfrmInNoStates": "no SA for an incoming SPI (the SA is missing on the receiver)",
    "XfrmInStateProtoError": "integrity check failed (the keys differ)",
    "XfrmInStateInvalid": "an SA in use is not valid",
    "XfrmInTmplMismatch": "a packet matched no template of its inbound policy (sent in clear, or with another SA)",
    "XfrmInNoPols": "a decrypted packet matched no inbound policy (the inbound policy is missing)",
    "XfrmInPolBlock": "an inbound policy blocked a packet",
    "XfrmOutNoStates": "no SA to send with (the outbound SA is missing)",
    "XfrmOutPolBlock": "an outbound policy blocked a packet",
    "XfrmOutStateSeqError": "an SA ran out of sequence numbers",
    "XfrmFwdHdrError": "a forwarded packet matched no fwd policy",
}


def _net(text):
    return ipaddress.ip_network(str(text), strict=False)


def _family(address):
    return ipaddress.ip_address(address).version


def _spi(value):
    return "0x%08x" % value


def limit(*hosts):
    return "re-run site_vpn.yml --limit %s" % ",".join(sorted(set(hosts)))


def rotate(pair, generation):
    return ("rotate pair %s: ipsec_pair_generations {%s: %d} in the inventory, then rotate_keys.yml"
            % (pair, pair, generation + 1))


class Observation:
    """What the check saw on one host: the snapshots before and after the probes, and its own probes."""

    def __init__(self, before, after=None, probes=(), error=None):
        self.before, self.after, self.probes, self.error = before or {}, after or {}, list(probes or ()), error
        self.sas = {(rotation.address(sa["src"]), rotation.address(sa["dst"]), sa["proto"], sa["spi"]): sa for sa in self.before.get("sas", ())}
        self.sas_after = {(rotation.address(sa["src"]), rotation.address(sa["dst"]), sa["proto"], sa["spi"]): sa
                          for sa in self.after.get("sas", ())}

    def delta(self, key, counter):
        """How much an SA's counter moved during the probes (None when the SA is not there both times)."""
        old, new = self.sas.get(key), self.sas_after.get(key)
        if old is None or new is None:
            return None
        return (new.get("counters") or {}).get(counter, 0) - (old.get("counters") or {}).get(counter, 0)

    def stat_moves(self):
        """{counter: increase} of the XFRM error counters during the probes."""
        old, new = self.before.get("xfrm_stat") or {}, self.after.get("xfrm_stat") or {}
        return {k: new[k] - old.get(k, 0) for k in sorted(new) if new[k] > old.get(k, 0)}


def expected_sas(deriver, pair, generation, collisions):
    """{(src, dst, proto): (spi, key fingerprints)} of a pair's SAs in one generation (both directions)."""
    out = {}
    for sa in site.sa_entries(deriver, pair, generation, collisions):
        prints = tuple(fingerprint(bytes.fromhex(sa[f]["key"][2:])) for f in ("enc", "auth") if f in sa)
        out[(sa["src"], sa["dst"], sa["proto"])] = (sa["spi"], prints)
    return out


def _held_prints(sa):
    return tuple((sa.get(f) or {}).get("key_fingerprint", "") for f in ("enc", "auth") if f in sa)


def _policy_held(policies, want, priority=None):
    """The kernel's policy with want's selector, direction and if_id (and priority), or None."""
    for policy in policies:
        if (_net(policy["src"]), _net(policy["dst"]), policy["dir"]) == (_net(want["src"]), _net(want["dst"]), want["dir"]) \
                and (policy.get("if_id") or 0) == (want.get("if_id") or 0) \
                and policy.get("priority") == (want["priority"] if priority is None else priority):
            return policy
    return None


class Verdict:
    """Reasons (down / degraded / unknown), fixes and figures of one pair, collected in order, each once."""

    def __init__(self):
        self.reasons = {state: [] for state in STATES}
        self.fixes = []

    def add(self, state, reason, *fixes):
        if reason not in self.reasons[state]:
            self.reasons[state].append(reason)
        self.fixes += [f for f in fixes if f and f not in self.fixes]

    @property
    def state(self):
        return next((s for s in STATES[:-1] if self.reasons[s]), "up")


def assess(deriver, pair, observed, collisions, generation, now, rotate_packets=ROTATE_PACKETS):
    """The verdict of one pair (seen from pair.local): {kind, hosts, state, reasons, fixes, generation, in_force,
    probe, headroom, sas, evidence}.

    observed: {host: Observation, or None when the host is not in the run}. generation: the site's number or a
    function pair name -> number. now: the time of the check (seconds, as the SAs' add_time)."""
    return PairCheck(deriver, pair, observed, collisions, generation, now, rotate_packets).run()


class PairCheck:
    """One pair's check: what its steps share (the pair from each end, the observations), the verdict they add
    reasons to and the figures they fill in (out)."""

    def __init__(self, deriver, pair, observed, collisions, generation, now, rotate_packets):
        self.deriver, self.pair, self.observed, self.collisions, self.generation = deriver, pair, observed, collisions, generation
        self.now, self.rotate_packets = now, rotate_packets
        a, b = pair.local.name, pair.peer.name
        self.views = {a: pair, b: pair.reversed()}
        self.seen = {h: view.address_map() for h, view in self.views.items()}  # a NATed end differs between the two
        self.target = keys.generation_of(generation)(pair.name)
        self.verdict = Verdict()
        self.out = {"kind": pair.kind, "hosts": sorted((a, b)), "generation": self.target, "in_force": {}, "probe": None,
                    "headroom": None, "rotation_due_in_s": None, "sas": [], "evidence": []}
        self.empty = ()  # hosts that hold nothing of the pair (one reason for them, not one per entry)

    def peer_of(self, host):
        return self.pair.peer.name if host == self.pair.local.name else self.pair.local.name

    def run(self):
        hosts = sorted(self.views)
        for host in hosts:
            seen = self.observed.get(host)
            if seen is None:
                self.verdict.add("unknown", "%s is not in this run: the pair was not checked" % host)
            elif seen.error:
                self.verdict.add("down", "%s could not be checked: %s" % (host, seen.error),
                                 "bring %s back, then %s" % (host, limit(host)))
        if self.verdict.state != "up":
            return self.result()
        status = {h: rotation.pair_status(self.deriver, [self.views[h]], self.generation, self.collisions,
                                          self.observed[h].before.get("sas", ()),
                                          self.observed[h].before.get("policies", ()))[self.pair.name] for h in hosts}
        self.out["in_force"] = {h: status[h]["in_force"] for h in hosts}
        self.generations(status)
        sends_with = {h: status[h]["in_force"] if status[h]["in_force"] is not None else self.target for h in hosts}
        self.empty = [h for h in hosts if status[h]["state"] == "absent" and not any(
            _policy_held(self.policies_of(h), want) for want in site.policy_entries(self.views[h], sends_with[h]))]
        if self.empty:
            self.verdict.add("down", "%s no SA and no policy of the pair (never keyed, or flushed)" % (
                "%s and %s hold" % tuple(self.empty) if len(self.empty) == 2 else "%s holds" % self.empty[0]), limit(*hosts))
        expected = {}
        for h in hosts:  # each direction in the generation its sender sends with, by the inventory's addresses
            stated = {v: k for k, v in self.seen[h].items()}
            expected.update({(stated[d[0]], stated[d[1]], d[2]): v for d, v in
                             expected_sas(self.deriver, self.views[h], sends_with[h], self.collisions).items()
                             if stated[d[0]] in self.views[h].local.addresses})
        for direction, (spi, prints) in sorted(expected.items()):
            self.sa(direction, spi, prints)
        for h in hosts:
            if h not in self.empty:
                self.policies(self.views[h], sends_with[h])
        self.probes()
        return self.result()

    def result(self):
        self.out["state"] = self.verdict.state
        self.out["reasons"] = [r for s in STATES[:-1] for r in self.verdict.reasons[s]]
        self.out["fixes"] = self.verdict.fixes
        return self.out

    def policies_of(self, host):
        return self.observed[host].before.get("policies", ())

    def generations(self, status):
        moving = {h: s["state"] for h, s in status.items() if s["state"] in rotation.MOVING}
        if moving:
            self.verdict.add("degraded", "a rotation to generation %d is unfinished (%s)"
                             % (self.target, ", ".join("%s: %s" % hs for hs in sorted(moving.items()))),
                             "re-run rotate_keys.yml with both peers of %s in the run" % self.pair.name)

    def sa(self, direction, spi, prints):
        """One direction's SA on its sender and its receiver: present, same keys, the inventory's keys; its figures.
        direction: the inventory's addresses; each kernel holds the SA by its own (across a NAT they differ)."""
        sender = self.pair.local.name if direction[0] in self.pair.local.addresses else self.pair.peer.name
        receiver = self.peer_of(sender)
        keys_of = {h: (self.seen[h][direction[0]], self.seen[h][direction[1]], direction[2], spi) for h in (sender, receiver)}
        src, dst, proto, _spi_value = key = keys_of[sender]
        label = "SA %s->%s %s %s" % (src, dst, proto, _spi(spi))
        held = {h: self.observed[h].sas.get(keys_of[h]) for h in (sender, receiver)}
        missing = sorted(h for h, sa in held.items() if sa is None and h not in self.empty)
        if missing:
            self.verdict.add("down", "%s is missing on %s" % (label, " and ".join(missing)), limit(*missing))
        elif None not in held.values():
            found = {h: _held_prints(sa) for h, sa in held.items()}
            if found[sender] != found[receiver]:
                wrong = [h for h in (sender, receiver) if found[h] != prints] or [sender, receiver]
                self.verdict.add("down", "keys differ for %s: %s holds %s, %s holds %s" % (
                    label, sender, "/".join(found[sender]), receiver, "/".join(found[receiver])), limit(*wrong),
                    "if the key set by hand may be known to someone: " + rotate(self.pair.name, self.target))
            elif found[sender] != prints:
                self.verdict.add("degraded", "%s holds keys the inventory does not derive on both %s and %s (set by hand, "
                                 "or another master secret)" % (label, sender, receiver), limit(sender, receiver))
        figures = {"src": src, "dst": dst, "proto": proto, "spi": _spi(spi), "sender": sender,
                   "sent": self.observed[sender].delta(key, "packets"),
                   "received": self.observed[receiver].delta(keys_of[receiver], "packets"),
                   "integrity_failed": self.observed[receiver].delta(keys_of[receiver], "integrity_failed")}
        if held[sender] is not None:
            figures["udp"] = bool(held[sender].get("encap"))  # ESP in UDP: across a NAT
            counters = (self.observed[sender].sas_after.get(key) or held[sender]).get("counters") or {}
            figures.update(packets=counters.get("packets"), seq_headroom=counters.get("seq_headroom"))
            self.headroom(label, held[sender], counters, figures)
        self.out["sas"].append(figures)

    def headroom(self, label, sa, counters, figures):
        """An outbound SA's sequence-number headroom, and when a rotation is due at its rate so far."""
        headroom, packets = counters.get("seq_headroom"), counters.get("packets") or 0
        if headroom is not None:
            self.out["headroom"] = headroom if self.out["headroom"] is None else min(self.out["headroom"], headroom)
        age = self.now - counters["add_time"] if counters.get("add_time") else 0
        rate = packets / age if age > 0 and packets else 0.0
        figures["rotation_due_in_s"] = due = max(0, int((self.rotate_packets - packets) / rate)) if rate else None
        if due is not None:
            self.out["rotation_due_in_s"] = min(due, self.out["rotation_due_in_s"] if self.out["rotation_due_in_s"] is not None
                                                else due)
        if packets >= self.rotate_packets:
            self.verdict.add("degraded", "rotation due: %s carried %d packets under one key (limit %d)"
                             % (label, packets, self.rotate_packets), rotate(self.pair.name, self.target))
        if headroom is not None and headroom < SEQ_LOW and "oseq-may-wrap" not in (sa.get("flags") or ()):
            self.verdict.add("degraded", "%s stops sending after %d more packets (its sequence number cannot wrap)"
                             % (label, headroom), rotate(self.pair.name, self.target))

    def policies(self, view, generation):
        """One host's policies of the pair. The fix names both peers: a run adds a pair's policies only where both
        peers are in it (a --limit to one of them leaves the pair's policies as they are)."""
        host, fix = view.local.name, limit(view.local.name, view.peer.name)
        policies = self.policies_of(host)
        for want in site.policy_entries(view, generation):
            held = _policy_held(policies, want)
            what = "policy %s %s->%s" % (want["dir"], want["src"], want["dst"])
            protos = [t["proto"] for t in want["templates"]]
            if held is None and _policy_held(policies, want, site.BYPASS_PRIORITY):
                continue  # the management path's bypass took its place (site.with_bypasses): in clear by design, warned of
            if held is None:
                # transport mode's inbound policy only keeps plaintext out: the ESP still arrives without it
                state = "degraded" if view.kind == "host" and want["dir"] == "in" else "down"
                consequence = "its plaintext is accepted" if state == "degraded" else "its traffic is dropped or leaves in clear"
                self.verdict.add(state, "%s is missing on %s: %s" % (what, host, consequence), fix)
                continue
            templates = [t["proto"] for t in held.get("templates") or ()]
            if held.get("action", "allow") != "allow" or templates != protos:
                self.verdict.add("down", "%s on %s does not require %s (action %s, templates %s)" % (
                    what, host, "+".join(protos), held.get("action", "allow"), "+".join(templates) or "none"), fix)

    def probes(self):
        """The probes of both ends across the pair, and the kernel's XFRM counters that moved meanwhile."""
        results = [dict(p, prober=h) for h in sorted(self.observed) for p in self.observed[h].probes
                   if p.get("name") == self.pair.name]
        self.out["evidence"] += ["not probed: %s" % p["skipped"] for p in results if p.get("skipped")]
        results = [p for p in results if not p.get("skipped")]
        if not results:
            return
        rtts = [p["rtt_ms"] for p in results if p.get("rtt_ms") is not None]
        self.out["probe"] = {"sent": sum(p["sent"] for p in results), "received": sum(p["received"] for p in results),
                             "rtt_ms": round(sum(rtts) / len(rtts), 3) if rtts else None, "probes": results}
        for host in sorted(self.observed):
            self.out["evidence"] += ["%s: %s +%d (%s; host-wide)" % (host, k, v, XFRM_STAT_MEANING.get(k, "an XFRM error"))
                                     for k, v in self.observed[host].stat_moves().items()]
        for probe in results:
            where = "%s -> %s (from %s)" % (probe.get("src") or probe["prober"], probe["dst"], probe["prober"])
            if probe.get("error") and not probe["sent"]:
                self.verdict.add("down", "probe %s: %s" % (where, probe["error"]), limit(probe["prober"]))
            elif probe["received"] == 0:
                self.verdict.add("down", "probe %s: no answer to %d echo requests" % (where, probe["sent"]))
                self.explain(_family(probe["dst"]))
            elif probe["received"] < probe["sent"]:
                self.verdict.add("degraded", "probe %s: %d of %d echo requests answered"
                                 % (where, probe["received"], probe["sent"]))

    def explain(self, family):
        """Where an unanswered probe's packets vanished, from the SA counters of the directions of its family."""
        for figures in self.out["sas"]:
            if _family(figures["src"]) != family or figures["sent"] is None:
                continue
            sender = figures["sender"]
            receiver = self.peer_of(sender)
            label = "%s %s->%s %s" % (figures["proto"], figures["src"], figures["dst"], figures["spi"])
            if figures["sent"] == 0:
                self.verdict.add("down", "%s sent nothing on SA %s during the probe: its outbound policy does not take "
                                 "the traffic, or its firewall drops it" % (sender, label), limit(sender, receiver))
            elif figures["integrity_failed"]:
                self.verdict.add("down", "%s's SA %s failed %d integrity checks during the probe: the keys differ"
                                 % (receiver, label, figures["integrity_failed"]), limit(sender, receiver))
            elif figures["received"] == 0:
                moves = self.observed[receiver].stat_moves()
                if moves:
                    self.verdict.add("down", "%s sent %d packets on SA %s, %s's SA received none; %s's kernel counted %s"
                                     % (sender, figures["sent"], label, receiver, receiver,
                                        ", ".join("%s +%d" % kv for kv in moves.items())), limit(receiver))
                elif figures.get("udp"):
                    self.verdict.add(
                        "down", "ESP in UDP from %s does not reach %s: %s sent %d packets on SA %s, %s's SA received none "
                        "and its kernel counted no XFRM error (dropped by the NAT or a firewall, or the NAT maps another "
                        "port than the SAs use)" % (sender, receiver, sender, figures["sent"], label, receiver),
                        "check the NAT's mapping of UDP 4500 against ipsec_gateway_nat (address and port), that "
                        "xfrm-ipsec-natt.service runs on both, and the firewalls on the path and on %s: UDP 4500 from %s "
                        "must pass (%s)" % (receiver, sender, limit(sender, receiver)))
                else:
                    self.verdict.add(
                        "down", "ESP from %s does not reach %s: %s sent %d packets on SA %s, %s's SA received none and its "
                        "kernel counted no XFRM error (dropped on the way or by a firewall before decryption)"
                        % (sender, receiver, sender, figures["sent"], label, receiver),
                        "check the firewalls on the path and on %s (nft list ruleset): ESP (IP protocol 50) from %s must "
                        "pass; the ipsec_firewall role's table accepts it (%s)" % (receiver, sender, limit(receiver)))


def in_words(seconds):
    """A delay as people say it: "in 3 h", "in 49 days", "now"."""
    if seconds <= 0:
        return "now"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return "in %d %s" % (seconds // size, unit)
    return "in %d s" % seconds


def figures_line(entry):
    """A pair's figures in words: probe, smallest sequence-number headroom, when a rotation is due."""
    out = []
    probe = entry.get("probe")
    if probe:
        out.append("probe %d/%d answered%s" % (probe["received"], probe["sent"],
                                               ", %.1f ms" % probe["rtt_ms"] if probe["rtt_ms"] is not None else ""))
    if entry.get("headroom") is not None:
        out.append("seq headroom {:,} packets".format(entry["headroom"]))
    if entry.get("rotation_due_in_s") is not None:
        out.append("rotation due %s at the current rate" % in_words(entry["rotation_due_in_s"]))
    return "; ".join(out)


def worst_first(pairs):
    """[(name, verdict)] of pairs, down first, then degraded, unknown, up; by name within a state."""
    return sorted(pairs.items(), key=lambda kv: (STATES.index(kv[1]["state"]), kv[0]))


def report_lines(pairs):
    """One line per pair, worst first: "gw1~gw2 down: reason; reason -> fix: fix; fix (figures)"."""
    lines = []
    for name, entry in worst_first(pairs):
        line = "%s %s" % (name, entry["state"])
        if entry["reasons"]:
            line += ": " + "; ".join(entry["reasons"])
        if entry["fixes"]:
            line += " -> fix: " + "; ".join(entry["fixes"])
        if figures_line(entry):
            line += " (%s)" % figures_line(entry)
        lines.append(line)
    return lines


def metrics(pairs, host, checked_at):
    """The Prometheus text (node_exporter textfile collector) of one host's pairs: state, probe, SA counters."""
    lines = []

    def family(metric, kind, text, samples):
        lines.extend(["# HELP %s %s" % (metric, text), "# TYPE %s %s" % (metric, kind)])
        for labels, value in samples:
            shown = ",".join('%s="%s"' % (k, _label(v)) for k, v in labels)
            lines.append("%s%s %s" % (metric, "{%s}" % shown if shown else "", value))
    mine = {name: entry for name, entry in sorted(pairs.items()) if host in entry["hosts"]}
    family("xfrm_ipsec_pair_state", "gauge", "1 for the state the last check found the pair in (up, degraded, down, "
           "unknown)", [((("pair", n), ("state", s)), int(e["state"] == s)) for n, e in mine.items() for s in STATES])
    family("xfrm_ipsec_pair_probe_sent", "gauge", "Echo requests of the last check's probe, both ways",
           [((("pair", n),), e["probe"]["sent"]) for n, e in mine.items() if e["probe"]])
    family("xfrm_ipsec_pair_probe_received", "gauge", "Echo replies of the last check's probe, both ways",
           [((("pair", n),), e["probe"]["received"]) for n, e in mine.items() if e["probe"]])
    sas = [(n, sa) for n, e in mine.items() for sa in e["sas"] if sa["sender"] == host and sa.get("packets") is not None]
    for metric, field, text in (("xfrm_ipsec_sa_packets", "packets", "Packets sent on this host's outbound SA"),
                                ("xfrm_ipsec_sa_seq_headroom", "seq_headroom", "Packets left before the SA's 32-bit "
                                 "sequence number wraps")):
        family(metric, "gauge", text, [((("pair", n), ("src", sa["src"]), ("dst", sa["dst"]), ("proto", sa["proto"]),
                                         ("spi", sa["spi"])), sa[field]) for n, sa in sas if sa.get(field) is not None])
    family("xfrm_ipsec_pair_rotation_due_seconds", "gauge", "Seconds until a rotation is due at the current rate "
           "(the pair's busiest SA)", [((("pair", n),), e["rotation_due_in_s"]) for n, e in mine.items()
                                       if e.get("rotation_due_in_s") is not None])
    family("xfrm_ipsec_check_timestamp_seconds", "gauge", "When the last check ran (Unix time)", [((), checked_at)])
    return "\n".join(lines) + "\n"


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
