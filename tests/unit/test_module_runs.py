"""The four modules end to end through AnsibleModule, with the fake kernel behind Transport."""

import errno
import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible.module_utils.testing import patch_module_args

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_common
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.transport import XfrmError
from ansible_collections.xfrm.ipsec.plugins.filter.setkey_entries import setkey_entries
from ansible_collections.xfrm.ipsec.plugins.modules import ipsec_apply, ipsec_flush, ipsec_info, ipsec_lint, ipsec_policy, ipsec_sa

from ansible_collections.xfrm.ipsec.tests.unit.fake_kernel import Exit, FakeKernel, capture_exits
from ansible_collections.xfrm.ipsec.tests.unit.seed_setkey import LARTC_216

ENC = "0x" + "5e" * 32
AUTH = "0x" + "a7" * 32
SAS = [{"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 4096, "enc": {"algorithm": "aes-cbc", "key": ENC},
        "auth": {"algorithm": "hmac-sha256", "key": AUTH}},
       {"src": "192.0.2.2", "dst": "192.0.2.1", "spi": 4097, "enc": {"algorithm": "aes-cbc", "key": ENC},
        "auth": {"algorithm": "hmac-sha256", "key": AUTH}}]
POLICIES = [{"src": "192.0.2.1", "dst": "192.0.2.2", "dir": "out", "templates": [{"proto": "esp"}]},
            {"src": "192.0.2.2", "dst": "192.0.2.1", "dir": "in", "templates": [{"proto": "esp"}]}]


@pytest.fixture
def kernel(monkeypatch):
    fake = FakeKernel()
    monkeypatch.setattr(ipsec_common, "Transport", lambda netns=None: fake if netns is None else _no_netns(netns))
    capture_exits(monkeypatch)
    return fake


def _no_netns(netns):
    """The fake kernel has no network namespaces: what Transport says of a name the host does not have."""
    raise XfrmError(errno.ENOENT, "netns: network namespace %r does not exist" % netns)


def run(module, args, check=False, diff=True, no_log=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff, _ansible_no_log=no_log)
    with patch_module_args(args), pytest.raises(Exit) as info:
        module.main()
    return info.value.result


def test_check_mode_changes_nothing_and_predicts_the_real_run(kernel):
    check = run(ipsec_sa, {"sas": SAS}, check=True)
    assert check["changed"] and kernel.requests == [] and kernel.sas == {}
    real = run(ipsec_sa, {"sas": SAS})
    assert real["actions"] == check["actions"] and real["summary"] == check["summary"] == {
        "add": 2, "update": 0, "replace": 0, "delete": 0}
    assert len(kernel.sas) == 2


def test_second_run_and_second_check_run_report_no_change(kernel):
    run(ipsec_sa, {"sas": SAS})
    run(ipsec_policy, {"policies": POLICIES})
    sent = len(kernel.requests)
    for module, args in ((ipsec_sa, {"sas": SAS}), (ipsec_policy, {"policies": POLICIES})):
        assert run(module, args)["changed"] is False
        assert run(module, args, check=True)["changed"] is False
    assert len(kernel.requests) == sent


def test_results_and_diffs_never_hold_key_material(kernel):
    results = [run(ipsec_sa, {"sas": SAS}, check=True), run(ipsec_sa, {"sas": SAS})]
    rekeyed = [dict(e, enc={"algorithm": "aes-cbc", "key": "0x" + "77" * 32}) for e in SAS]
    results.append(run(ipsec_sa, {"sas": rekeyed}))
    results.append(run(ipsec_info, {"format": "setkey"}))
    results.append(run(ipsec_flush, {}, check=True))
    text = json.dumps(results).lower()
    for key in (ENC, AUTH, "0x" + "77" * 32):
        assert key[2:] not in text
    assert results[2]["diff"]["before"] and "sha256:" in json.dumps(results[2]["diff"])
    assert [a["action"] for a in results[2]["actions"]] == ["replace", "replace"]


