# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""setkey's language: entries as `setkey -D` / `-DP` print them (ipsec_info format=setkey), and the
configuration files `setkey -f` reads (parse: add, spdadd, ...), as ipsec_sa / ipsec_policy options.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from . import constants as C
from .constants import name
from .model import Address
from .render import fingerprint

_SETKEY_ALGO = {a.name: a.aliases[0] if a.aliases else a.name for a in C.ALGORITHMS}


def _hex_groups(key):
    text = key.hex()
    return " ".join(text[i:i + 8] for i in range(0, len(text), 8))


def sa_text(sa, show_keys=False):
    """An SA the way `setkey -D` prints it."""
    head = "\t%s mode=%s spi=%d(0x%08x) reqid=%d(0x%08x)" % (
        name("proto", sa.proto), name("mode", sa.mode), sa.spi, sa.spi, sa.reqid, sa.reqid)
    lines = ["%s %s" % (sa.src, sa.dst), head]
    for letter, algo in (("E", sa.enc), ("A", sa.auth), ("AE", sa.aead), ("C", sa.comp)):
        if algo is not None:
            shown = _hex_groups(algo.key) if show_keys else fingerprint(algo.key)
            lines.append(("\t%s: %s  %s" % (letter, _SETKEY_ALGO.get(algo.name, algo.name), shown)).rstrip())
    counters = sa.counters or {}
    lines.append("\tseq=0x00000000 replay=%d flags=0x%08x state=mature" % (sa.replay_window, sa.flags))
    lines.append("\tcurrent: %d(bytes)\thard: %d(bytes)\tsoft: %d(bytes)" % (
        counters.get("bytes", 0), _limit(sa.lifetime.hard_byte_limit), _limit(sa.lifetime.soft_byte_limit)))
    lines.append("\tallocated: %d\thard: %d\tsoft: %d" % (
        counters.get("packets", 0), _limit(sa.lifetime.hard_packet_limit), _limit(sa.lifetime.soft_packet_limit)))
    return "\n".join(lines)


def _limit(value):
    return 0 if value == C.XFRM_INF else value


def _port(text_port, mask):
    return "[%d]" % text_port if mask else "[any]"


def policy_text(policy):
    """A policy the way `setkey -DP` prints it."""
    sel = policy.selector
    action = "ipsec" if policy.templates else ("discard" if policy.action == 1 else "none")
    lines = ["%s%s %s%s %s" % (sel.src, _port(sel.sport, sel.sport_mask), sel.dst, _port(sel.dport, sel.dport_mask),
                               name("upper", sel.proto)),
             "\t%s prio %d %s" % (name("dir", policy.dir), policy.priority, action)]
    for t in policy.templates:
        ends = "%s-%s" % (t.src, t.dst) if t.src is not None and t.dst is not None else ""
        level = "use" if t.optional else ("unique#%d" % t.reqid if t.reqid else "require")
        lines.append("\t%s/%s/%s/%s" % (name("proto", t.proto), name("mode", t.mode), ends, level))
    lines.append("\tspid=%d seq=0 pid=0" % policy.index)
    return "\n".join(lines)


# -- the kernel's state as a setkey file (ipsec_info format=setkey) ---------------------------
# The file parses back to the same state: applied, it replaces what the host holds (it starts with flush; spdflush;).
# Its first line is AS_DUMPED, a comment to setkey itself, which tells
# parse() that the file lists the kernel's entries as they are: every fwd policy written out (no fwd copy of the in
# policies) and reqids of any size. Each entry is checked by parsing it back; one that setkey's language cannot
# express (an AEAD cipher, a mark, an interface id, ...) is written as a comment that says which fields it lacks.

AS_DUMPED = "#@xfrm.ipsec as-dumped"


