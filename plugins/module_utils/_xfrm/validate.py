# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every rule checked before the kernel is touched: user options -> model values.

Two kinds of checks. A field is parsed by its Checker method (a number in range, an address, a
key in setkey's forms, an algorithm's name); a rule that relates fields of one entry is a small
pure function in SA_RULES, POLICY_RULES, TEMPLATE_RULES, TEMPLATE_LIST_RULES or ALGORITHM_RULES,
following iproute2's table (ip/xfrm_state.c, ip/xfrm_policy.c) and the kernel's own checks
(verify_newsa_info, validate_tmpl), so that a request that passes here is one the kernel accepts.
A rule takes the entry's parsed fields (a dict) and returns [(field, message)]. All errors of a
request are collected and reported together, each named by its path (`sas[3].enc.key: ...`); a
request with any error changes nothing.

Lists of thousands of entries repeat the same few algorithms and template lists: what depends
on those alone is a pure function memoised with functools.lru_cache (the core's one caching
idiom), returning its findings with paths relative to the option, which each entry prefixes with
its own path.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from . import constants as C
from .model import (
    SA, Address, Network, HostBitsSet, Algo, Encap, Lifetime, Mark, Policy, Selector, Template, SAId, PolicyId,
    NO_MARK, EMPTY_SELECTOR, NO_LIFETIME, is_managed_number,
)

U32 = 0xFFFFFFFF
LIFETIME_FIELDS = Lifetime._fields
# Counter-mode ciphers take their nonce from the ESP sequence number, which manual keying
# restarts at 1 after every reboot: the same key then encrypts under reused nonces.
COUNTER_MODE = ("rfc4106(gcm(aes))", "rfc4309(ccm(aes))", "rfc7539esp(chacha20,poly1305)", "rfc3686(ctr(aes))")
MODES = {k: C.XFRM_MODES[k] for k in ("transport", "tunnel", "beet")}
BITS_FIELDS = {"auth": "trunc_len", "aead": "icv_len"}
ALGO_KINDS = ("enc", "auth", "aead", "comp")
PORT_PROTOS = (6, 17, 132, 33, 1, 58)  # tcp udp sctp dccp, icmp/icmpv6 (type and code)
MAX_DEPTH = 6  # XFRM_MAX_DEPTH: templates per policy
ANY = ("any", "*")
SHOWN = 60  # characters of a user's value a message repeats at most
ALGORITHM_NAME = re.compile(r"^[a-z0-9()_,-]{1,40}$", re.IGNORECASE)
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# What an option left out means: the modules' argument specs take their defaults from here too
DEFAULTS = {
    "sa": {"proto": "esp", "mode": "transport", "replay_window": 0, "state": "present"},
    "policy": {"action": "allow", "priority": 0, "ptype": "main", "state": "present"},
    "selector": {"src": "any", "dst": "any", "proto": "any"},
    "template": {"proto": "esp", "mode": "transport", "level": "required"},
    "encap": {"type": "espinudp", "sport": 4500, "dport": 4500},
}
_SA, _POLICY, _TEMPLATE, _ENCAP = DEFAULTS["sa"], DEFAULTS["policy"], DEFAULTS["template"], DEFAULTS["encap"]
# iproute2's table (ip/xfrm_state.c): protocol -> (its name, algorithm options it takes, one of which it needs, what it takes)
SA_ALGORITHMS = {
    "esp": ("ESP", ("enc", "auth", "aead"), ("enc", "aead"), "takes enc (with auth) or aead"),
    "ah": ("AH", ("auth",), ("auth",), "takes auth only"),
    "comp": ("IPComp", ("comp",), ("comp",), "takes comp only"),
}


class ValidationError(ValueError):
    """A request with one or more invalid fields; str() lists them all."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


def shown(value, limit=SHOWN):
    """A user's value as a message repeats it: repr(), cut to `limit` characters with the length said."""
    text = repr(value)
    return text if len(text) <= limit else "%s... (%d characters)" % (text[:limit], len(text))