def test_validation_error_names_the_field_and_sends_nothing(kernel):
    bad = [SAS[0], dict(SAS[1], enc={"algorithm": "aes-cbc", "key": "0x1234"})]
    result = run(ipsec_sa, {"sas": bad})
    assert result["failed"] and "sas[1].enc.key: 2 bytes given" in result["msg"]
    assert result["errors"] == ["sas[1].enc.key: 2 bytes given, cbc(aes) takes 16, 24 or 32 bytes"]
    assert kernel.requests == []


def test_kernel_refusal_fails_the_task_with_everything_undone(kernel):
    run(ipsec_policy, {"policies": POLICIES[:1]})
    before = dict(kernel.policies)
    kernel.fail = lambda mtype, payload: 22 if mtype == C.XFRM_MSG_NEWPOLICY and payload[160] == 0 else 0
    result = run(ipsec_policy, {"policies": [dict(POLICIES[0], priority=9), POLICIES[1]]})
    assert result["failed"] and result["changed"] is False
    assert result["failures"][0]["entry"].startswith("dir in")
    assert kernel.policies == before


def test_sa_single_entry_options_and_state_absent(kernel):
    assert run(ipsec_sa, SAS[0])["changed"]
    gone = run(ipsec_sa, {"dst": "192.0.2.2", "spi": "0x1000", "state": "absent"})
    assert gone["actions"] == [{"action": "delete", "entry": "esp spi 0x00001000 dst 192.0.2.2"}]
    assert kernel.sas == {}


def test_info_show_keys_needs_no_log(kernel):
    run(ipsec_sa, {"sas": SAS})
    refused = run(ipsec_info, {"show_keys": True})
    assert refused["failed"] and "no_log" in refused["msg"]
    shown = run(ipsec_info, {"show_keys": True}, no_log=True)
    assert shown["sas"][0]["enc"]["key"] == ENC


def test_info_setkey_file_applied_back_restores_the_same_state(kernel, capsys):
    run(ipsec_sa, {"sas": SAS + [dict(SAS[0], spi=0x2000, mark={"value": 5, "mask": 0xFF})]})
    run(ipsec_policy, {"policies": POLICIES})
    sas, policies = dict(kernel.sas), dict(kernel.policies)
    backup = run(ipsec_info, {"format": "setkey", "show_keys": True}, no_log=True)
    assert backup["setkey"].count("\nadd ") == 2 and backup["setkey"].count("\nspdadd ") == 2
    assert "SA esp spi 0x00002000 dst 192.0.2.2 mark 0x5/0xff: setkey's language has no mark: written as a comment in " \
        "the setkey text (applying the text removes it)" in capsys.readouterr().err  # module.warn(), as a test run shows it
    run(ipsec_sa, {"sas": [dict(SAS[1], enc={"algorithm": "aes-cbc", "key": "0x" + "77" * 32})]})
    run(ipsec_policy, {"policies": POLICIES[:1] + [dict(POLICIES[1], priority=7)]})
    restored = run(ipsec_apply, {"setkey": backup["setkey"]})
    assert restored["changed"] and restored["summary"]["replace"] + restored["summary"]["update"] == 2, restored
    marked = [identity for identity in sas if identity.mark.value]
    assert kernel.policies == policies and kernel.sas == {i: sa for i, sa in sas.items() if i not in marked}, \
        "all but the SA setkey cannot express (its flush; removed it, as the warning said it would)"
    assert run(ipsec_apply, {"setkey": backup["setkey"]})["changed"] is False
    shown = run(ipsec_info, {"format": "setkey"})["setkey"]
    assert ENC[2:] not in shown and "-E aes-cbc sha256:" in shown


def test_info_setkey_dump_text_lists_sas_and_policies(kernel):
    run(ipsec_sa, {"sas": SAS[:1]})
    run(ipsec_policy, {"policies": POLICIES[:1]})
    info = run(ipsec_info, {"format": "setkey_dump"})
    assert info["setkey"].startswith("192.0.2.1 192.0.2.2\n\tesp mode=transport spi=4096(0x00001000) reqid=1879048192")
    assert "\tE: aes-cbc  sha256:" in info["setkey"] and "\tA: hmac-sha256  sha256:" in info["setkey"]
    assert "192.0.2.1/32[any] 192.0.2.2/32[any] any\n\tout prio 0 ipsec\n\tesp/transport//unique#1879048192" in info["setkey"]