def sa_statement(sa, show_keys=False):
    """`add ...;` for an SA, keys as 0x hex (or as their fingerprints: then it does not parse)."""
    words = ["add", str(sa.src), str(sa.dst), _SA_PROTO_WORDS.get(sa.proto, str(sa.proto)), "0x%08x" % sa.spi]
    words += ["-m", name("mode", sa.mode)]
    if sa.reqid:
        words += ["-u", str(sa.reqid)]
    if sa.replay_window:
        words += ["-r", str(sa.replay_window)]
    if not sa.flags & C.EXTRA_FLAGS["oseq-may-wrap"]:
        words += ["-f", "nocyclic-seq"]  # what ipsec_info writes is read as-dumped: cyclic unless said otherwise
    for option, field in (("-lh", "hard_add_expires_seconds"), ("-ls", "soft_add_expires_seconds"),
                          ("-bh", "hard_byte_limit"), ("-bs", "soft_byte_limit")):
        value = getattr(sa.lifetime, field)
        if value not in (0, C.XFRM_INF):
            words += [option, str(value)]
    for option, algo in (("-E", sa.enc), ("-A", sa.auth)):
        if algo is not None:
            words += [option, _SETKEY_ALGO.get(algo.name, algo.name)]
            if algo.key:
                words.append("0x" + algo.key.hex() if show_keys else fingerprint(algo.key))
    if sa.comp is not None:
        words += ["-C", _SETKEY_ALGO.get(sa.comp.name, sa.comp.name)]
    return " ".join(words) + ";"


def policy_statement(policy):
    """`spdadd ...;` for a policy."""
    sel = policy.selector
    upper = name("upper", sel.proto)
    if sel.proto in (1, 58):  # ICMP type and code ride in the ports
        ends = "%s %s %s" % (sel.src, sel.dst, "icmp6" if sel.proto == 58 else "icmp")
        if sel.sport_mask or sel.dport_mask:
            ends += " %d,%d" % (sel.sport, sel.dport)
    else:
        ends = "%s%s %s%s %s" % (sel.src, _port(sel.sport, sel.sport_mask), sel.dst, _port(sel.dport, sel.dport_mask),
                                 upper)
    words = ["spdadd", ends, "-P", name("dir", policy.dir), "prio", _priority_text(policy.priority)]
    if policy.templates:
        words.append("ipsec")
        for t in policy.templates:
            request = "%s/%s/" % (_SA_PROTO_WORDS.get(t.proto, str(t.proto)), name("mode", t.mode))
            if t.src is not None and t.dst is not None:
                request += "%s-%s" % (t.src, t.dst)
            level = "use" if t.optional else ("unique:%d" % t.reqid if t.reqid else "require")
            words.append(request + "/" + level)
    else:
        words.append("discard" if policy.action == 1 else "none")
    return " ".join(words) + ";"


def _priority_text(priority):
    """setkey's priority arithmetic run backwards: the nearest base (high, def, low) and an offset it allows."""
    for base_name in ("low", "def", "high"):
        base = PRIORITY_BASES[base_name]
        if priority == base:
            return base_name
        if base < priority <= base + 0x3FFFFFFF:
            return "%s - %d" % (base_name, priority - base)
    return "high + %d" % (PRIORITY_BASES["high"] - priority)


def state_text(sas, policies, show_keys=False):
    """(text, [unexpressed]): the SAs and policies as a setkey file that parses back to them, and a line for each
    entry setkey's language cannot express (written as a comment instead), naming what it lacks."""
    from .validate import validate_policies, validate_sas  # pylint: disable=import-outside-toplevel

    lines = [AS_DUMPED + "  (a comment to setkey: fwd policies are listed, reqids are the kernel's)", "flush;", "spdflush;"]
    unexpressed = []
    # printer(entry, keys shown): a policy has no key, so its text is the same either way
    for entries, printer, validate, noun in ((sas, sa_statement, validate_sas, "SA"),
                                             (policies, lambda p, _keys: policy_statement(p), validate_policies, "policy")):
        for entry in entries:
            full = printer(entry, True)
            lacking = _lacking(entry, full, validate)
            shown = full if show_keys else printer(entry, False)
            if lacking:
                unexpressed.append("%s %s: setkey's language has no %s" % (noun, entry.identity, ", ".join(lacking)))
                lines.append("# not expressible in setkey's language (%s): %s" % (", ".join(lacking), shown))
            else:
                lines.append(shown)
    return "\n".join(lines) + "\n", unexpressed