# -- rules: one function each, one row in its table ------------------------------------
# A rule reads the facts of one entry (below) and returns [(field, message)], or (field, "warning",
# message) for a warning. Facts are hashable, so the findings of a table are memoised per distinct facts.

class SAFacts(NamedTuple):
    proto_name: str
    mode_name: str
    algorithms: tuple       # the algorithm options given: enc, auth, aead, comp
    encap: bool             # UDP encapsulation given
    selector_family: int    # 0 for no selector
    dst_family: int         # 0 when dst did not parse


class PolicyFacts(NamedTuple):
    action_name: str
    templates: int          # how many


class TemplateFacts(NamedTuple):
    mode_name: str
    src: object             # Address or None
    dst: object
    optional: bool
    direction: str          # the policy's dir as given


class TemplateListFacts(NamedTuple):
    templates: tuple        # the Templates
    family: int             # the selector's (None when it did not parse)


class AlgorithmFacts(NamedTuple):
    algorithm: object       # constants.Algorithm
    name: str               # as given
    bits_field: str         # trunc_len, icv_len or None
    bits: int
    allow_weak: bool
    allow_static_counter_mode: bool


def _algorithms_fit_the_protocol(f):
    noun, allowed, needed, takes = SA_ALGORITHMS.get(f.proto_name, ("", (), (), ""))
    out = [(k, "%s %s" % (noun, takes)) for k in f.algorithms if k not in allowed]
    if needed and not any(k in f.algorithms for k in needed):
        out.append((needed[0], "%s needs %s" % (noun, " or ".join(needed))))
    return out


def _aead_alone(f):
    given = f.algorithms
    return [("aead", "aead replaces enc and auth: give aead alone")] if "aead" in given and ("enc" in given or "auth" in given) else []


def _beet_is_for_esp(f):
    return [("mode", "BEET mode is for ESP only")] if f.mode_name == "beet" and f.proto_name != "esp" else []


def _encap_is_for_esp(f):
    return [("encap", "UDP encapsulation is for ESP only")] if f.encap and f.proto_name != "esp" else []


def _transport_selector_keeps_the_family(f):
    if f.mode_name == "transport" and f.dst_family and f.selector_family and f.selector_family != f.dst_family:
        return [("selector", "a transport-mode selector must be of the SA's address family")]
    return []


SA_RULES = (_algorithms_fit_the_protocol, _aead_alone, _beet_is_for_esp, _encap_is_for_esp,
            _transport_selector_keeps_the_family)


def _block_takes_no_templates(f):
    return [("templates", "a block policy takes no templates")] if f.action_name == "block" and f.templates else []


POLICY_RULES = (_block_takes_no_templates,)


def _tunnel_needs_endpoints(f):
    if f.mode_name in ("tunnel", "beet") and (f.src is None or f.dst is None):
        return [("", "%s mode needs src and dst (the tunnel endpoints)" % f.mode_name)]
    return []


def _endpoints_are_specified(f):
    return [(end, "%s is not a tunnel endpoint: give the address this end sends from or to" % (address,))
            for end, address in (("src", f.src), ("dst", f.dst)) if address is not None and address.unspecified]


def _no_optional_tunnel_on_output(f):
    if f.optional and f.mode_name in ("tunnel", "beet") and f.direction == "out":
        return [("level", "use (optional) is not allowed for a %s-mode template of an out policy "
                          "(the kernel refuses it); use required" % f.mode_name)]
    return []


def _transport_takes_no_endpoints(f):
    if f.mode_name == "transport" and (f.src is not None or f.dst is not None):
        return [("src" if f.src is not None else "dst", "a transport-mode template takes no src/dst: the kernel uses the "
                 "packet's own addresses (endpoints are for mode: tunnel)")]
    return []


