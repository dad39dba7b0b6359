"""setkey's configuration language (setkey.parse): the seed documents' files, and the errors a user would make."""

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.setkey import SetkeyError, parse
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas
from ansible_collections.xfrm.ipsec.tests.unit.seed_setkey import KAME_A as KAME_HOST, KAME_TUNNEL, LARTC_216 as LARTC


def test_lartc_file_parses_to_entries_the_modules_accept():
    statements = parse(LARTC)
    assert [s.command for s in statements] == ["flush", "spdflush"] + ["add"] * 4 + ["spdadd"] * 3
    assert [s.line for s in statements] == [2, 3, 6, 7, 10, 11, 13, 17, 17], "the in policy, and its fwd copy"
    sas = [s.options for s in statements if s.command == "add"]
    assert sas[0] == {"src": "10.0.0.11", "dst": "10.0.0.216", "proto": "ah", "spi": 15700,
                      "auth": {"algorithm": "hmac-md5", "key": "0x" + b"1234567890123456".hex()}}
    policies = [s.options for s in statements if s.command == "spdadd"]
    assert policies[0] == {"src": "10.0.0.216", "dst": "10.0.0.11", "proto": "any", "dir": "out", "priority": 0x80000000,
                           "templates": [{"proto": "esp", "mode": "transport", "level": "required"},
                                         {"proto": "ah", "mode": "transport", "level": "required"}]}
    assert policies[2] == dict(policies[1], dir="fwd")
    present, _absent, warnings = validate_sas({"sas": sas, "allow_weak_algorithms": True})
    assert len(present) == 4 and len(warnings) == 4, "hmac-md5 and 3des are weak: accepted with the opt-in, warned"
    assert [p.dir for p in validate_policies({"policies": policies})[0]] == [1, 0, 2]


def test_kame_host_to_host_uses_the_use_level():
    statements = parse(KAME_HOST)
    assert statements[2].options["templates"] == [{"proto": "esp", "mode": "transport", "level": "use"}]
    assert statements[0].options["enc"] == {"algorithm": "des-cbc", "key": "0x" + b"hogehoge".hex()}


def test_kame_tunnel_without_a_direction_is_refused_with_the_fix():
    with pytest.raises(SetkeyError) as info:
        parse(KAME_TUNNEL)
    assert (info.value.line, info.value.column) == (3, 39)
    assert "write -P out or -P in" in str(info.value)
    fixed = parse(KAME_TUNNEL.replace("-P ipsec", "-P out ipsec"))[2].options
    assert fixed["templates"] == [{"proto": "esp", "mode": "tunnel", "src": "10.1.1.1", "dst": "10.2.2.2", "level": "use"}]
    assert (fixed["src"], fixed["dst"]) == ("10.1.1.0/24", "10.2.2.0/24")