def _lacking(entry, text, validate):
    """The fields of entry that text, parsed back, does not give; [] when it round-trips."""
    try:
        (statement,) = parse(AS_DUMPED + "\n" + text)
        present, _absent, _warnings = validate(dict(statement.options, allow_weak_algorithms=True,
                                                    allow_static_counter_mode=True))
        (back,) = present
    except (SetkeyError, ValueError):  # the printer left out what the entry needs (an AEAD cipher, ...)
        defaults = entry._field_defaults
        return [field for field in entry._fields if field in defaults and getattr(entry, field) != defaults[field]
                and field not in _PRINTED] or ["form for this entry"]
    return [field for field, mine, theirs in zip(entry._fields, entry, back) if mine != theirs]


_SA_PROTO_WORDS = {50: "esp", 51: "ah", 108: "ipcomp"}
_PRINTED = ("mode", "reqid", "enc", "auth", "comp", "replay_window", "lifetime", "action", "priority", "templates")


# -- setkey's configuration language -------------------------------------------------
# parse() reads what `setkey -f FILE` (or `setkey -c`) reads and returns its statements, each with its
# line and, for the entries, the options of ipsec_sa / ipsec_policy. It never resolves names and never
# guesses: what Linux XFRM cannot do is an error naming the line and column.

COMMANDS = ("add", "update", "get", "delete", "deleteall", "flush", "dump",
            "spdadd", "spdupdate", "spddelete", "spdflush", "spddump", "exit", "quit", "bye")
SA_PROTOCOLS = {"esp": "esp", "ah": "ah", "ipcomp": "comp"}
NOT_ON_LINUX = {
    "esp-old": "esp-old (RFC 1827) does not exist in Linux XFRM; use esp",
    "ah-old": "ah-old (RFC 1826) does not exist in Linux XFRM; use ah",
    "tcp": "TCP-MD5 signatures are a socket option on Linux (TCP_MD5SIG), not an SA",
    "esp-udp": "esp-udp (NAT traversal) is set per SA here: ipsec_sa's encap option",
}
SA_MODES = {"transport": "transport", "tunnel": "tunnel", "any": "transport"}  # af_key.c: IPSEC_MODE_ANY -> transport
LIFETIMES = {"-lh": "hard_add_expires_seconds", "-ls": "soft_add_expires_seconds",
             "-bh": "hard_byte_limit", "-bs": "soft_byte_limit"}
UPPER = {"any": "any", "icmp": "icmp", "icmp6": "ipv6-icmp", "ipv6-icmp": "ipv6-icmp", "tcp": "tcp", "udp": "udp",
         "gre": "gre", "sctp": "sctp", "ip4": "4", "ipv4": "4"}  # setkey's fallbacks and getprotobyname's names
TYPE_CODE = ("icmp", "ipv6-icmp")  # upper-layer protocols that take "type,code" (as sport, dport)
DIRECTIONS = ("in", "out", "fwd")


class SetkeyError(ValueError):
    """Input setkey's language does not allow, or Linux XFRM cannot do: line, column and what was expected."""

    def __init__(self, line, column, message):
        self.line, self.column = line, column
        super().__init__("line %d, column %d: %s" % (line, column, message))


class Token(NamedTuple):
    text: str
    line: int
    column: int
    quoted: bool = False


class Statement(NamedTuple):
    """One statement: the command, where it starts, and the entry it names as module options (or {})."""

    command: str
    line: int
    options: dict


def tokens(text):
    """Words, quoted strings and ';' with their positions, as setkey's lexer (token.l) reads them: '#' starts a
    comment to the end of the line (outside quotes); a statement goes on across lines until ';' (there is no
    backslash continuation); a quoted string has no escapes."""
    out, i, line, column = [], 0, 1, 1
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            raise SetkeyError(line, column, "setkey has no backslash continuation: a statement simply goes on across "
                                            "lines until its ';'")
        if char == "\n":
            i, line, column = i + 1, line + 1, 1
        elif char.isspace():
            i, column = i + 1, column + 1
        elif char == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif char == ";":
            out.append(Token(";", line, column))
            i, column = i + 1, column + 1
        elif char == '"':
            end = text.find('"', i + 1)
            newline = text.find("\n", i + 1)
            if end < 0 or (0 <= newline < end):  # setkey would read on into the next lines: almost always a typo
                raise SetkeyError(line, column, "unterminated quoted string (a key in quotes ends with \" on the same line)")
            out.append(Token(text[i + 1:end], line, column, quoted=True))
            column += end + 1 - i
            i = end + 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in ';"#':
                i += 1
            out.append(Token(text[start:i], line, column))
            column += i - start
    return out