TEMPLATE_RULES = (_tunnel_needs_endpoints, _endpoints_are_specified, _no_optional_tunnel_on_output,
                  _transport_takes_no_endpoints)


def _at_most_max_depth(f):
    count = len(f.templates)
    return [("", "%d templates given, the kernel takes at most %d (XFRM_MAX_DEPTH)" % (count, MAX_DEPTH))] if count > MAX_DEPTH else []


def _transport_templates_keep_the_family(f):
    out, family = [], f.family
    for i, template in enumerate(f.templates):
        if template.mode == C.XFRM_MODES["transport"] and family and template.family != family:
            out.append(("[%d]" % i, "a transport-mode template cannot change the address family (the traffic before it "
                                    "is IPv%d); only tunnel or beet mode can" % (6 if family == C.AF_INET6 else 4)))
        family = template.family
    return out


TEMPLATE_LIST_RULES = (_at_most_max_depth, _transport_templates_keep_the_family)


def _weak_needs_the_opt_in(f):
    alg = f.algorithm
    if not alg.weak:
        return []
    if not f.allow_weak:
        return [("algorithm", "%s (%s) is weak and refused; set allow_weak_algorithms: true to use it anyway"
                 % (f.name, alg.name))]
    return [("algorithm", "warning", "%s (%s) is weak; allowed by allow_weak_algorithms" % (f.name, alg.name))]


def _counter_mode_needs_the_opt_in(f):
    if f.algorithm.name in COUNTER_MODE and not f.allow_static_counter_mode:
        return [("algorithm", "%s with manual keys reuses nonces after every reboot (sequence numbers restart); "
                 "set allow_static_counter_mode: true only if keys are rotated at every boot" % f.algorithm.name)]
    return []


def _bits_are_the_algorithm_s(f):
    alg, field, bits = f.algorithm, f.bits_field, f.bits
    if field and bits not in alg.bits:
        return [(field, "%d bits given, %s takes %s" % (bits, alg.name, " or ".join(map(str, alg.bits))))]
    return []


ALGORITHM_RULES = (_weak_needs_the_opt_in, _counter_mode_needs_the_opt_in, _bits_are_the_algorithm_s)


def _findings(rules, facts):
    return [finding for rule in rules for finding in rule(facts)]


@functools.lru_cache(maxsize=1024)
def _memoised_findings(rules, facts_type, *facts):
    """A table's findings for facts that repeat across a list (most entries of a list share them); the facts
    are given as plain arguments, so that an entry whose facts were seen before builds no facts object."""
    return tuple(_findings(rules, facts_type(*facts)))


# -- pure, memoised parts: the same for every entry that repeats them ---------------------

@functools.lru_cache(maxsize=1024)
def _algorithm(kind, name, bits_given, allow_weak, allow_static_counter_mode):
    """(table entry or None, ICV/truncation bits, findings relative to the algorithm option)."""
    alg = C.ALGORITHM_NAMES.get((kind, str(name).lower() if name is not None else None))
    if alg is None:
        known = sorted({a.name for a in C.ALGORITHMS if a.kind == kind} | {s for a in C.ALGORITHMS if a.kind == kind for s in a.aliases})
        # a key pasted into the name is not repeated in the message (the name option is not no_log)
        given = shown(name) if isinstance(name, str) and ALGORITHM_NAME.match(name) else \
            "the value given (%d characters, not shown: it is not an algorithm's name and may be a key)" % len(str(name))
        return None, 0, (("algorithm", "%s is not a known %s algorithm (%s)" % (given, kind, ", ".join(known))),)
    field = BITS_FIELDS.get(kind)
    checker = Checker()
    bits = checker.number(bits_given, field or "", 0, 512, default=alg.bits[0]) if field else 0
    facts = AlgorithmFacts(alg, name, field, bits, allow_weak, allow_static_counter_mode)
    return alg, bits, tuple(checker.findings + _findings(ALGORITHM_RULES, facts))


