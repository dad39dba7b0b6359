"""ipsec_firewall and ipsec_save's boot-time restore through AnsibleModule, with a fake kernel and fake nft,
iptables and systemctl (what each run would execute, and when it writes). The real tools, a real reboot and real
packets: tests/integration/test_firewall_persist_lab.py."""

import json
import re

import pytest

from ansible.module_utils import basic

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_system
from ansible_collections.xfrm.ipsec.plugins.modules import ipsec_firewall, ipsec_policy, ipsec_sa, ipsec_save
from ansible_collections.xfrm.ipsec.tests.unit.test_module_runs import ENC, POLICIES, SAS, run
from ansible_collections.xfrm.ipsec.tests.unit.test_module_runs import kernel  # noqa: F401 pylint: disable=unused-import


class FakeTools:
    """nft with one table it keeps as text, systemctl with an enabled set; every command recorded."""

    def __init__(self, have_nft=True):
        self.have_nft = have_nft
        self.table = None
        self.enabled = set()
        self.commands = []

    def get_bin_path(self, name, required=False, opt_dirs=None):
        if name == "nft" and not self.have_nft:
            return None
        return "/usr/sbin/" + name

    def run_command(self, args, data=None, check_rc=False, **_kw):
        tool, rest = args[0].rsplit("/", 1)[1], list(args[1:])
        self.commands.append([tool] + rest)
        if tool == "nft" and rest[:2] == ["list", "table"]:
            return (0, self.table, "") if self.table is not None else (1, "", "No such file or directory")
        if tool == "nft" and rest[:1] == ["-f"]:
            with open(rest[1], encoding="utf-8") as handle:
                text = handle.read()
            self.table = text[text.index("table inet xfrm_ipsec {"):]
        elif tool == "nft" and rest[:1] == ["delete"]:
            self.table = None
        elif tool == "systemctl" and rest[0] == "is-enabled":
            return (0 if rest[-1] in self.enabled else 1), "", ""
        elif tool == "systemctl" and rest[0] in ("enable", "disable"):
            (self.enabled.add if rest[0] == "enable" else self.enabled.discard)(rest[-1])
        elif tool in ("iptables", "ip6tables"):
            return 1, "", "no chain"
        return 0, "", ""


@pytest.fixture
def tools(monkeypatch, kernel):  # noqa: F811
    fake = FakeTools()
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **k: fake.get_bin_path(*a, **k))
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, *a, **k: fake.run_command(*a, **k))
    return fake


def keyed(kernel):  # noqa: F811
    run(ipsec_sa, {"sas": SAS})
    run(ipsec_policy, {"policies": POLICIES})


def test_firewall_from_the_kernel_check_mode_then_loaded_once_then_no_change(tools, kernel, tmp_path):  # noqa: F811
    keyed(kernel)
    args = {"dir": str(tmp_path / "fw"), "management": ["198.51.100.250"]}
    check = run(ipsec_firewall, args, check=True)
    assert check["changed"] and check["reloaded"] and check["backend"] == "nftables"
    assert not (tmp_path / "fw").exists() and tools.table is None, "check mode wrote and loaded nothing"
    assert "meta ipsec missing counter drop" in check["diff"]["after"] and check["counts"] == {
        "input": 1, "forward": 0, "postrouting": 1}
    real = run(ipsec_firewall, args)
    assert real["changed"] and real["digest"] == check["digest"]
    assert [c[:2] for c in tools.commands if c[0] == "nft" and c[1] in ("-c", "-f")] == [["nft", "-c"], ["nft", "-f"]]
    assert oct((tmp_path / "fw").stat().st_mode & 0o777) == "0o700"
    assert oct((tmp_path / "fw" / "firewall.nft").stat().st_mode & 0o777) == "0o600"
    loads = len(tools.commands)
    again = run(ipsec_firewall, args)
    assert again["changed"] is False and not any(c[1] == "-f" for c in tools.commands[loads:])


def test_firewall_hand_edit_of_the_table_is_loaded_over(tools, kernel, tmp_path):  # noqa: F811
    keyed(kernel)
    args = {"dir": str(tmp_path), "sas": [{"src": "192.0.2.1", "dst": "192.0.2.2", "proto": "esp"}],
            "policies": [dict(POLICIES[1], src="192.0.2.2/32", dst="192.0.2.1/32")]}
    run(ipsec_firewall, args)
    tools.table = tools.table.replace("policy accept;", "policy accept;\n\t\tudp dport 9999 accept", 1)
    edited = run(ipsec_firewall, args, check=True)
    assert edited["changed"] and edited["reloaded"]
    assert run(ipsec_firewall, args)["changed"] and "9999" not in tools.table