def parse(text):
    """[Statement] of a setkey file; SetkeyError at the first error. A file with the AS_DUMPED line (ipsec_info's)
    lists the kernel's entries as they are: no fwd copies of in policies, reqids and replay windows of any size."""
    statements, current = [], []
    dumped = any(line.startswith(AS_DUMPED) for line in text.splitlines())
    for token in tokens(text):
        if token.text == ";" and not token.quoted:
            if current:
                statement = _Statement(current, dumped).parse()
                statements += [statement] if dumped else _with_fwd_copy(statement)
            current = []
        else:
            current.append(token)
    if current:
        last = current[-1]
        raise SetkeyError(last.line, last.column + len(last.text), "expected ';' to end the statement that starts at "
                          "line %d (%s)" % (current[0].line, current[0].text))
    return statements


def _with_fwd_copy(statement):
    """setkey on Linux sent every `in` policy twice, the second time as `fwd` (what forwarded tunnel traffic is
    checked against), its first request's `unique` level as `require` with reqid 0 (parse.y, setkeymsg_spdaddr)."""
    options = statement.options
    if not (statement.command.startswith("spd") and options.get("dir") == "in"):
        return [statement]
    copy = dict(options, dir="fwd")
    if options.get("templates"):
        first = dict(options["templates"][0])
        if "reqid" in first:
            first["reqid"] = 0
        copy["templates"] = [first] + options["templates"][1:]
    return [statement, statement._replace(options=copy)]