def test_flush_managed_keeps_foreign_entries_and_all_removes_them(kernel):
    run(ipsec_sa, {"sas": SAS + [dict(SAS[0], spi=9999, reqid=7)]})
    preview = run(ipsec_flush, {}, check=True)
    assert len(preview["removed"]["sas"]) == 2 and len(kernel.sas) == 3
    assert run(ipsec_flush, {})["removed"] == preview["removed"]
    assert [sa.spi for sa in kernel.sas.values()] == [9999]
    assert len(run(ipsec_flush, {"scope": "all"})["removed"]["sas"]) == 1 and kernel.sas == {}
    assert run(ipsec_flush, {"scope": "all"})["changed"] is False


def test_missing_netns_is_reported_not_created(kernel, monkeypatch):
    def refuse(netns=None):
        raise XfrmError(2, "network namespace %r does not exist" % netns)
    monkeypatch.setattr(ipsec_common, "Transport", refuse)
    result = run(ipsec_policy, dict(POLICIES[0], netns="typo"))
    assert result["failed"] and "'typo' does not exist" in result["msg"]


def test_apply_puts_sas_then_policies_in_one_request_and_a_rerun_changes_nothing(kernel):
    check = run(ipsec_apply, {"sas": SAS, "policies": POLICIES}, check=True)
    assert check["changed"] and kernel.requests == [] and check["pending"] == []
    first = run(ipsec_apply, {"sas": SAS, "policies": POLICIES})
    assert first["actions"] == check["actions"] and len(kernel.sas) == 2 and len(kernel.policies) == 2
    kinds = [mtype for mtype, _payload in kernel.requests]
    assert kinds == [C.XFRM_MSG_NEWSA] * 2 + [C.XFRM_MSG_NEWPOLICY] * 2, "SAs before the policies that use them"
    again = run(ipsec_apply, {"sas": SAS, "policies": POLICIES})
    assert not again["changed"] and again["actions"] == []


def test_apply_deletes_policies_before_the_sas_they_used(kernel):
    run(ipsec_apply, {"sas": SAS, "policies": POLICIES})
    kernel.requests.clear()
    gone = run(ipsec_apply, {"sas": [dict(sa, state="absent") for sa in SAS],
                             "policies": [dict(p, state="absent") for p in POLICIES]})
    assert gone["summary"]["delete"] == 4 and kernel.sas == {} and kernel.policies == {}
    assert [mtype for mtype, _payload in kernel.requests] == [C.XFRM_MSG_DELPOLICY] * 2 + [C.XFRM_MSG_DELSA] * 2


def test_apply_compare_only_reports_the_policies_pending_and_leaves_them_alone(kernel):
    step = run(ipsec_apply, {"sas": SAS, "policies": POLICIES, "compare_only": ["policies"]}, check=False)
    assert step["changed"] and len(kernel.sas) == 2 and kernel.policies == {}
    assert [a["action"] for a in step["pending"]] == ["add", "add"]
    assert all("spi" in a["entry"] for a in step["actions"]), "only the SAs were applied"
    assert all("spi" in entry for entry in step["diff"]["after"]), "the diff shows what changed, not what is pending"
    run(ipsec_policy, {"policies": POLICIES})
    again = run(ipsec_apply, {"sas": SAS, "policies": POLICIES, "compare_only": ["policies"]})
    assert not again["changed"] and again["pending"] == []


def test_apply_a_refused_policy_undoes_the_sas_of_the_request_too(kernel):
    kernel.fail = lambda mtype, payload: errno.ENOBUFS if mtype == C.XFRM_MSG_NEWPOLICY and len(kernel.policies) == 1 else 0
    failed = run(ipsec_apply, {"sas": SAS, "policies": POLICIES})
    assert failed["failed"] and not failed["changed"] and "undone" in failed["msg"]
    assert kernel.sas == {} and kernel.policies == {}, "nothing of the request is left in either table"