def test_firewall_absent_removes_table_and_files_then_changes_nothing(tools, kernel, tmp_path):  # noqa: F811
    keyed(kernel)
    run(ipsec_firewall, {"dir": str(tmp_path)})
    gone = run(ipsec_firewall, {"dir": str(tmp_path), "state": "absent"})
    assert gone["changed"] and "nft table inet xfrm_ipsec" in gone["removed"] and tools.table is None
    assert list(tmp_path.iterdir()) == []
    assert run(ipsec_firewall, {"dir": str(tmp_path), "state": "absent"})["changed"] is False


def test_firewall_nft_refusal_fails_before_anything_is_written(tools, kernel, tmp_path, monkeypatch):  # noqa: F811
    keyed(kernel)
    real = tools.run_command
    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, args, **kw: (
        (1, "", "Error: syntax error") if args[1:2] == ["-c"] else real(args, **kw)))
    failed = run(ipsec_firewall, {"dir": str(tmp_path)})
    assert failed["failed"] and "nft refused the rules (nothing was changed): Error: syntax error" == failed["msg"]
    assert list(tmp_path.iterdir()) == [] and tools.table is None


def test_save_with_restore_at_boot_installs_and_enables_the_unit_once(tools, kernel, tmp_path, monkeypatch):  # noqa: F811
    keyed(kernel)
    monkeypatch.setattr(ipsec_system, "has_systemd", lambda: True)
    monkeypatch.setattr(ipsec_system, "RESTORE_SCRIPT", str(tmp_path / "sbin" / "xfrm-ipsec-restore"))
    monkeypatch.setattr(ipsec_system, "UNIT_PATH", str(tmp_path / "units" / "xfrm-ipsec-restore.service"))
    args = {"path": str(tmp_path / "etc" / "state.ip"), "restore_at_boot": "systemd"}
    check = run(ipsec_save, args, check=True)
    assert check["changed"] and not (tmp_path / "etc").exists() and tools.enabled == set()
    first = run(ipsec_save, args)
    assert first["changed"] and tools.enabled == {"xfrm-ipsec-restore.service"}
    unit = (tmp_path / "units" / "xfrm-ipsec-restore.service").read_text()
    assert "Before=network-pre.target" in unit and "ConditionPathExists=%s" % args["path"] in unit
    script = (tmp_path / "sbin" / "xfrm-ipsec-restore").read_text()
    assert "ip -force -batch \"$state\"" in script and script.index("nft -f") < script.index("ip -force -batch")
    assert oct((tmp_path / "sbin" / "xfrm-ipsec-restore").stat().st_mode & 0o777) == "0o700"
    assert ["systemctl", "daemon-reload"] in tools.commands
    count = len(tools.commands)
    assert run(ipsec_save, args)["changed"] is False
    assert not [c for c in tools.commands[count:] if c[1] in ("enable", "daemon-reload")]
    gone = run(ipsec_save, dict(args, state="absent"))
    assert gone["changed"] and tools.enabled == set() and not (tmp_path / "etc").exists()
    assert not (tmp_path / "units" / "xfrm-ipsec-restore.service").exists()
    assert ENC[2:] not in json.dumps([check, first, gone])


def test_save_without_systemd_warns_with_auto_and_fails_with_systemd(tools, kernel, tmp_path, monkeypatch,  # noqa: F811
                                                                     capsys):
    keyed(kernel)
    monkeypatch.setattr(ipsec_system, "has_systemd", lambda: False)
    auto = run(ipsec_save, {"path": str(tmp_path / "state.ip"), "restore_at_boot": "auto"})
    assert auto["changed"] and "restore_at_boot" not in auto and (tmp_path / "state.ip").exists()
    assert re.search(r"systemd does not run this host: the IPsec state is saved in \S+ but not restored at boot",
                     capsys.readouterr().err)
    required = run(ipsec_save, {"path": str(tmp_path / "other.ip"), "restore_at_boot": "systemd"})
    assert required["failed"] and "systemd does not run this host" in required["msg"]
    assert not (tmp_path / "other.ip").exists()


def test_firewall_moving_to_the_other_backend_takes_the_old_rules_out(tools, kernel, tmp_path):  # noqa: F811
    keyed(kernel)
    run(ipsec_firewall, {"dir": str(tmp_path)})
    assert tools.table is not None
    moved = run(ipsec_firewall, {"dir": str(tmp_path), "backend": "iptables"})
    assert moved["changed"] and moved["backend"] == "iptables" and tools.table is None, "the nft table went"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["firewall.ip6tables", "firewall.iptables", "firewall.loaded"]
    assert ["iptables-restore", "--noflush", str(tmp_path / "firewall.iptables")] in tools.commands


def test_save_refuses_a_setkey_file_for_the_boot_restore_before_writing(tools, kernel, tmp_path):  # noqa: F811
    keyed(kernel)
    refused = run(ipsec_save, {"path": str(tmp_path / "state"), "format": "setkey", "restore_at_boot": "auto"})
    assert refused["failed"] and "restore_at_boot needs format: ip" in refused["msg"]
    assert list(tmp_path.iterdir()) == []