class _Statement:
    """A cursor over the tokens of one statement."""

    def __init__(self, words, dumped=False):
        self.words = words
        self.at = 0
        self.dumped = dumped

    # -- cursor ------------------------------------------------------------------------

    def peek(self):
        return self.words[self.at] if self.at < len(self.words) else None

    def next(self, expected):
        token = self.peek()
        if token is None:
            last = self.words[-1]
            raise SetkeyError(last.line, last.column + len(last.text) + (2 if last.quoted else 0),
                              "expected %s before ';'" % expected)
        self.at += 1
        return token

    def word(self, expected):
        token = self.next(expected)
        if token.quoted:
            raise self.error(token, "expected %s, found a quoted string" % expected)
        return token

    @staticmethod
    def error(token, message):
        return SetkeyError(token.line, token.column, message)

    def choice(self, expected, table):
        token = self.word(expected)
        return table[self.exact(token, expected, table)]

    def exact(self, token, expected, valid, text=None):
        """text (the token's by default), if setkey accepts it as one of valid: its lexer is case-sensitive."""
        text = token.text if text is None else text
        if text in NOT_ON_LINUX:
            raise self.error(token, NOT_ON_LINUX[text])
        if text not in valid:
            hint = " (setkey is case-sensitive: write %s)" % text.lower() if text.lower() in valid else ""
            raise self.error(token, "expected %s, found %r%s" % (expected, token.text, hint))
        return text

    def number(self, expected, low=0, high=0xFFFFFFFF):
        token = self.word(expected)
        try:
            value = int(token.text, 16) if token.text[:2].lower() == "0x" else int(token.text, 10)
        except ValueError:
            raise self.error(token, "expected %s (a decimal or 0x hex number), found %r" % (expected, token.text)) from None
        if not low <= value <= high:
            raise self.error(token, "%s %d is out of range %d-%d" % (expected, value, low, high))
        return value

    def address(self, expected):
        token = self.word(expected)
        if not _is_address(token.text):
            raise self.error(token, "expected %s (an IPv4 or IPv6 address), found %r (host names are not resolved: "
                                    "give the address)" % (expected, token.text))
        return token.text

    def end(self):
        token = self.peek()
        if token is not None:
            raise self.error(token, "expected ';', found %r" % token.text)

    # -- statements ----------------------------------------------------------------------

    def parse(self):
        first = self.word("a command")
        command = self.exact(first, "a command (%s)" % ", ".join(COMMANDS[:12]), COMMANDS)
        while self.peek() is not None and self.peek().text in ("-4", "-6", "-n", "-46", "-64", "-4n", "-6n", "-n4", "-n6"):
            self.at += 1
        options = getattr(self, "_" + command)()
        self.end()
        return Statement(command, first.line, options)

    def _add(self):
        sa = self._sa_id()
        self._sa_extensions(sa)
        return sa

    _update = _add

    def _get(self):
        return self._sa_id()

    def _delete(self):
        return dict(self._sa_id(), state="absent")

    def _deleteall(self):
        return {"src": self.address("the source address"), "dst": self.address("the destination address"),
                "proto": self.choice("a protocol (esp, ah, ipcomp)", SA_PROTOCOLS)}

    def _flush(self):
        return {"proto": self.choice("a protocol (esp, ah, ipcomp)", SA_PROTOCOLS)} if self.peek() else {}

    _dump = _flush

    def _spdflush(self):
        return {}

    _spddump = _exit = _quit = _bye = _spdflush

    def _spdadd(self):
        policy = self._selector()
        self._policy_spec(policy)
        return policy

    _spdupdate = _spdadd

    def _spddelete(self):
        policy = self._selector()
        policy["dir"] = self._direction()
        policy["state"] = "absent"
        return policy

    # -- SAs ----------------------------------------------------------------------------

    def _sa_id(self):
        return {"src": self.address("the source address"), "dst": self.address("the destination address"),
                "proto": self.choice("a protocol (esp, ah, ipcomp)", SA_PROTOCOLS),
                "spi": self.number("the SPI", 0, 0xFFFFFFFF)}

    def _sa_extensions(self, sa):
        cyclic = True  # setkey's sequence numbers cycle unless -f nocyclic-seq
        while self.peek() is not None:
            token = self.word("an option (-m, -r, -u, -f, -lh, -ls, -bh, -bs, -E, -A, -C)")
            option = token.text
            if option == "-m":
                sa["mode"] = self.choice("a mode (transport, tunnel, any)", SA_MODES)
            elif option == "-r":  # an 8-bit field of PF_KEY's sadb_sa, which Linux capped at 32 (af_key.c)
                window = self.number("the replay window size", 0, 255)
                sa["replay_window"] = window if self.dumped else min(window, 32)
            elif option == "-u":
                sa["reqid"] = self.number("the reqid (-u)")
            elif option in LIFETIMES:
                sa.setdefault("lifetime", {})[LIFETIMES[option]] = self.number("a lifetime (%s)" % option)
            elif option == "-f":
                padding = self.word("a padding or sequence option")
                if padding.text != "nocyclic-seq":
                    raise self.error(token, "-f %s: Linux XFRM has no padding options (it pads as RFC 4303 says); "
                                            "remove it" % padding.text)
                cyclic = False
            elif option == "-E":
                sa["enc"] = self._algorithm("enc", "an encryption algorithm")
            elif option == "-A":
                sa["auth"] = self._algorithm("auth", "an authentication algorithm")
            elif option == "-C":
                sa["comp"] = self._algorithm("comp", "a compression algorithm")
                if self.peek() is not None and self.peek().text == "-R":
                    self.at += 1  # the CPI is the SPI given: what Linux does anyway
            else:
                raise self.error(token, "expected an SA option (-m, -r, -u, -f, -lh, -ls, -bh, -bs, -E, -A, -C), found %r"
                                 % option)
        if self.dumped and cyclic:
            # a file ipsec_info wrote: its SAs say -f nocyclic-seq unless the kernel lets them wrap (oseq-may-wrap),
            # as setkey's own SAs cycle unless told not to. Other files keep Linux's default (no wrap), which is
            # what setkey on Linux ever gave them
            sa["flags"] = ["oseq-may-wrap"]

    def _algorithm(self, kind, expected):
        name_token = self.word(expected)
        known = sorted({s for a in C.ALGORITHMS if a.kind == kind for s in a.aliases})
        name = self.exact(name_token, "%s (%s)" % (expected, ", ".join(known)), known)
        if kind == "comp" or name == "null":
            return {"algorithm": name}  # setkey takes no key after these
        token = self.peek()
        if token is None or (not token.quoted and not token.text.lower().startswith("0x")):
            self.next("the key of %s (\"text\" or 0x hex)" % name)
            hint = " (a key's fingerprint, as ipsec_info shows keys without show_keys: true)" \
                if token.text.startswith("sha256:") else ""
            raise self.error(token, "expected the key of %s (\"text\" or 0x hex), found %r%s" % (name, token.text, hint))
        self.at += 1
        # a quoted key is ASCII whatever it looks like; hex keys stay hex
        key = "0x" + token.text.encode("latin-1").hex() if token.quoted else token.text
        return {"algorithm": name, "key": key}

    # -- policies -----------------------------------------------------------------------

    def _selector(self):
        policy = {}
        for end, port in (("src", "sport"), ("dst", "dport")):
            token = self.word("the %s address range" % ("source" if end == "src" else "destination"))
            address, _bracket, rest = token.text.partition("[")
            policy[end] = self._range(token, address)
            if _bracket:
                if not rest.endswith("]"):
                    raise self.error(token, "expected ']' after the port in %r" % token.text)
                if rest[:-1].lower() != "any":
                    policy[port] = self._port(token, rest[:-1])
        token = self.word("an upper-layer protocol (any, tcp, udp, icmp, icmp6, gre, or a number)")
        upper = UPPER.get(token.text)
        if upper is None and token.text.lower() in UPPER:
            raise self.error(token, "expected an upper-layer protocol, found %r (setkey is case-sensitive: write %s)"
                             % (token.text, token.text.lower()))
        if upper is None:
            if not token.text.isdigit() or int(token.text) > 255:
                raise self.error(token, "expected an upper-layer protocol (any, tcp, udp, icmp, icmp6, gre, or a "
                                        "number 0-255), found %r" % token.text)
            upper = token.text
        policy["proto"] = upper
        nxt = self.peek()
        if upper in TYPE_CODE and nxt is not None and not nxt.text.startswith("-"):
            self.at += 1
            icmp_type, comma, code = nxt.text.partition(",")
            if not (icmp_type.isdigit() and comma and code.isdigit()):
                raise self.error(nxt, "expected the ICMP type,code (e.g. 135,0; setkey needs the code too), found %r"
                                 % nxt.text)
            policy["sport"], policy["dport"] = int(icmp_type), int(code)
        if nxt is not None and nxt.text == "tagged":
            raise self.error(nxt, "tagged policies (a PF tag) have no Linux meaning")
        if (policy.get("sport") or policy.get("dport")) and upper not in ("tcp", "udp", "sctp") + TYPE_CODE:
            raise self.error(token, "ports in [] need tcp, udp or sctp as the upper-layer protocol, found %r" % token.text)
        if nxt is not None and nxt.text.startswith("-ctx"):
            raise self.error(nxt, "security contexts (-ctx) are not supported")
        return policy

    def _range(self, token, text):
        address, slash, prefix = text.partition("/")
        if not _is_address(address):
            raise self.error(token, "expected an IPv4 or IPv6 address, found %r (host names are not resolved: give "
                                    "the address)" % address)
        if slash and not (prefix.isdigit() and int(prefix) <= (128 if ":" in address else 32)):
            raise self.error(token, "expected a prefix length after '/', found %r" % prefix)
        return text

    def _port(self, token, text):
        if not text.isdigit() or int(text) > 0xFFFF:
            raise self.error(token, "expected a port number or 'any' in [], found %r (service names are not resolved)"
                             % text)
        return int(text)

    def _direction(self):
        token = self.word("-P and a direction")
        if token.text != "-P":
            raise self.error(token, "expected -P, found %r" % token.text)
        token = self.word("a direction (in, out, fwd)")
        if token.text in ("ipsec", "none", "discard"):
            raise self.error(token, "expected a direction (in, out, fwd), found %r (setkey needs the direction; "
                                    "KAME's old '-P ipsec' had none: write -P out or -P in)" % token.text)
        return self.exact(token, "a direction (in, out, fwd)", DIRECTIONS)

    def _policy_spec(self, policy):
        policy["dir"] = self._direction()
        token = self.peek()
        if token is not None and token.text in ("prio", "priority"):
            self.at += 1
            policy["priority"] = self._priority()
        else:
            policy["priority"] = PRIORITY_BASES["def"]  # what setkey sent without one (HAVE_PFKEY_POLICY_PRIORITY)
        token = self.word("discard, none or ipsec")
        if token.text in ("entrust", "bypass"):
            raise self.error(token, "%s is KAME's; Linux's PF_KEY refused it: use none or ipsec" % token.text)
        action = self.exact(token, "discard, none or ipsec", ("discard", "none", "ipsec"))
        if action == "discard":
            policy["action"] = "block"
        elif action == "none":
            policy["action"] = "allow"
        elif action == "ipsec":
            policy["templates"] = []
            while self.peek() is not None:
                policy["templates"].append(self._request())
            if not policy["templates"]:
                raise self.error(token, "expected at least one protocol/mode/src-dst/level after ipsec")
        else:
            raise self.error(token, "expected discard, none or ipsec, found %r" % token.text)

    def _priority(self):
        """setkey's arithmetic (libipsec policy_parse.y): lower values win, so `+` moves a policy up (a lower value)
        and a plain number N is def - N."""
        token = self.word("a priority (low, def or high, optionally + or - an offset, or a number)")
        if token.text in PRIORITY_BASES:
            base, sign = PRIORITY_BASES[token.text], self.peek()
            if sign is None or sign.text not in ("+", "-"):
                return base
            self.at += 1
            if sign.text == "+":
                return base - self.number("the priority offset", 0, 0x40000000)
            return base + self.number("the priority offset", 0, 0x3FFFFFFF)
        text = token.text
        if text.lstrip("-").isdigit():
            offset = int(text)
            if -0x7FFFFFFF <= offset <= 0x7FFFFFFF:
                return PRIORITY_BASES["def"] - offset
        raise self.error(token, "expected a priority (low, def or high, optionally + or - an offset, or a number), "
                                "found %r" % text)

    def _request(self):
        """proto/mode/src-dst/level, or the shorter forms setkey takes: proto/mode, proto/mode/src-dst[/], proto/mode//level."""
        token = self.word("protocol/mode/src-dst/level")
        parts = token.text.split("/")
        if len(parts) == 4 and parts[3] == "" and len(token.text.split("/")) == 4 and token.text.endswith("/"):
            parts = parts[:3]
        if not 2 <= len(parts) <= 4:
            raise self.error(token, "expected protocol/mode/src-dst/level (e.g. esp/transport//require), found %r"
                             % token.text)
        proto, mode, ends, level = (parts + ["", ""])[:4]
        what = "in %r" % token.text
        template = {"proto": SA_PROTOCOLS[self.exact(token, "esp, ah or ipcomp " + what, SA_PROTOCOLS, proto)],
                    "mode": self.exact(token, "transport or tunnel " + what, ("transport", "tunnel"), mode)}
        if ends:
            if "[" in ends:
                raise self.error(token, "ports on a tunnel's ends (NAT traversal) are set per SA here: ipsec_sa's encap, "
                                        + what)
            if ends in ("me-any", "any-me"):
                raise self.error(token, "%s is not supported: give both ends, %s" % (ends, what))
            src, dash, dst = _split_ends(ends)
            if not (dash and _is_address(src) and _is_address(dst)):
                raise self.error(token, "expected the tunnel's ends as address-address " + what)
            template["src"], template["dst"] = src, dst
        elif template["mode"] == "tunnel":
            raise self.error(token, "a tunnel request needs its ends (esp/tunnel/A-B/require), " + what)
        level_name, colon, reqid = (level or "default").partition(":")
        level_name = self.exact(token, "a level (default, use, require, unique, unique:N) " + what, LEVELS, level_name)
        if level_name == "unique":
            if not (colon and reqid.isdigit() and 0 < int(reqid) <= (0xFFFFFFFF if self.dumped else 0x3FFF)):
                raise self.error(token, "unique needs its id here, 1-16383 (unique:N, the SAs' -u N): without one "
                                        "(or above 16383) Linux picked a reqid itself, which a converted file cannot "
                                        "match, " + what)
            template["reqid"] = int(reqid)
        elif self.dumped and level_name == "require":
            template["reqid"] = 0  # what the printer writes for a template of reqid 0 (the roles' inbound ones)
        template["level"] = LEVELS[level_name]
        return template