@pytest.mark.parametrize("text,line,column,message", [
    ('add 10.0.0.1 10.0.0.2 esp 4096 -E des-cbc "hogehoge;\n', 1, 43, "unterminated quoted string"),
    ("flush;\nspdflush\n", 2, 9, "expected ';' to end the statement that starts at line 2 (spdflush)"),
    ("add 10.0.0.1 10.0.0.2 esp 40x96 -E aes-cbc 0x00;", 1, 27, "expected the SPI (a decimal or 0x hex number), found '40x96'"),
    ("add 10.0.0.1 10.0.0.2 esp 4096 -E rot13 0x00;", 1, 35, "expected an encryption algorithm"),
    ("add 10.0.0.1 10.0.0.2 esp 4096 -A hmac-sha256;", 1, 46, "expected the key of hmac-sha256"),
    ("add 10.0.0.1 gw.example esp 4096 -E aes-cbc 0x00;", 1, 14, "host names are not resolved"),
    ("add 10.0.0.1 10.0.0.2 tcp 4096 -A tcp-md5 \"k\";", 1, 23, "TCP_MD5SIG"),
    ("add 10.0.0.1 10.0.0.2 esp-old 4096 -E des-cbc \"hogehoge\";", 1, 23, "esp-old"),
    ("add 10.0.0.1 10.0.0.2 esp 4096 -E aes-cbc 0x00 -f random-pad;", 1, 48, "no padding options"),
    ("add 10.0.0.1 10.0.0.2 esp 4096 -Q 1;", 1, 32, "expected an SA option"),
    ("ad 10.0.0.1 10.0.0.2 esp 4096;", 1, 1, "expected a command"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P sideways none;", 1, 33, "expected a direction (in, out, fwd)"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport/require;", 1, 43, "expected the tunnel's ends"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp;", 1, 43, "protocol/mode/src-dst/level"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P OUT none;", 1, 33, "setkey is case-sensitive: write out"),
    ("SPDADD 10.0.0.1 10.0.0.2 any -P out none;", 1, 1, "setkey is case-sensitive: write spdadd"),
    ("add 10.0.0.1 10.0.0.2 esp 4096 \\\n -E aes-cbc 0x00;", 1, 32, "no backslash continuation"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out prio default none;", 1, 42, "expected a priority"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique:20000;", 1, 43, "1-16383"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out bypass;", 1, 37, "use none or ipsec"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/tunnel//require;", 1, 43, "a tunnel request needs its ends"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec esp/transport//unique;", 1, 43, "unique needs its id"),
    ("spdadd 10.0.0.1/33 10.0.0.2 any -P out none;", 1, 8, "expected a prefix length"),
    ("spdadd 10.0.0.1[http] 10.0.0.2 tcp -P out none;", 1, 8, "expected a port number or 'any'"),
    ("spdadd 10.0.0.1[80] 10.0.0.2 any -P out none;", 1, 30, "ports in [] need tcp, udp or sctp"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out ipsec;", 1, 37, "at least one protocol/mode/src-dst/level"),
    ("spdadd 10.0.0.1 10.0.0.2 any -P out discard extra;", 1, 45, "expected ';', found 'extra'"),
])
def test_malformed_input_names_line_column_and_what_was_expected(text, line, column, message):
    with pytest.raises(SetkeyError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert message in str(info.value)


def test_sa_options_map_to_the_modules_options():
    (sa,) = parse('add -4 192.0.2.1 192.0.2.2 esp 0x1000 -m tunnel -r 32 -u 0x70000001 -lh 3600 -ls 3000 -bh 1000000 '
                  '-E aes-cbc 0x' + "00" * 32 + ' -A hmac-sha256 "' + "k" * 32 + '";')
    assert sa.options == {"src": "192.0.2.1", "dst": "192.0.2.2", "proto": "esp", "spi": 4096, "mode": "tunnel",
                          "replay_window": 32, "reqid": 0x70000001,
                          "lifetime": {"hard_add_expires_seconds": 3600, "soft_add_expires_seconds": 3000,
                                       "hard_byte_limit": 1000000},
                          "enc": {"algorithm": "aes-cbc", "key": "0x" + "00" * 32},
                          "auth": {"algorithm": "hmac-sha256", "key": "0x" + b"k".hex() * 32}}
    validate_sas(sa.options)


def test_a_quoted_key_that_looks_hex_stays_ascii():
    (sa,) = parse('add 192.0.2.1 192.0.2.2 esp 4096 -E des-cbc "0x123456";')
    assert sa.options["enc"]["key"] == "0x" + b"0x123456".hex()


def test_mode_any_is_transport_as_linux_made_it_and_ipcomp_takes_no_key():
    (sa,) = parse("add 192.0.2.1 192.0.2.2 ipcomp 0x4001 -m any -C deflate -R;")
    assert sa.options == {"src": "192.0.2.1", "dst": "192.0.2.2", "proto": "comp", "spi": 0x4001, "mode": "transport",
                          "comp": {"algorithm": "deflate"}}


def test_policies_ports_icmp6_priorities_levels_and_ipv6_tunnel_ends():
    statements = parse("""
        spdadd 2001:db8:1::/48[any] 2001:db8:2::/48[22] tcp -P out prio def + 100 ipsec
            esp/tunnel/2001:db8::1-2001:db8::2/unique:7;
        spdadd ::/0 ::/0 icmp6 135,0 -P in prio high none;
        spdadd 10.0.0.0/8 10.0.0.0/8 any -P fwd priority low - 1 discard;
        spddelete 10.0.0.0/8 10.0.0.0/8 any -P fwd;
        spdflush; spddump; flush esp; dump;
        deleteall 192.0.2.1 192.0.2.2 esp;
        delete 192.0.2.1 192.0.2.2 ah 0x100;
    """)
    tunnel, nd, nd_fwd, block, gone = (s.options for s in statements[:5])
    assert nd_fwd == dict(nd, dir="fwd")
    assert tunnel == {"src": "2001:db8:1::/48", "dst": "2001:db8:2::/48", "dport": 22, "proto": "tcp", "dir": "out",
                      "priority": 0x80000000 - 100,
                      "templates": [{"proto": "esp", "mode": "tunnel", "src": "2001:db8::1", "dst": "2001:db8::2",
                                     "reqid": 7, "level": "required"}]}
    assert nd == {"src": "::/0", "dst": "::/0", "proto": "ipv6-icmp", "sport": 135, "dport": 0, "dir": "in",
                  "priority": 0x40000000, "action": "allow"}
    assert block["action"] == "block" and block["priority"] == 0xC0000000 + 1, "low - 1: a higher value, a lower rank"
    assert gone == {"src": "10.0.0.0/8", "dst": "10.0.0.0/8", "proto": "any", "dir": "fwd", "state": "absent"}
    assert [(s.command, s.options) for s in statements[5:]] == [
        ("spdflush", {}), ("spddump", {}), ("flush", {"proto": "esp"}), ("dump", {}),
        ("deleteall", {"src": "192.0.2.1", "dst": "192.0.2.2", "proto": "esp"}),
        ("delete", {"src": "192.0.2.1", "dst": "192.0.2.2", "proto": "ah", "spi": 256, "state": "absent"})]
    validate_policies({"policies": [tunnel, nd, block]})
    validate_policies(gone)


def test_comments_statements_across_lines_and_plain_numbers():
    statements = parse('add 192.0.2.1 192.0.2.2 esp 4096 # the SPI, then the key on the next line\n'
                       '  -E aes-cbc 0x' + "00" * 16 + '; # trailing comment\n'
                       '# a whole line\nspdadd 192.0.2.1 192.0.2.2 any -P in prio 5 ipsec esp/transport;')
    assert [s.command for s in statements] == ["add", "spdadd", "spdadd"]
    assert statements[0].options["enc"] == {"algorithm": "aes-cbc", "key": "0x" + "00" * 16}
    assert statements[1].line == 4 and statements[1].options["priority"] == 0x80000000 - 5
    assert statements[1].options["templates"] == [{"proto": "esp", "mode": "transport", "level": "required"}]
