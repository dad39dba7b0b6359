"""The bad-input matrix: malformed and hostile inputs, one named case each, in one place.

Every case must fail with one clear message that names `field`, change nothing in the kernel (its dump before
equals its dump after), leave no traceback, repeat no key and no value longer than a line. The unit tier runs
every case (tests/unit/test_bad_input.py: the modules against the fake kernel, the roles' argument specs, the
site planner); the kernel tier runs the module cases again against a real kernel's XFRM tables in a network
namespace (tests/integration/test_bad_input_kernel.py).

A case is Case(name, target, args, field): target is a module name ("ipsec_sa", ...), "role:<name>" (the role's
meta/argument_specs.yml applied to args as role variables) or "site" (the ipsec_site action with args changing the
test inventory: {"host": who runs, "common": vars of every host, "<host>": vars of one host}). `kernel=False` marks
a case that needs a foreign SA in the kernel, which the host kernel tier cannot hold (no esp4 outside the lab).
"""

from typing import NamedTuple

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C

ENC_KEY = "0x" + "5e" * 32
AUTH_KEY = "0x" + "a7" * 32
KEYS = (ENC_KEY, AUTH_KEY)  # the keys of every valid entry below: no message may repeat them
HUGE = "A" * 100000


class Case(NamedTuple):
    name: str
    target: str
    args: dict
    field: str
    kernel: bool = True


def sa(**changes):
    """A valid ESP SA with `changes` (a value None removes the option)."""
    entry = {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 4096, "enc": {"algorithm": "aes-cbc", "key": ENC_KEY},
             "auth": {"algorithm": "hmac-sha256", "key": AUTH_KEY}}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def policy(**changes):
    entry = {"src": "192.0.2.1", "dst": "192.0.2.2", "dir": "out", "templates": [{"proto": "esp"}]}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not None}


def sas(*entries, **options):
    return dict(options, sas=list(entries))


def policies(*entries, **options):
    return dict(options, policies=list(entries))


def tunnel(**changes):
    return dict({"proto": "esp", "mode": "tunnel", "src": "192.0.2.1", "dst": "192.0.2.2"}, **changes)


def _short_keys():
    """Every algorithm that takes a key, given one byte too few (and AES one byte too many)."""
    out = []
    for alg in C.ALGORITHMS:
        if alg.kind == "comp" or alg.key_bits == (0,) or alg.weak or alg.name in (
                "rfc4106(gcm(aes))", "rfc4309(ccm(aes))", "rfc7539esp(chacha20,poly1305)", "rfc3686(ctr(aes))"):
            continue
        size = min(alg.key_bits) // 8 - 1
        options = {"algorithm": alg.aliases[0], "key": "0x" + "3c" * size}
        entry = sa(enc=options) if alg.kind == "enc" else sa(auth=options)
        out.append(Case("key_of_%s_one_byte_short" % alg.aliases[0].replace("-", "_"), "ipsec_sa", sas(entry), "sas[0].%s.key" % alg.kind))
    out.append(Case("key_of_aes_one_byte_long", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "0x" + "3c" * 33})),
                    "sas[0].enc.key"))
    out.append(Case("key_of_aes_gcm_without_salt", "ipsec_sa", sas(sa(enc=None, auth=None, aead={
        "algorithm": "aes-gcm", "key": "0x" + "3c" * 16}), allow_static_counter_mode=True), "sas[0].aead.key"))
    return out


SETKEY_SA = "add 192.0.2.1 192.0.2.2 esp 4096 -E aes-cbc %s -A hmac-sha256 %s;" % KEYS


def setkey(text):
    return {"setkey": text}