@functools.lru_cache(maxsize=1024)
def _template_list(given, family, direction):
    """(templates, findings relative to the templates option) of a template list given as sorted item tuples."""
    checker = Checker()
    templates = tuple(checker.template(dict(items), "[%d]" % i, family, direction) for i, items in enumerate(given))
    checker.add(_findings(TEMPLATE_LIST_RULES, TemplateListFacts(templates, family)))
    return templates, tuple(checker.findings)


def _memoised(function, *args):
    """function(*args) through its lru_cache, or uncached for an argument that cannot be hashed (a user's odd value)."""
    try:
        return function(*args)
    except TypeError:
        return function.__wrapped__(*args)


class Checker:
    """Parses fields into model values, collecting findings (path, message) and warnings (path, "warning", message)."""

    def __init__(self, allow_weak=False, allow_static_counter_mode=False):
        self.findings = []
        self.allow_weak = allow_weak
        self.allow_static_counter_mode = allow_static_counter_mode

    def error(self, path, message):
        self.findings.append((path, message))

    def add(self, findings, prefix=""):
        """Findings of a rule or a memoised part, their paths made absolute with prefix."""
        for finding in findings:
            self.findings.append((_join(prefix, finding[0]),) + tuple(finding[1:]))

    @property
    def errors(self):
        return ["%s: %s" % (path.lstrip("."), f[0]) for path, *f in self.findings if len(f) == 1]

    @property
    def warnings(self):
        return ["%s: %s" % (path.lstrip("."), f[1]) for path, *f in self.findings if len(f) == 2]

    def raise_if_errors(self):
        if self.errors:
            raise ValidationError(self.errors)

    # -- scalars ---------------------------------------------------------------

    def number(self, value, path, low=0, high=U32, default=0):
        """An integer given as int, decimal or 0x hex text, within [low, high]."""
        if value is None:
            return default
        if isinstance(value, str) and not value.strip():
            self.error(path, "empty: give a number or leave the option out")
            return default
        try:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ValueError
            number = value if isinstance(value, int) else int(str(value).strip(), 0)
        except ValueError:
            self.error(path, "%s is not a number (decimal or 0x hex)" % shown(value))
            return default
        if not low <= number <= high:
            self.error(path, "%d is out of range %d-%d" % (number, low, high))
            return default
        return number

    def choice(self, value, path, table, default=None):
        if value is None:
            return default
        key = str(value).lower()
        if key not in table:
            self.error(path, "%s is not one of %s" % (shown(value), ", ".join(sorted(table))))
            return default
        return table[key]

    def address(self, value, path, family=None):
        """One host address; None when missing (the caller decides whether that is an error) or invalid."""
        if value is None:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            if not value.strip():
                self.error(path, "empty: give an IPv4 or IPv6 address")
                return None
            address = Address.parse(value)
        except ValueError:
            self.error(path, "%s is not an IPv4 or IPv6 address" % shown(value))
            return None
        if family and address.family != family:
            self.error(path, "%s is not of the same address family as the other end" % (address,))
        return address

    def network(self, value, path):
        """An address with optional prefix (not 'any': the caller tells that apart first), or None when invalid."""
        try:
            if not isinstance(value, str):
                raise ValueError
            if not value.strip():
                self.error(path, "empty: give an address, address/prefix, or 'any' for every address")
                return None
            return Network.parse(value)
        except HostBitsSet as exc:
            self.error(path, str(exc))
        except ValueError:
            self.error(path, "%s is not an address or address/prefix (or 'any')" % shown(value))
        return None

    def upper_proto(self, value, path):
        if value is None:
            return 0
        text = str(value).strip().lower()
        if text in C.UPPER_PROTOS:
            return C.UPPER_PROTOS[text]
        if not text.isdigit():
            self.error(path, "%s is not a protocol: a name (%s) or a number 0-255" % (shown(value), ", ".join(
                sorted(C.UPPER_PROTOS))))
            return 0
        return self.number(text, path, 0, 255)

    def key(self, value, path):
        """Key bytes from setkey's forms: 0x hex, or ASCII text in double quotes ("..."), or unquoted ASCII text
        that cannot be mistaken for hex digits; None when invalid (the error says why, without the key)."""
        if value is None:
            self.error(path, "a key is required")
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            self.error(path, "a number, not a string: YAML reads an unquoted 0x... as an integer; quote the key "
                             "(key: \"0x...\")")
            return None
        if not isinstance(value, str):
            self.error(path, "a string is required (0x hex, or ASCII text in double quotes), got %s" % type(value).__name__)
            return None
        if value[:2].lower() == "0x":
            bad = next((i for i, c in enumerate(value[2:]) if c not in HEX_DIGITS and c != "_"), None)
            digits = value[2:].replace("_", "")
            if bad is not None or not digits:
                self.error(path, "the 0x form takes hex digits (0-9, a-f) only: %s" % (
                    "none given" if bad is None else "character %d is %s" % (
                        bad + 3, "a space" if value[2 + bad].isspace() else "not one")))
                return None
            if len(digits) % 2:
                self.error(path, "the 0x form needs whole bytes: an even number of hex digits, %d given" % len(digits))
                return None
            return bytes.fromhex(digits)
        text = value
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        elif len(text) >= 8 and set(text) <= HEX_DIGITS:
            self.error(path, "%d hex digits without 0x: write 0x in front of a hex key, or put an ASCII key in double "
                             "quotes (\"...\")" % len(text))
            return None
        try:
            return text.encode("ascii")
        except UnicodeEncodeError:
            self.error(path, "an ASCII key may hold ASCII characters only; use the 0x hex form for binary keys")
            return None

    # -- composite values ----------------------------------------------------

    def algo(self, kind, options, path):
        """An Algo from {algorithm, key, trunc_len|icv_len}; the key is checked for every SA, the rest once per algorithm."""
        if not options:
            return None
        field = BITS_FIELDS.get(kind)
        alg, bits, findings = _memoised(_algorithm, kind, options.get("algorithm"), options.get(field) if field else None,
                                        self.allow_weak, self.allow_static_counter_mode)
        if findings:
            self.add(findings, path)
        if alg is None:
            return None
        key = b""
        if kind != "comp":
            given = options.get("key")
            key = self.key(given, path + ".key") if alg.key_bits != (0,) or given else b""
            if key is None:
                return None
            if len(key) * 8 not in alg.key_bits:
                self.error(path + ".key", "%d bytes given, %s takes %s" % (len(key), alg.name, _byte_sizes(alg.key_bits)))
        return Algo(alg.name, key, bits)

    def mark(self, options, path):
        if not options:
            return NO_MARK
        mark = Mark(value=self.number(options.get("value"), path + ".value"),
                    mask=self.number(options.get("mask"), path + ".mask", default=U32))
        if mark.value & ~mark.mask & U32:
            self.error(path + ".value", "0x%x has bits outside the mask 0x%x: no packet's (mark & mask) can equal it"
                       % (mark.value, mark.mask))
        return mark

    def lifetime(self, options, path):
        if not options:
            return NO_LIFETIME
        for name in sorted(set(options) - set(LIFETIME_FIELDS)):
            self.error("%s.%s" % (path, name), "unknown limit; known: %s" % ", ".join(LIFETIME_FIELDS))
        lifetime = Lifetime(**{name: self.number(options[name], "%s.%s" % (path, name), 0, C.XFRM_INF)
                               for name in LIFETIME_FIELDS if options.get(name) is not None})
        for name in (n for n in LIFETIME_FIELDS if n.startswith("soft_")):
            hard = "hard_" + name[len("soft_"):]
            soft_value, hard_value = getattr(lifetime, name), getattr(lifetime, hard)
            if hard_value not in (0, C.XFRM_INF) and soft_value not in (0, C.XFRM_INF) and soft_value > hard_value:
                self.error("%s.%s" % (path, name), "%d is above %s %d: the soft limit warns before the hard one "
                           "ends the SA" % (soft_value, hard, hard_value))
        return lifetime

    def selector(self, options, path, default_family=None):
        """A Selector from {src, dst, proto, sport, dport}; 'any' takes the other side's family."""
        src, dst = options.get("src"), options.get("dst")
        src = "any" if _is_any(src) else self.network(src, path + ".src")
        dst = "any" if _is_any(dst) else self.network(dst, path + ".dst")
        if src is None or dst is None:
            return None
        if src == "any" and dst == "any":
            family = default_family or C.AF_INET
        elif src == "any" or dst == "any":
            family = (dst if src == "any" else src).family
        elif src.family != dst.family:
            self.error(path + ".dst", "%s is not of the address family of src %s" % (dst, src))
            return None
        else:
            family = src.family
        proto = self.upper_proto(options.get("proto"), path + ".proto")
        sport = self.number(options.get("sport"), path + ".sport", 0, 0xFFFF)
        dport = self.number(options.get("dport"), path + ".dport", 0, 0xFFFF)
        if (sport or dport) and proto not in PORT_PROTOS:
            self.error(path + (".sport" if sport else ".dport"), "ports need proto tcp, udp, sctp, dccp (or icmp type/code)")
        return Selector(family=family, src=Network.any(family) if src == "any" else src,
                        dst=Network.any(family) if dst == "any" else dst, proto=proto,
                        sport=sport, sport_mask=0xFFFF if sport else 0, dport=dport, dport_mask=0xFFFF if dport else 0)

    # -- SA ----------------------------------------------------------------------

    def sa(self, options, path):
        """An SA (state present) or an SAId (state absent) from one entry of ipsec_sa."""
        get = options.get  # each option is read once: lists of 10,000 SAs pass through here
        proto_name = str(get("proto") or _SA["proto"]).lower()
        proto = self.choice(proto_name, path + ".proto", C.XFRM_PROTOS, 0)
        dst_text, spi_given = get("dst"), get("spi")
        if dst_text is None:
            self.error(path + ".dst", "required")
        dst = self.address(dst_text, path + ".dst")
        spi_low, spi_high = (1, 0xFFFF) if proto_name == "comp" else (256, U32)
        if spi_given is None:
            self.error(path + ".spi", "required (%s %d-%d)" % ("CPI" if proto_name == "comp" else "SPI", spi_low, spi_high))
        spi = self.number(spi_given, path + ".spi", spi_low, spi_high)
        mark = self.mark(get("mark"), path + ".mark")
        if (get("state") or _SA["state"]) == "absent":
            return SAId(dst, spi, proto, mark) if dst is not None else None

        src_text = get("src")
        if src_text is None:
            self.error(path + ".src", "required")
        src = self.address(src_text, path + ".src", dst.family if dst is not None else None)
        mode_name = str(get("mode") or _SA["mode"]).lower()
        mode = self.choice(mode_name, path + ".mode", MODES, 0)
        reqid = self.number(get("reqid"), path + ".reqid", default=C.MANAGED_MIN)
        if not is_managed_number(reqid):
            self.findings.append((path + ".reqid", "warning", "%d is outside the managed range 0x%x-0x%x: exclusive and "
                                  "ipsec_flush scope=managed will not see this SA" % (reqid, C.MANAGED_MIN, C.MANAGED_MAX)))
        given = [k for k in ALGO_KINDS if get(k)]
        algos = {k: self.algo(k, options[k], "%s.%s" % (path, k)) for k in given}
        flags = 0
        for i, flag in enumerate(get("flags") or ()):
            flags |= self.choice(flag, "%s.flags[%d]" % (path, i), C.XFRM_STATE_FLAGS, 0)
        encap = None
        if get("encap"):
            encap = self.encap(get("encap"), path + ".encap", dst.family if dst is not None else None)
        selector = EMPTY_SELECTOR
        if get("selector"):
            selector = self.selector(get("selector"), path + ".selector", dst.family if dst is not None else None) or EMPTY_SELECTOR
            if selector.matches_all:
                selector = EMPTY_SELECTOR  # the kernel treats any/any like no selector; so does ip xfrm
        findings = _memoised_findings(SA_RULES, SAFacts, proto_name, mode_name, tuple(given), encap is not None,
                                      selector.family, dst.family if dst is not None else 0)
        if findings:
            self.add(findings, path + ".")
        replay_window = self.number(get("replay_window"), path + ".replay_window", 0, 32, default=_SA["replay_window"])
        lifetime = self.lifetime(get("lifetime"), path + ".lifetime")
        if_id = self.number(get("if_id"), path + ".if_id")
        if dst is None or src is None:
            return None
        return SA(src=src, dst=dst, proto=proto, spi=spi, mode=mode, reqid=reqid, enc=algos.get("enc"),
                  auth=algos.get("auth"), aead=algos.get("aead"), comp=algos.get("comp"), replay_window=replay_window,
                  flags=flags, lifetime=lifetime, mark=mark, if_id=if_id, encap=encap, selector=selector)

    def encap(self, options, path, family):
        """UDP encapsulation (NAT-T) of an ESP SA. The original address is of the SA's family; all zeros is none (the
        kernel's own reading of it)."""
        oa = self.address(options.get("oa"), path + ".oa", family)
        return Encap(type=self.choice(options.get("type") or _ENCAP["type"], path + ".type", C.ENCAP_TYPES, 2),
                     sport=self.number(options.get("sport"), path + ".sport", 1, 0xFFFF, default=_ENCAP["sport"]),
                     dport=self.number(options.get("dport"), path + ".dport", 1, 0xFFFF, default=_ENCAP["dport"]),
                     oa=None if oa is None or oa.unspecified else oa)

    # -- policy ------------------------------------------------------------------

    def policy(self, options, path):
        """A Policy (state present) or a PolicyId (state absent) from one entry of ipsec_policy."""
        for end in ("src", "dst"):
            if options.get(end) is None:  # any/any with ESP required would cut every connection, Ansible's too
                self.error("%s.%s" % (path, end), "required: an address, address/prefix, or 'any' for every address")
        selector = self.selector(options, path)
        direction = self.choice(options.get("dir"), path + ".dir", C.XFRM_POLICY_DIRS)
        if options.get("dir") is None:
            self.error(path + ".dir", "required (in, out or fwd)")
        mark = self.mark(options.get("mark"), path + ".mark")
        if_id = self.number(options.get("if_id"), path + ".if_id")
        ptype = self.choice(options.get("ptype") or _POLICY["ptype"], path + ".ptype", C.XFRM_POLICY_TYPES, 0)
        if (options.get("state") or _POLICY["state"]) == "absent":
            return PolicyId(selector, direction, mark, if_id, ptype) if selector is not None and direction is not None else None
        action_name = str(options.get("action") or _POLICY["action"]).lower()
        action = self.choice(action_name, path + ".action", C.XFRM_POLICY_ACTIONS, 0)
        templates = self.templates(options.get("templates") or (), path + ".templates", selector, options.get("dir"))
        findings = _memoised_findings(POLICY_RULES, PolicyFacts, action_name, len(templates or ()))
        if findings:
            self.add(findings, path + ".")
        flags = 0
        for i, flag in enumerate(options.get("flags") or ()):
            flags |= self.choice(flag, "%s.flags[%d]" % (path, i), C.XFRM_POLICY_FLAGS, 0)
        if selector is None or direction is None or templates is None:
            return None
        return Policy(selector=selector, dir=direction, action=action,
                      priority=self.number(options.get("priority"), path + ".priority", default=_POLICY["priority"]),
                      templates=templates,
                      mark=mark, if_id=if_id, ptype=ptype, flags=flags,
                      lifetime=self.lifetime(options.get("lifetime"), path + ".lifetime"))

    def templates(self, given, path, selector, direction):
        """The template list, with the kernel's validate_tmpl() rules across it; None when it has errors."""
        family = selector.family if selector is not None else None
        key = tuple(tuple(sorted((t or {}).items())) for t in given)
        templates, findings = _memoised(_template_list, key, family, direction)
        if findings:
            self.add(findings, path)
            if any(len(f) == 2 for f in findings):
                return None
        return templates

    def template(self, options, path, family, direction):
        proto = self.choice(options.get("proto") or _TEMPLATE["proto"], path + ".proto", C.XFRM_PROTOS, 50)
        mode_name = str(options.get("mode") or _TEMPLATE["mode"]).lower()
        mode = self.choice(mode_name, path + ".mode", MODES, 0)
        src = self.address(options.get("src"), path + ".src")
        dst = self.address(options.get("dst"), path + ".dst", src.family if src is not None else None)
        level = str(options.get("level") or _TEMPLATE["level"]).lower()
        if level not in ("required", "use", "require"):
            self.error(path + ".level", "%r is not one of required, use" % level)
        optional = level == "use"
        self.add(_findings(TEMPLATE_RULES, TemplateFacts(mode_name, src, dst, optional, direction)), path + ".")
        return Template(family=dst.family if dst is not None else (family or C.AF_INET), proto=proto, mode=mode, src=src,
                        dst=dst, spi=self.number(options.get("spi"), path + ".spi"),
                        reqid=self.number(options.get("reqid"), path + ".reqid", default=C.MANAGED_MIN), optional=optional)


