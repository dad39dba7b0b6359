# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every rule checked before the kernel is touched: user options -> model values.

The rules follow iproute2's table (ip/xfrm_state.c, ip/xfrm_policy.c) and the kernel's
own checks (verify_newsa_info, validate_tmpl), so that a request that passes here is one
the kernel accepts. All errors of a request are collected and reported together, each
named by its path (`sas[3].enc.key: ...`); a request with any error changes nothing.
"""

from __future__ import annotations

from . import constants as C
from .render import policy_id_text, sa_id_text
from .model import (
    SA, Address, Network, Algo, Encap, Lifetime, Mark, Policy, Selector, Template, SAId, PolicyId,
    NO_MARK, EMPTY_SELECTOR, NO_LIFETIME, family_of, is_managed_number,
)

U32 = 0xFFFFFFFF
_new_tuple = tuple.__new__  # Algo(...) without NamedTuple's keyword handling: built for every SA of a list
LIFETIME_FIELDS = Lifetime._fields
# Counter-mode ciphers take their nonce from the ESP sequence number, which manual keying
# restarts at 1 after every reboot: the same key then encrypts under reused nonces.
COUNTER_MODE = ("rfc4106(gcm(aes))", "rfc4309(ccm(aes))", "rfc7539esp(chacha20,poly1305)", "rfc3686(ctr(aes))")
MODES = {k: C.XFRM_MODES[k] for k in ("transport", "tunnel", "beet")}
BITS_FIELDS = {"auth": "trunc_len", "aead": "icv_len"}
ALGO_KINDS = ("enc", "auth", "aead", "comp")
PORT_PROTOS = (6, 17, 132, 33, 1, 58)  # tcp udp sctp dccp, icmp/icmpv6 (type and code)
MAX_DEPTH = 6  # XFRM_MAX_DEPTH: templates per policy
# iproute2's table (ip/xfrm_state.c): protocol -> (algorithm options it takes, one of which it needs, message)
SA_ALGORITHMS = {
    "esp": (("enc", "auth", "aead"), ("enc", "aead"), "ESP takes enc (with auth) or aead"),
    "ah": (("auth",), ("auth",), "AH takes auth only"),
    "comp": (("comp",), ("comp",), "IPComp takes comp only"),
}


_UNSEEN = object()


class ValidationError(ValueError):
    """A request with one or more invalid fields; str() lists them all."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