CASES = [
    # -- SPIs ----------------------------------------------------------------------------------------
    Case("spi_empty_string", "ipsec_sa", sas(sa(spi="")), "sas[0].spi"),
    Case("spi_zero", "ipsec_sa", sas(sa(spi=0)), "sas[0].spi"),
    Case("spi_255_reserved", "ipsec_sa", sas(sa(spi=255)), "sas[0].spi"),
    Case("spi_above_2_32", "ipsec_sa", sas(sa(spi=2 ** 32)), "sas[0].spi"),
    Case("spi_negative", "ipsec_sa", sas(sa(spi=-1)), "sas[0].spi"),
    Case("spi_text", "ipsec_sa", sas(sa(spi="four thousand")), "sas[0].spi"),
    Case("spi_boolean", "ipsec_sa", sas(sa(spi=True)), "sas[0].spi"),
    Case("spi_list", "ipsec_sa", sas(sa(spi=[4096])), "sas[0].spi"),
    Case("spi_missing", "ipsec_sa", sas(sa(spi=None)), "sas[0].spi"),
    Case("cpi_above_16_bits", "ipsec_sa",
         sas(sa(proto="comp", spi=0x10000, enc=None, auth=None, comp={"algorithm": "deflate"})), "sas[0].spi"),
    Case("spi_single_entry_empty", "ipsec_sa", dict(sa(spi="")), "spi"),
    # -- addresses -----------------------------------------------------------------------------------
    Case("dst_empty_string", "ipsec_sa", sas(sa(dst="")), "sas[0].dst"),
    Case("src_empty_string", "ipsec_sa", sas(sa(src="")), "sas[0].src"),
    Case("dst_empty_with_exclusive", "ipsec_sa", sas(sa(dst=""), exclusive=True), "sas[0].dst"),
    Case("dst_missing", "ipsec_sa", sas(sa(dst=None)), "sas[0].dst"),
    Case("src_missing", "ipsec_sa", sas(sa(src=None)), "sas[0].src"),
    Case("dst_octet_300", "ipsec_sa", sas(sa(dst="192.0.2.300")), "sas[0].dst"),
    Case("dst_a_prefix", "ipsec_sa", sas(sa(dst="192.0.2.0/24")), "sas[0].dst"),
    Case("dst_a_hostname", "ipsec_sa", sas(sa(dst="peer.example")), "sas[0].dst"),
    Case("dst_with_nul_byte", "ipsec_sa", sas(sa(dst="192.0.2.2\x00")), "sas[0].dst"),
    Case("dst_100000_characters", "ipsec_sa", sas(sa(dst=HUGE)), "sas[0].dst"),
    Case("src_v4_dst_v6", "ipsec_sa", sas(sa(dst="2001:db8::2")), "sas[0].src"),
    Case("dst_a_list", "ipsec_sa", sas(sa(dst=["192.0.2.2"])), "sas[0].dst"),
    # -- protocol, mode and algorithms ---------------------------------------------------------------
    Case("proto_unknown", "ipsec_sa", sas(sa(proto="gre")), "proto"),
    Case("mode_unknown", "ipsec_sa", sas(sa(mode="tunnnel")), "mode"),
    Case("esp_without_enc_or_aead", "ipsec_sa", sas(sa(enc=None)), "sas[0].enc"),
    Case("ah_with_enc", "ipsec_sa", sas(sa(proto="ah")), "sas[0].enc"),
    Case("comp_with_auth", "ipsec_sa", sas(sa(proto="comp", spi=4096, enc=None, comp={"algorithm": "deflate"})),
         "sas[0].auth"),
    Case("aead_with_enc", "ipsec_sa", sas(sa(auth=None, aead={"algorithm": "aes-gcm", "key": "0x" + "11" * 20}),
                                          allow_static_counter_mode=True), "sas[0].aead"),
    Case("beet_with_ah", "ipsec_sa", sas(sa(proto="ah", mode="beet", enc=None)), "sas[0].mode"),
    Case("encap_on_ah", "ipsec_sa", sas(sa(proto="ah", enc=None, encap={"type": "espinudp"})), "sas[0].encap"),
    Case("enc_algorithm_unknown", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbcx", "key": ENC_KEY})),
         "sas[0].enc.algorithm"),
    Case("enc_key_pasted_as_algorithm", "ipsec_sa", sas(sa(enc={"algorithm": ENC_KEY, "key": ENC_KEY})),
         "sas[0].enc.algorithm"),
    Case("enc_algorithm_100000_characters", "ipsec_sa", sas(sa(enc={"algorithm": HUGE, "key": ENC_KEY})),
         "sas[0].enc.algorithm"),
    Case("weak_des_without_opt_in", "ipsec_sa", sas(sa(enc={"algorithm": "des-cbc", "key": "0x" + "11" * 8})),
         "sas[0].enc.algorithm"),
    Case("weak_md5_without_opt_in", "ipsec_sa", sas(sa(auth={"algorithm": "hmac-md5", "key": "0x" + "11" * 16})),
         "sas[0].auth.algorithm"),
    Case("gcm_without_counter_mode_opt_in", "ipsec_sa",
         sas(sa(enc=None, auth=None, aead={"algorithm": "aes-gcm", "key": "0x" + "11" * 20})), "sas[0].aead.algorithm"),
    Case("trunc_len_not_the_algorithm_s", "ipsec_sa",
         sas(sa(auth={"algorithm": "hmac-sha256", "key": AUTH_KEY, "trunc_len": 100})), "sas[0].auth.trunc_len"),
    Case("enc_a_string_not_a_dict", "ipsec_sa", sas(sa(enc="aes-cbc")), "sas[0].enc"),
    Case("enc_single_entry_a_string", "ipsec_sa", dict(sa(enc="aes-cbc")), "enc"),
    Case("enc_key_missing", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc"})), "key"),
    Case("enc_unknown_suboption", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": ENC_KEY, "iv": "0x00"})), "iv"),
    # -- keys ----------------------------------------------------------------------------------------
    Case("key_odd_hex_digits", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": ENC_KEY[:-1]})), "sas[0].enc.key"),
    Case("key_not_hex_after_0x", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "0x" + "zz" * 32})),
         "sas[0].enc.key"),
    Case("key_only_0x", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "0x"})), "sas[0].enc.key"),
    Case("key_hex_with_spaces", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "0x" + "5e5e " * 16})),
         "sas[0].enc.key"),
    Case("key_hex_without_0x", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "5e" * 16})), "sas[0].enc.key"),
    Case("key_unquoted_yaml_integer", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": int(ENC_KEY, 16)})),
         "sas[0].enc.key"),
    Case("key_a_list", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": [ENC_KEY]})), "sas[0].enc.key"),
    Case("key_not_ascii", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "schlüssel-schlüssel-schlüssel!"})),
         "sas[0].enc.key"),
    Case("key_empty", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": ""})), "sas[0].enc.key"),
    Case("key_100000_characters", "ipsec_sa", sas(sa(enc={"algorithm": "aes-cbc", "key": "0x" + "ab" * 50000})),
         "sas[0].enc.key"),
    # -- numbers, marks, lifetimes, flags, encapsulation, selectors ----------------------------------
    Case("replay_window_33", "ipsec_sa", sas(sa(replay_window=33)), "sas[0].replay_window"),
    Case("replay_window_negative", "ipsec_sa", sas(sa(replay_window=-1)), "sas[0].replay_window"),
    Case("reqid_text", "ipsec_sa", sas(sa(reqid="first")), "sas[0].reqid"),
    Case("reqid_above_2_32", "ipsec_sa", sas(sa(reqid=2 ** 32)), "sas[0].reqid"),
    Case("reqid_empty_string", "ipsec_sa", sas(sa(reqid="")), "sas[0].reqid"),
    Case("mark_value_outside_mask", "ipsec_sa", sas(sa(mark={"value": 0x10, "mask": 0x0F})), "sas[0].mark.value"),
    Case("mark_without_value", "ipsec_sa", sas(sa(mark={"mask": 0xFF})), "value"),
    Case("mark_value_text", "ipsec_sa", sas(sa(mark={"value": "red"})), "sas[0].mark.value"),
    Case("lifetime_soft_above_hard", "ipsec_sa",
         sas(sa(lifetime={"soft_byte_limit": 2000, "hard_byte_limit": 1000})), "sas[0].lifetime.soft_byte_limit"),
    Case("lifetime_soft_seconds_above_hard", "ipsec_sa", sas(sa(lifetime={
        "soft_add_expires_seconds": 7200, "hard_add_expires_seconds": 3600})), "sas[0].lifetime.soft_add_expires_seconds"),
    Case("lifetime_negative", "ipsec_sa", sas(sa(lifetime={"hard_packet_limit": -5})), "sas[0].lifetime.hard_packet_limit"),
    Case("lifetime_unknown_limit", "ipsec_sa", sas(sa(lifetime={"soft_time": 5})), "soft_time"),
    Case("flag_unknown", "ipsec_sa", sas(sa(flags=["wrap-around"])), "flags"),
    Case("encap_port_zero", "ipsec_sa", sas(sa(encap={"sport": 0})), "sas[0].encap.sport"),
    Case("encap_port_above_65535", "ipsec_sa", sas(sa(encap={"dport": 70000})), "sas[0].encap.dport"),
    Case("encap_oa_not_an_address", "ipsec_sa", sas(sa(encap={"oa": "nat-box"})), "sas[0].encap.oa"),
    Case("encap_oa_of_the_other_family", "ipsec_sa", sas(sa(encap={"oa": "2001:db8::9"})), "sas[0].encap.oa"),
    Case("if_id_negative", "ipsec_sa", sas(sa(if_id=-1)), "sas[0].if_id"),
    Case("selector_prefix_with_host_bits", "ipsec_sa", sas(sa(selector={"src": "192.0.2.1/24"})), "sas[0].selector.src"),
    Case("selector_prefix_33", "ipsec_sa", sas(sa(selector={"dst": "192.0.2.0/33"})), "sas[0].selector.dst"),
    Case("selector_ports_without_protocol", "ipsec_sa", sas(sa(selector={"dport": 443})), "sas[0].selector.dport"),
    Case("selector_of_the_other_family_in_transport", "ipsec_sa",
         sas(sa(selector={"src": "2001:db8::/64", "dst": "2001:db8:1::/64"})), "sas[0].selector"),
    Case("selector_a_string", "ipsec_sa", sas(sa(selector="192.0.2.0/24")), "sas[0].selector"),
    # -- lists ---------------------------------------------------------------------------------------
    Case("duplicate_sa_in_one_list", "ipsec_sa", sas(sa(), sa(src="192.0.2.3")), "sas[1]"),
    Case("sas_a_list_of_strings", "ipsec_sa", {"sas": ["garbage"]}, "sas[0]"),
    Case("sas_a_dict_not_a_list", "ipsec_sa", {"sas": sa()}, "sas"),
    Case("sas_and_single_entry_options", "ipsec_sa", dict(sas(sa()), dst="192.0.2.2"), "sas"),
    Case("exclusive_with_an_empty_sa_list", "ipsec_sa", sas(exclusive=True), "exclusive"),
    Case("unknown_option", "ipsec_sa", dict(sas(sa()), keys_shown=True), "keys_shown"),
    Case("foreign_sa_with_the_same_identity", "ipsec_sa", sas(sa(spi=0x5000)), "foreign SA", kernel=False),
    # -- the target kernel ---------------------------------------------------------------------------
    Case("netns_empty_string", "ipsec_sa", sas(sa(), netns=""), "netns"),
    Case("netns_missing", "ipsec_policy", policies(policy(), netns="no-such-namespace"), "netns"),
    Case("netns_a_path", "ipsec_policy", policies(policy(), netns="../../proc/1/ns/net"), "netns"),
    Case("netns_empty_for_flush", "ipsec_flush", {"netns": ""}, "netns"),
    # -- policies ------------------------------------------------------------------------------------
    Case("policy_without_src_and_dst", "ipsec_policy", policies(policy(src=None, dst=None)), "policies[0].src"),
    Case("policy_without_dst", "ipsec_policy", policies(policy(dst=None)), "policies[0].dst"),
    Case("policy_src_empty_string", "ipsec_policy", policies(policy(src="")), "policies[0].src"),
    Case("policy_without_dir", "ipsec_policy", policies(policy(dir=None)), "policies[0].dir"),
    Case("policy_dir_unknown", "ipsec_policy", policies(policy(dir="sideways")), "dir"),
    Case("policy_prefix_with_host_bits", "ipsec_policy", policies(policy(src="10.1.2.3/8")), "policies[0].src"),
    Case("policy_prefix_40", "ipsec_policy", policies(policy(dst="10.0.0.0/40")), "policies[0].dst"),
    Case("policy_v6_prefix_129", "ipsec_policy", policies(policy(src="2001:db8::/129", dst="2001:db8:1::/64")),
         "policies[0].src"),
    Case("policy_v4_to_v6", "ipsec_policy", policies(policy(dst="2001:db8::2")), "policies[0].dst"),
    Case("policy_ports_without_protocol", "ipsec_policy", policies(policy(sport=80)), "policies[0].sport"),
    Case("policy_port_above_65535", "ipsec_policy", policies(policy(proto="tcp", dport=70000)), "policies[0].dport"),
    Case("policy_proto_unknown", "ipsec_policy", policies(policy(proto="tcpx")), "policies[0].proto"),
    Case("policy_action_unknown", "ipsec_policy", policies(policy(action="drop")), "action"),
    Case("block_with_templates", "ipsec_policy", policies(policy(action="block")), "policies[0].templates"),
    Case("tunnel_template_without_endpoints", "ipsec_policy", policies(policy(templates=[{"mode": "tunnel"}])),
         "policies[0].templates[0]"),
    Case("transport_template_with_endpoints", "ipsec_policy", policies(policy(templates=[{
        "src": "192.0.2.1", "dst": "192.0.2.2"}])), "policies[0].templates[0].src"),
    Case("tunnel_template_endpoint_unspecified", "ipsec_policy", policies(policy(templates=[tunnel(src="0.0.0.0")])),
         "policies[0].templates[0].src"),
    Case("tunnel_template_v4_to_v6", "ipsec_policy", policies(policy(templates=[tunnel(dst="2001:db8::2")])),
         "policies[0].templates[0].dst"),
    Case("template_level_unknown", "ipsec_policy", policies(policy(templates=[{"level": "maybe"}])), "level"),
    Case("template_proto_unknown", "ipsec_policy", policies(policy(templates=[{"proto": "gre"}])), "proto"),
    Case("optional_tunnel_template_on_out", "ipsec_policy", policies(policy(templates=[tunnel(level="use")])),
         "policies[0].templates[0].level"),
    Case("seven_templates", "ipsec_policy", policies(policy(templates=[tunnel()] * 7)), "policies[0].templates"),
    Case("transport_template_changing_family", "ipsec_policy", policies(policy(templates=[
        tunnel(src="2001:db8::1", dst="2001:db8::2"), {"proto": "ah"}])), "policies[0].templates[1]"),
    Case("templates_a_dict_not_a_list", "ipsec_policy", policies(policy(templates={"proto": "esp"})),
         "policies[0].templates"),
    Case("template_spi_text", "ipsec_policy", policies(policy(templates=[{"spi": "x"}])),
         "policies[0].templates[0].spi"),
    Case("policy_priority_negative", "ipsec_policy", policies(policy(priority=-1)), "policies[0].priority"),
    Case("policy_mark_value_outside_mask", "ipsec_policy", policies(policy(mark={"value": 3, "mask": 1})),
         "policies[0].mark.value"),
    Case("policy_ptype_unknown", "ipsec_policy", policies(policy(ptype="user")), "ptype"),
    Case("policy_flag_unknown", "ipsec_policy", policies(policy(flags=["always"])), "flags"),
    Case("policy_lifetime_soft_above_hard", "ipsec_policy", policies(policy(lifetime={
        "soft_packet_limit": 9, "hard_packet_limit": 3})), "policies[0].lifetime.soft_packet_limit"),
    Case("policy_src_with_nul_byte", "ipsec_policy", policies(policy(src="192.0.2.1\x00/32")), "policies[0].src"),
    Case("policy_src_100000_characters", "ipsec_policy", policies(policy(src=HUGE)), "policies[0].src"),
    Case("duplicate_policy_in_one_list", "ipsec_policy", policies(policy(), policy(priority=5)), "policies[1]"),
    Case("policies_a_string", "ipsec_policy", {"policies": "garbage"}, "policies"),
    Case("exclusive_with_an_empty_policy_list", "ipsec_policy", policies(exclusive=True), "exclusive"),
    Case("foreign_policy_with_the_same_identity", "ipsec_policy",
         policies(policy(src="192.0.2.8", dst="192.0.2.9", dir="in")), "foreign policy"),
    # -- ipsec_apply ---------------------------------------------------------------------------------
    Case("apply_exclusive_with_both_lists_empty", "ipsec_apply", {"exclusive": True}, "exclusive"),
    Case("apply_a_bad_sa_beside_good_policies", "ipsec_apply", dict(sas(sa(spi=1)), **policies(policy())), "sas[0].spi"),
    Case("apply_a_bad_policy_beside_good_sas", "ipsec_apply", dict(sas(sa()), **policies(policy(dir=None))),
         "policies[0].dir"),
    Case("apply_setkey_and_lists", "ipsec_apply", dict(setkey(SETKEY_SA), **sas(sa())), "setkey"),
    Case("apply_compare_only_unknown", "ipsec_apply", dict(sas(sa()), compare_only=["routes"]), "compare_only"),
    Case("apply_superseded_unknown", "ipsec_apply", dict(sas(sa()), superseded="archive"), "superseded"),
    # -- setkey files --------------------------------------------------------------------------------
    Case("setkey_unknown_statement", "ipsec_apply", setkey("frobnicate;"), "line 1"),
    Case("setkey_missing_semicolon", "ipsec_apply", setkey(SETKEY_SA[:-1] + "\nflush;"), "line 2"),
    Case("setkey_unterminated_quote", "ipsec_apply", setkey('add 192.0.2.1 192.0.2.2 esp 4096 -E des-cbc "abc;\n'),
         "line 1"),
    Case("setkey_spi_255", "ipsec_apply", setkey(SETKEY_SA.replace(" 4096 ", " 255 ")), "line 1"),
    Case("setkey_key_is_a_fingerprint", "ipsec_apply", setkey(SETKEY_SA.replace(KEYS[0], "sha256:0a1b2c3d")), "line 1"),
    Case("setkey_key_one_byte_short", "ipsec_apply", setkey(SETKEY_SA.replace(KEYS[0], KEYS[0][:-2])), "line 1"),
    Case("setkey_unknown_algorithm", "ipsec_apply", setkey(SETKEY_SA.replace("aes-cbc", "rot13")), "line 1"),
    Case("setkey_mixed_families", "ipsec_apply", setkey(SETKEY_SA.replace("192.0.2.2", "2001:db8::2")), "line 1"),
    Case("setkey_spdadd_without_policy", "ipsec_apply", setkey("spdadd 10.0.0.0/24 10.0.1.0/24 any;"), "line 1"),
    Case("setkey_spdadd_prefix_with_host_bits", "ipsec_apply",
         setkey("spdadd 10.0.0.1/24 10.0.1.0/24 any -P out ipsec esp/transport//require;"), "line 1"),
    Case("setkey_tunnel_without_endpoints", "ipsec_apply",
         setkey("spdadd 10.0.0.0/24 10.0.1.0/24 any -P out ipsec esp/tunnel//require;"), "line 1"),
    Case("setkey_backslash_continuation", "ipsec_apply", setkey("add 192.0.2.1 192.0.2.2 \\\n esp 4096;"), "line 1"),
    Case("setkey_nul_byte", "ipsec_apply", setkey("flush;\x00"), "line 1"),
    Case("setkey_100000_character_word", "ipsec_apply", setkey("add " + HUGE + ";"), "line 1"),
    Case("setkey_weak_without_opt_in", "ipsec_apply",
         setkey('add 192.0.2.1 192.0.2.2 esp 4096 -E 3des-cbc "123456789012123456789012";'), "line 1"),
    # -- the other modules ---------------------------------------------------------------------------
    Case("flush_scope_unknown", "ipsec_flush", {"scope": "everything"}, "scope"),
    Case("flush_proto_unknown", "ipsec_flush", {"proto": "gre"}, "proto"),
    Case("info_format_unknown", "ipsec_info", {"format": "racoon"}, "format"),
    Case("info_show_keys_without_no_log", "ipsec_info", {"show_keys": True}, "no_log"),
    Case("save_format_unknown", "ipsec_save", {"format": "yaml"}, "format"),
    Case("save_boot_restore_of_a_setkey_file", "ipsec_save", {"format": "setkey", "restore_at_boot": "systemd"},
         "restore_at_boot"),
    Case("lint_fail_on_unknown", "ipsec_lint", {"setkey": "flush;", "fail_on": "info"}, "fail_on"),
    Case("firewall_backend_unknown", "ipsec_firewall", {"backend": "pf", "sas": [], "policies": []}, "backend"),
    # -- the roles' variables (meta/argument_specs.yml) ----------------------------------------------
    Case("role_generation_text", "role:ipsec_host", {"ipsec_generation": "next"}, "ipsec_generation"),
    Case("role_rotation_grace_text", "role:ipsec_host", {"ipsec_rotation_grace": "soon"}, "ipsec_rotation_grace"),
    Case("role_pairs_a_string", "role:ipsec_host", {"ipsec_host_pairs": {"h1": "h2"}}, "ipsec_host_pairs"),
    Case("role_overrides_a_list", "role:ipsec_host", {"ipsec_host_pair_overrides": ["h1~h2"]}, "ipsec_host_pair_overrides"),
    Case("role_phase_unknown", "role:ipsec_host", {"ipsec_phase": "both"}, "ipsec_phase"),
    Case("role_key_bits_text", "role:ipsec_host", {"ipsec_host_enc_key_bits": "many"}, "ipsec_host_enc_key_bits"),
    Case("role_management_a_dict", "role:ipsec_host", {"ipsec_management_addresses": {"a": 1}},
         "ipsec_management_addresses"),
    Case("role_members_a_string", "role:ipsec_host", {"ipsec_host_members": "h1"}, "ipsec_host_members"),
    Case("role_master_secret_missing", "role:ipsec_host", {"ipsec_master_secret": None}, "ipsec_master_secret"),
    Case("role_gateway_protocols_unknown", "role:ipsec_gateway", {"ipsec_gateway_protocols": ["gre"]},
         "ipsec_gateway_protocols"),
    Case("role_gateway_subnets_a_dict", "role:ipsec_gateway", {"ipsec_gateway_subnets": {"lan": "10.0.0.0/24"}},
         "ipsec_gateway_subnets"),
    Case("role_gateway_forwarding_text", "role:ipsec_gateway", {"ipsec_gateway_forwarding": "sometimes"},
         "ipsec_gateway_forwarding"),
    # -- the site (inventory read by the ipsec_site action) ------------------------------------------
    Case("site_master_secret_empty", "site", {"common": {"ipsec_master_secret": ""}}, "master_secret"),
    Case("site_host_in_no_site", "site", {"host": "stray"}, "stray"),
    Case("site_pair_naming_an_unknown_host", "site", {"common": {"ipsec_host_pairs": [["h1", "h7"]]}}, "h7"),
    Case("site_host_address_not_an_address", "site", {"h2": {"ipsec_host_address": "192.0.2.300"}},
         "ipsec_host_address"),
    Case("site_host_address_missing", "site", {"h2": {}}, "ipsec_host_address"),
    Case("site_gateway_subnet_with_host_bits", "site", {"host": "gw1", "gw2": {
        "ipsec_gateway_address": "192.0.2.102", "ipsec_gateway_subnets": ["203.0.113.1/24"]}}, "ipsec_gateway_subnets"),
    Case("site_weak_algorithm", "site", {"common": {"ipsec_host_enc_algorithm": "des-cbc"}}, "enc_algorithm"),
    Case("site_generation_negative", "site", {"common": {"ipsec_generation": -1}}, "ipsec_generation"),
    Case("site_pair_generations_unknown_pair", "site", {"common": {"ipsec_pair_generations": {"h1~h9": 2}}},
         "ipsec_pair_generations"),
] + _short_keys()