PRIORITY_BASES = {"low": 0xC0000000, "def": 0x80000000, "high": 0x40000000}  # libpfkey.h PRIORITY_LOW/DEFAULT/HIGH
LEVELS = {"default": "required", "require": "required", "unique": "required", "use": "use"}


def _is_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_ends(text):
    """'a-b' of a tunnel's ends, IPv6 included ('fec0::1-fec0::2')."""
    for i, char in enumerate(text):
        if char == "-" and _is_address(text[:i]) and _is_address(text[i + 1:]):
            return text[:i], "-", text[i + 1:]
    return text, "", ""


# -- a file's statements as the state they leave ------------------------------------------

FLUSH_SCOPES = ("managed", "all")


def desired_state(statements, have_sas, have_policies, validate_sa, validate_policy, flush_scope="managed"):
    """What the kernel holds after the statements, run in order on what it holds now, declaratively: an
    `add` of an SA that exists with other keys replaces it (setkey would fail), a `delete` of one that is
    gone changes nothing, so that running the same file again changes nothing.

    validate_sa / validate_policy: an entry's options -> model value or identity (raising ValidationError);
    flush_scope: `flush;` and `spdflush;` remove the collection's managed entries only (the default), or
    every entry as setkey did (`all`). Returns ({SA identity: SA}, {policy identity: Policy}, errors), errors
    naming the line of each statement that did not validate.
    """
    from .validate import ValidationError  # pylint: disable=import-outside-toplevel

    sas = {sa.identity: sa for sa in have_sas if sa.proto in _SA_PROTO_NUMBERS}
    policies = {p.identity: p for p in have_policies}
    errors = []

    def flushable(entry):
        return entry.managed or flush_scope == "all"

    for statement in statements:
        command, options = statement.command, statement.options
        try:
            if command in ("add", "update"):
                sa = validate_sa(options)
                sas[sa.identity] = sa
            elif command == "delete":
                sas.pop(validate_sa(options), None)
            elif command == "deleteall":
                ends = (Address.parse(options["src"]), Address.parse(options["dst"]), C.XFRM_PROTOS[options["proto"]])
                for identity, sa in list(sas.items()):
                    if (sa.src, sa.dst, sa.proto) == ends:
                        del sas[identity]
            elif command == "flush":
                proto = C.XFRM_PROTOS.get(options.get("proto"), 0)
                for identity, sa in list(sas.items()):
                    if proto in (0, sa.proto) and flushable(sa):
                        del sas[identity]
            elif command in ("spdadd", "spdupdate"):
                policy = validate_policy(options)
                policies[policy.identity] = policy
            elif command == "spddelete":
                policies.pop(validate_policy(options), None)
            elif command == "spdflush":
                for identity, policy in list(policies.items()):
                    if flushable(policy):
                        del policies[identity]
        except ValidationError as exc:
            errors += ["line %d: %s" % (statement.line, error) for error in exc.errors]
    return sas, policies, errors