def test_apply_validates_both_tables_before_touching_the_kernel(kernel):
    bad_sa = dict(SAS[0], enc={"algorithm": "aes-cbc", "key": "0x1234"})
    bad_policy = dict(POLICIES[0], src="192.0.2.300")
    failed = run(ipsec_apply, {"sas": [bad_sa], "policies": [bad_policy]})
    assert failed["failed"] and kernel.requests == [], failed["msg"]
    assert any(e.startswith("sas[0].enc.key") for e in failed["errors"])
    assert any(e.startswith("policies[0]") for e in failed["errors"]), failed["errors"]


def test_apply_a_setkey_file_check_mode_predicts_and_a_rerun_changes_nothing(kernel):
    args = {"setkey": LARTC_216, "allow_weak_algorithms": True}
    check = run(ipsec_apply, args, check=True)
    assert check["changed"] and kernel.requests == [] and check["summary"]["add"] == 7
    first = run(ipsec_apply, args)
    assert first["actions"] == check["actions"] and len(kernel.sas) == 4 and len(kernel.policies) == 3, "in, out, fwd"
    assert not run(ipsec_apply, args)["changed"], "the same file again: flush and add leave what is there"
    assert "key" not in json.dumps(first["diff"]).replace("key_fingerprint", ""), "keys only as fingerprints"


def test_apply_a_setkey_file_with_an_error_names_the_line_and_changes_nothing(kernel):
    broken = LARTC_216.replace("-A hmac-md5 \"1234567890123456\";\nadd 10.0.0.216", "-A hmac-md5 \"123456\";\nadd 10.0.0.216")
    failed = run(ipsec_apply, {"setkey": broken, "allow_weak_algorithms": True})
    assert failed["failed"] and kernel.requests == [] and failed["errors"][0].startswith("line 6: auth.key: 6 bytes given")
    unparsable = run(ipsec_apply, {"setkey": "flush;\nspdadd 10.0.0.1 10.0.0.2 any -P ipsec esp/transport//use;"})
    assert unparsable["failed"] and "line 2, column 33" in unparsable["msg"] and kernel.requests == []


def test_apply_a_setkey_flush_keeps_foreign_entries_unless_told(kernel):
    foreign = dict(SAS[0], reqid=7)
    run(ipsec_sa, {"sas": [foreign]})
    run(ipsec_apply, {"setkey": "flush;\n" + "add 192.0.2.1 192.0.2.2 esp 0x2000 -E aes-cbc %s -A hmac-sha256 %s;" % (ENC, AUTH)})
    assert sorted(sa.spi for sa in kernel.sas.values()) == [4096, 0x2000], "the hand-made SA (reqid 7) survives flush"
    everything = run(ipsec_apply, {"setkey": "flush;", "setkey_flush": "all"})
    assert everything["summary"]["delete"] == 2 and kernel.sas == {}


def test_apply_setkey_and_lists_are_exclusive(kernel):
    refused = run(ipsec_apply, {"setkey": "flush;", "sas": SAS})
    assert refused["failed"] and "mutually exclusive" in refused["msg"] and kernel.requests == []


def test_a_converted_setkey_file_puts_the_same_state_in_place_as_the_file_itself(kernel):
    converted = setkey_entries(LARTC_216, allow_weak_algorithms=True)
    assert [sa["auth"]["algorithm"] for sa in converted["sas"] if "auth" in sa] == ["hmac(md5)"] * 2
    run(ipsec_apply, {"setkey": LARTC_216, "allow_weak_algorithms": True})
    from_file = (dict(kernel.sas), dict(kernel.policies))
    gone = run(ipsec_flush, {})
    assert len(gone["removed"]["sas"] + gone["removed"]["policies"]) == 7 and kernel.sas == {} and kernel.policies == {}
    run(ipsec_apply, dict(converted, allow_weak_algorithms=True))
    assert (kernel.sas, kernel.policies) == from_file
    assert not run(ipsec_apply, {"setkey": LARTC_216, "allow_weak_algorithms": True})["changed"]