class Checker:
    """Collects errors and warnings while options are turned into model values."""

    def __init__(self, allow_weak=False, allow_static_counter_mode=False):
        self.errors = []
        self.warnings = []
        self.allow_weak = allow_weak
        self.allow_static_counter_mode = allow_static_counter_mode
        self._templates = {}
        self._algorithms = {}
        self._combinations = {}

    def error(self, path, message):
        self.errors.append("%s: %s" % (path.lstrip("."), message))

    def raise_if_errors(self):
        if self.errors:
            raise ValidationError(self.errors)

    def _once(self, cache, key, check, *args):
        """check(*args), computed once per distinct key of this request while it passes cleanly.

        Lists of thousands of entries repeat the same few algorithms, algorithm combinations and
        template lists. A check that raised an error or a warning is not remembered: it runs again
        for every entry, so that each one gets its own message, named by its own path."""
        try:
            result = cache.get(key, _UNSEEN)
        except TypeError:  # an unhashable option value: checked, never remembered
            return check(*args)
        if result is not _UNSEEN:
            return result
        noted = len(self.errors) + len(self.warnings)
        result = check(*args)
        if len(self.errors) + len(self.warnings) == noted:
            cache[key] = result
        return result

    # -- scalars ---------------------------------------------------------------

    def number(self, value, path, low=0, high=U32, default=0):
        """An integer given as int, decimal or 0x hex text, within [low, high]."""
        if value is None or value == "":
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = value if isinstance(value, int) else int(str(value).strip(), 0)
        except ValueError:
            self.error(path, "%r is not a number (decimal or 0x hex)" % (value,))
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
            self.error(path, "%r is not one of %s" % (value, ", ".join(sorted(table))))
            return default
        return table[key]

    def address(self, value, path, family=None):
        """One host address; None when missing (the caller decides whether that is an error)."""
        if value is None or value == "":
            return None
        try:
            address = Address.parse(str(value))
        except ValueError:
            self.error(path, "%r is not an IPv4 or IPv6 address" % (value,))
            return None
        if family and family_of(address) != family:
            self.error(path, "%s is not of the same address family as the other end" % (address,))
        return address

    def network(self, value, path):
        """An address with optional prefix, or 'any' (returned as the string 'any')."""
        text = str(value).strip() if value is not None else "any"
        if text.lower() in ("any", "*", ""):
            return "any"
        try:
            return Network.parse(text)
        except ValueError as exc:
            if "host bits set" in str(exc):
                self.error(path, str(exc))
            else:
                self.error(path, "%r is not an address or address/prefix (or 'any')" % (value,))
            return None

    def upper_proto(self, value, path):
        if value is None:
            return 0
        text = str(value).strip().lower()
        if text in C.UPPER_PROTOS:
            return C.UPPER_PROTOS[text]
        return self.number(text, path, 0, 255)

    def key(self, value, path):
        """Key bytes from setkey's forms: 0x hex, or ASCII text (quotes optional)."""
        if value is None:
            self.error(path, "a key is required")
            return b""
        text = str(value)
        if text[:2].lower() == "0x":
            try:
                return bytes.fromhex(text[2:].replace("_", ""))
            except ValueError:
                self.error(path, "0x form must be an even number of hex digits")
                return b""
        if len(text) >= 2 and text[0] == text[-1] == '"':
            text = text[1:-1]
        try:
            return text.encode("ascii")
        except UnicodeEncodeError:
            self.error(path, "an ASCII key may hold ASCII characters only; use the 0x hex form for binary keys")
            return b""

    # -- composite values ----------------------------------------------------

    def algo(self, kind, options, path):
        """An Algo from {algorithm, key, trunc_len|icv_len}, key length checked against the table.

        The algorithm and its ICV/truncation length are the same for thousands of SAs of a list: once they
        passed without error or warning, later SAs take them from a cache. The key is checked for every SA."""
        if not options:
            return None
        field = BITS_FIELDS.get(kind)
        resolved = self._once(self._algorithms, (kind, options.get("algorithm"), options.get(field) if field else None),
                              self._algorithm, kind, options, field, path)
        if resolved is None:
            return None
        alg, bits = resolved
        key = b""
        if kind != "comp":
            given = options.get("key")
            key = self.key(given, path + ".key") if alg.key_bits != (0,) or given else b""
            if len(key) * 8 not in alg.key_bits:
                self.error(path + ".key", "%d bytes given, %s takes %s" % (len(key), alg.name, _byte_sizes(alg.key_bits)))
        return _new_tuple(Algo, (alg.name, key, bits))

    def _algorithm(self, kind, options, field, path):
        """(table entry, ICV/truncation bits) of an algorithm option, or None; errors and warnings as it goes."""
        name = options.get("algorithm")
        alg = C.ALGORITHM_NAMES.get((kind, str(name).lower() if name is not None else None))
        if alg is None:
            known = sorted({a.name for a in C.ALGORITHMS if a.kind == kind} | {s for a in C.ALGORITHMS if a.kind == kind for s in a.aliases})
            self.error(path + ".algorithm", "%r is not a known %s algorithm (%s)" % (name, kind, ", ".join(known)))
            return None
        if alg.weak:
            if not self.allow_weak:
                self.error(path + ".algorithm", "%s (%s) is weak and refused; set allow_weak_algorithms: true to use it anyway"
                           % (name, alg.name))
            else:
                self.warnings.append("%s: %s (%s) is weak; allowed by allow_weak_algorithms"
                                     % ((path + ".algorithm").lstrip("."), name, alg.name))
        if alg.name in COUNTER_MODE and not self.allow_static_counter_mode:
            self.error(path + ".algorithm", "%s with manual keys reuses nonces after every reboot (sequence numbers restart); "
                       "set allow_static_counter_mode: true only if keys are rotated at every boot" % alg.name)
        bits = 0
        if field:
            bits = self.number(options.get(field), "%s.%s" % (path, field), 0, 512, default=alg.bits[0])
            if bits not in alg.bits:
                self.error("%s.%s" % (path, field), "%d bits given, %s takes %s" % (bits, alg.name, " or ".join(map(str, alg.bits))))
        return alg, bits

    def mark(self, options, path):
        if not options:
            return NO_MARK
        value = self.number(options.get("value"), path + ".value")
        mask = self.number(options.get("mask"), path + ".mask", default=U32)
        return Mark(value, mask)

    def lifetime(self, options, path):
        if not options:
            return NO_LIFETIME
        unknown = set(options) - set(LIFETIME_FIELDS)
        for name in sorted(unknown):
            self.error("%s.%s" % (path, name), "unknown limit; known: %s" % ", ".join(LIFETIME_FIELDS))
        values = {}
        for name in LIFETIME_FIELDS:
            if options.get(name) is not None:
                values[name] = self.number(options[name], "%s.%s" % (path, name), 0, C.XFRM_INF)
        return Lifetime(**values)

    def selector(self, options, path, default_family=None):
        """A Selector from {src, dst, proto, sport, dport}; 'any' takes the other side's family."""
        src = self.network(options.get("src"), path + ".src")
        dst = self.network(options.get("dst"), path + ".dst")
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
        return Selector(family, Network.any(family) if src == "any" else src, Network.any(family) if dst == "any" else dst,
                        proto, sport, 0xFFFF if sport else 0, dport, 0xFFFF if dport else 0)

    # -- SA ----------------------------------------------------------------------

    def sa(self, options, path):
        """An SA (state present) or an SAId (state absent) from one entry of ipsec_sa."""
        get = options.get  # each option is read once: lists of 10,000 SAs pass through here
        proto_name = str(get("proto") or "esp").lower()
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
        if (get("state") or "present") == "absent":
            return SAId(dst, spi, proto, mark) if dst is not None else None

        src_text = get("src")
        if src_text is None:
            self.error(path + ".src", "required")
        src = self.address(src_text, path + ".src", dst.family if dst is not None else None)
        mode_name = str(get("mode") or "transport").lower()
        mode = self.choice(mode_name, path + ".mode", MODES, 0)
        reqid = self.number(get("reqid"), path + ".reqid", default=C.MANAGED_MIN)
        if not is_managed_number(reqid):
            self.warnings.append("%s: %d is outside the managed range 0x%x-0x%x: exclusive and ipsec_flush scope=managed "
                                 "will not see this SA" % ((path + ".reqid").lstrip("."), reqid, C.MANAGED_MIN, C.MANAGED_MAX))
        given = [k for k in ALGO_KINDS if get(k)]
        self._sa_combination(path, proto_name, mode_name, given)
        algos = dict.fromkeys(ALGO_KINDS)
        for k in given:
            algos[k] = self.algo(k, options[k], "%s.%s" % (path, k))
        flags = 0
        for i, flag in enumerate(get("flags") or ()):
            flags |= self.choice(flag, "%s.flags[%d]" % (path, i), C.XFRM_STATE_FLAGS, 0)
        encap = self.encap(get("encap"), path + ".encap", proto_name) if get("encap") else None
        selector = EMPTY_SELECTOR
        if get("selector"):
            selector = self.selector(get("selector"), path + ".selector", dst.family if dst is not None else None) or EMPTY_SELECTOR
            if selector.matches_all:
                selector = EMPTY_SELECTOR  # the kernel treats any/any like no selector; so does ip xfrm
            if mode_name == "transport" and dst is not None and not selector.empty and selector.family != dst.family:
                self.error(path + ".selector", "a transport-mode selector must be of the SA's address family")
        replay_window = self.number(get("replay_window"), path + ".replay_window", 0, 32)
        lifetime = self.lifetime(get("lifetime"), path + ".lifetime")
        if_id = self.number(get("if_id"), path + ".if_id")
        if dst is None or src is None:
            return None
        return SA(src, dst, proto, spi, mode, reqid, algos["enc"], algos["auth"], algos["aead"], algos["comp"],
                  replay_window, flags, lifetime, mark, if_id, encap, selector)

    def encap(self, options, path, proto_name):
        """UDP encapsulation (NAT-T) of an ESP SA."""
        if proto_name != "esp":
            self.error(path, "UDP encapsulation is for ESP only")
        return Encap(self.choice(options.get("type") or "espinudp", path + ".type", C.ENCAP_TYPES, 2),
                     self.number(options.get("sport"), path + ".sport", 1, 0xFFFF, default=4500),
                     self.number(options.get("dport"), path + ".dport", 1, 0xFFFF, default=4500),
                     self.address(options.get("oa"), path + ".oa"))

    def _sa_combination(self, path, proto, mode, given):
        """iproute2's table: ESP needs enc or aead, AH only auth, COMP only comp, BEET only ESP."""
        self._once(self._combinations, (proto, mode, tuple(given)), self._sa_combination_rules, path, proto, mode, given)

    def _sa_combination_rules(self, path, proto, mode, given):
        allowed, needed, takes = SA_ALGORITHMS.get(proto, ((), (), ""))
        for k in given:
            if k not in allowed:
                self.error("%s.%s" % (path, k), takes)
        if needed and not any(k in given for k in needed):
            self.error("%s.%s" % (path, needed[0]), "%s needs %s" % (takes.split()[0], " or ".join(needed)))
        if "aead" in given and ("enc" in given or "auth" in given):
            self.error(path + ".aead", "aead replaces enc and auth: give aead alone")
        if mode == "beet" and proto != "esp":
            self.error(path + ".mode", "BEET mode is for ESP only")

    # -- policy ------------------------------------------------------------------

    def policy(self, options, path):
        """A Policy (state present) or a PolicyId (state absent) from one entry of ipsec_policy."""
        selector = self.selector(options, path)
        direction = self.choice(options.get("dir"), path + ".dir", C.XFRM_POLICY_DIRS)
        if options.get("dir") is None:
            self.error(path + ".dir", "required (in, out or fwd)")
        mark = self.mark(options.get("mark"), path + ".mark")
        if_id = self.number(options.get("if_id"), path + ".if_id")
        ptype = self.choice(options.get("ptype") or "main", path + ".ptype", C.XFRM_POLICY_TYPES, 0)
        if (options.get("state") or "present") == "absent":
            return PolicyId(selector, direction, mark, if_id, ptype) if selector is not None and direction is not None else None
        action_name = str(options.get("action") or "allow").lower()
        action = self.choice(action_name, path + ".action", C.XFRM_POLICY_ACTIONS, 0)
        templates = self.templates(options.get("templates") or (), path + ".templates", selector, options.get("dir"))
        if action_name == "block" and templates:
            self.error(path + ".templates", "a block policy takes no templates")
        flags = 0
        for i, flag in enumerate(options.get("flags") or ()):
            flags |= self.choice(flag, "%s.flags[%d]" % (path, i), C.XFRM_POLICY_FLAGS, 0)
        if selector is None or direction is None or None in templates:
            return None
        return Policy(selector=selector, dir=direction, action=action,
                      priority=self.number(options.get("priority"), path + ".priority"), templates=templates,
                      mark=mark, if_id=if_id, ptype=ptype, flags=flags,
                      lifetime=self.lifetime(options.get("lifetime"), path + ".lifetime"))

    def templates(self, given, path, selector, direction):
        """The template list, with the kernel's validate_tmpl() rules across it.

        Lists of thousands of policies repeat the same few template lists: a list that passed once
        for the same selector family and direction is taken from the cache."""
        key = (tuple(tuple(sorted((t or {}).items())) for t in given), selector.family if selector else None, direction)
        return self._once(self._templates, key, self._templates_uncached, given, path, selector, direction)

    def _templates_uncached(self, given, path, selector, direction):
        if len(given) > MAX_DEPTH:
            self.error(path, "%d templates given, the kernel takes at most %d (XFRM_MAX_DEPTH)" % (len(given), MAX_DEPTH))
        out = []
        prev_family = selector.family if selector is not None else None
        for i, options in enumerate(given):
            template = self.template(options or {}, "%s[%d]" % (path, i), selector, direction)
            if template.mode == C.XFRM_MODES["transport"] and prev_family and template.family != prev_family:
                self.error("%s[%d]" % (path, i), "a transport-mode template cannot change the address family "
                           "(the traffic before it is IPv%d); only tunnel or beet mode can" % (6 if prev_family == C.AF_INET6 else 4))
            prev_family = template.family
            out.append(template)
        return tuple(out)

    def template(self, options, path, selector, direction):
        proto = self.choice(options.get("proto") or "esp", path + ".proto", C.XFRM_PROTOS, 50)
        mode_name = str(options.get("mode") or "transport").lower()
        mode = self.choice(mode_name, path + ".mode", MODES, 0)
        src = self.address(options.get("src"), path + ".src")
        dst = self.address(options.get("dst"), path + ".dst", family_of(src) if src is not None else None)
        if mode_name in ("tunnel", "beet") and (src is None or dst is None):
            self.error(path, "%s mode needs src and dst (the tunnel endpoints)" % mode_name)
        level = str(options.get("level") or "required").lower()
        if level not in ("required", "use", "require"):
            self.error(path + ".level", "%r is not one of required, use" % level)
        optional = level == "use"
        if optional and mode_name in ("tunnel", "beet") and direction == "out":
            self.error(path + ".level", "use (optional) is not allowed for a %s-mode template of an out policy "
                       "(the kernel refuses it); use required" % mode_name)
        family = family_of(dst) if dst is not None else (selector.family if selector is not None else C.AF_INET)
        return Template(family=family, proto=proto, mode=mode, src=src, dst=dst,
                        spi=self.number(options.get("spi"), path + ".spi"),
                        reqid=self.number(options.get("reqid"), path + ".reqid", default=C.MANAGED_MIN), optional=optional)


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


def validate_entries(options, list_name, build, identity_name, describe):
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
            checker.error(label, "same %s (%s) as %s" % (identity_name, describe(identity), seen[identity]))
            continue
        seen[identity] = label
        (absent if value is identity else present).append(value)
    checker.raise_if_errors()
    return present, absent, checker.warnings


def validate_sas(options):
    """ipsec_sa options -> ([SA to be present], [SAId to be absent], warnings)."""
    return validate_entries(options, "sas", Checker.sa, "SA (dst, spi, proto, mark)", sa_id_text)


def validate_policies(options):
    """ipsec_policy options -> ([Policy to be present], [PolicyId to be absent], warnings)."""
    return validate_entries(options, "policies", Checker.policy, "policy (selector, dir, mark, if_id, ptype)", policy_id_text)