_SA_PROTO_NUMBERS = frozenset(C.XFRM_PROTOS.values())


def validators(flags, warnings):
    """(validate_sa, validate_policy) for desired_state: one entry's options -> its value (or identity, for a
    delete), with the modules' opt-in flags ({allow_weak_algorithms: ..., allow_static_counter_mode: ...});
    warnings (a set) collects what validation warned of."""
    from .validate import validate_policies, validate_sas  # pylint: disable=import-outside-toplevel

    def one(validate):
        def validated(options):
            present, absent, found = validate(dict(options, **flags))
            warnings.update(found)
            return (present or absent)[0]
        return validated
    return one(validate_sas), one(validate_policies)


def entries(text, allow_weak_algorithms=False, allow_static_counter_mode=False):
    """{"sas": [...], "policies": [...]}: what a setkey file leaves on a host that held nothing, as module options
    (keys as 0x hex): for migrating a setkey script to YAML. Raises SetkeyError or ValidationError."""
    from .render import policy_dict, sa_dict  # pylint: disable=import-outside-toplevel
    from .validate import ValidationError  # pylint: disable=import-outside-toplevel

    flags = {"allow_weak_algorithms": allow_weak_algorithms, "allow_static_counter_mode": allow_static_counter_mode}
    sas, policies, errors = desired_state(parse(text), [], [], *validators(flags, set()))
    if errors:
        raise ValidationError(errors)
    return {"sas": [_options(sa_dict(sa, show_keys=True)) for sa in sas.values()],
            "policies": [_options(policy_dict(policy)) for policy in policies.values()]}


def _options(entry):
    """A dumped entry's dict as module options: without what the kernel reports beside them."""
    for reported in ("managed", "index", "counters"):
        entry.pop(reported, None)
    return entry