def _is_any(value):
    return value is None or str(value).strip().lower() in ANY


def _join(prefix, field):
    """A finding's absolute path: prefix "sas[3]." (or "") and the field relative to it."""
    if not field:
        return prefix.rstrip(".")
    if field.startswith("["):
        return prefix.rstrip(".") + field
    return prefix + field if prefix.endswith(".") or not prefix else prefix + "." + field


def _byte_sizes(bits):
    sizes = sorted({b // 8 for b in bits})
    if len(sizes) > 4:
        return "%d-%d bytes" % (sizes[0], sizes[-1])
    if len(sizes) > 1:
        return "%s or %d bytes" % (", ".join(map(str, sizes[:-1])), sizes[-1])
    return "%d bytes" % sizes[0]


def _entries(options, list_name):
    """(path, entry) pairs: the list under list_name, or the single entry given by top-level options."""
    if options.get(list_name) is not None:
        return [("%s[%d]" % (list_name, i), entry or {}) for i, entry in enumerate(options[list_name])]
    return [("", options)]


def validate_entries(options, list_name, build, identity_name):
    """Run `build` over every entry; reject duplicates; return (present, absent, warnings)."""
    checker = Checker(bool(options.get("allow_weak_algorithms")), bool(options.get("allow_static_counter_mode")))
    present, absent, seen = [], [], {}
    for path, entry in _entries(options, list_name):
        value = build(checker, entry, path)
        if value is None:
            continue
        identity = getattr(value, "identity", value)
        label = path or list_name[:-1]
        if identity in seen:
            checker.error(label, "same %s (%s) as %s" % (identity_name, identity, seen[identity]))
            continue
        seen[identity] = label
        (absent if value is identity else present).append(value)
    checker.raise_if_errors()
    return present, absent, checker.warnings


def validate_sas(options):
    """ipsec_sa options -> ([SA to be present], [SAId to be absent], warnings)."""
    return validate_entries(options, "sas", Checker.sa, "SA (dst, spi, proto, mark)")


def validate_policies(options):
    """ipsec_policy options -> ([Policy to be present], [PolicyId to be absent], warnings)."""
    return validate_entries(options, "policies", Checker.policy, "policy (selector, dir, mark, if_id, ptype)")