def test_the_converter_refuses_what_it_cannot_convert_with_the_line():
    with pytest.raises(AnsibleFilterError, match="line 1, column 23: .*TCP_MD5SIG"):
        setkey_entries('add 10.0.0.1 10.0.0.2 tcp 4096 -A tcp-md5 "k";')
    with pytest.raises(AnsibleFilterError, match="line 1: enc.algorithm: des-cbc .* is weak"):
        setkey_entries('add 10.0.0.1 10.0.0.2 esp 4096 -E des-cbc "hogehoge";')


def test_lint_reads_the_kernel_and_fails_on_errors_unless_told(kernel):
    run(ipsec_sa, {"sas": SAS})
    run(ipsec_policy, {"policies": POLICIES[:1]})  # out without its in policy
    failed = run(ipsec_lint, {})
    assert failed["failed"] and not failed["changed"] and failed["summary"] == {"error": 1, "warning": 0}
    assert failed["findings"][0]["id"] == "out-without-in" and "out-without-in" in failed["msg"]
    assert not run(ipsec_lint, {"fail_on": "never"})["failed"]
    run(ipsec_policy, {"policies": POLICIES})
    assert run(ipsec_lint, {})["findings"] == []
    assert kernel.requests[-1][0] == C.XFRM_MSG_NEWPOLICY, "lint sent nothing to the kernel"


def test_lint_a_setkey_file_without_touching_the_kernel(kernel):
    weak = run(ipsec_lint, {"setkey": LARTC_216, "fail_on": "warning"})
    assert weak["failed"] and weak["summary"]["error"] == 4 and kernel.requests == []
    assert "1234567890123456" not in json.dumps(weak), "keys never in findings"
    bad = run(ipsec_lint, {"setkey": "spdflush"})
    assert bad["failed"] and "line 1, column 9" in bad["msg"]


def test_apply_a_setkey_deleteall_removes_every_sa_between_two_addresses_of_one_protocol(kernel):
    run(ipsec_sa, {"sas": SAS + [dict(SAS[0], spi=4098), dict(SAS[0], proto="ah", spi=4099, enc=None)]})
    gone = run(ipsec_apply, {"setkey": "deleteall 192.0.2.1 192.0.2.2 esp;"})
    assert gone["summary"]["delete"] == 2
    assert sorted((sa.proto, sa.spi) for sa in kernel.sas.values()) == [(50, 4097), (51, 4099)]


def test_save_writes_a_root_only_file_once_and_never_shows_a_key(kernel, tmp_path):
    from ansible_collections.xfrm.ipsec.plugins.modules import ipsec_save
    run(ipsec_sa, {"sas": SAS + [dict(SAS[0], spi=9999, reqid=7)]})  # reqid 7: not the collection's, not saved
    run(ipsec_policy, {"policies": POLICIES})
    path = tmp_path / "state.ip"
    check = run(ipsec_save, {"path": str(path)}, check=True)
    assert check["changed"] and not path.exists()
    first = run(ipsec_save, {"path": str(path)})
    assert first["changed"] and (first["sas"], first["policies"]) == (2, 2)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert [line.split()[:3] for line in lines] == [["xfrm", "state", "add"]] * 2 + [["xfrm", "policy", "add"]] * 2
    assert ENC[2:] in text and "spi 0x0000270f" not in text, "keys are in the file, foreign SAs are not"
    assert "index" in lines[2], "policies keep their index: the collection's mark"
    again = run(ipsec_save, {"path": str(path)})
    assert again["changed"] is False and path.read_text() == text
    run(ipsec_sa, {"sas": [dict(SAS[1], enc={"algorithm": "aes-cbc", "key": "0x" + "77" * 32})]})
    rekeyed = run(ipsec_save, {"path": str(path)}, check=True)
    assert rekeyed["changed"] and path.read_text() == text, "check mode writes nothing"
    diff = json.dumps(rekeyed["diff"])
    assert "sha256:" in diff and ENC[2:] not in diff and "77" * 32 not in diff and AUTH[2:] not in diff
    assert ENC[2:] not in json.dumps([check, first, again, rekeyed])
    as_setkey = run(ipsec_save, {"path": str(tmp_path / "state.setkey"), "format": "setkey", "managed_only": False})
    assert as_setkey["sas"] == 3 and (tmp_path / "state.setkey").read_text().startswith("#@xfrm.ipsec as-dumped")
