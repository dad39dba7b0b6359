"""Every module's EXAMPLES, run as written on two lab guests: the documentation works on a real kernel.

The examples' variables (vault keys, host lists) get throw-away test values here, and the guests
get the `lab` network namespace one example names. Order: SAs, policies, info, save, firewall, flush,
as a user would run them.
"""

import json
import pathlib
import tempfile

import pytest
import yaml

from ansible_run import ROOT, run_playbook

MODULES = ["ipsec_sa", "ipsec_policy", "ipsec_info", "ipsec_save", "ipsec_firewall", "ipsec_flush"]
KEY = "0x" + "6b" * 32
VARS = {"vault_ab_enc_key": KEY, "vault_ab_auth_key": KEY, "vault_gw_ab_enc": KEY, "vault_gw_ab_auth": KEY,
        "vault_gw_ba_enc": KEY, "vault_gw_ba_auth": KEY,
        "host_sas": [{"src": "10.99.0.1", "dst": "10.99.0.2", "spi": 4096, "enc": {"algorithm": "aes-cbc", "key": KEY},
                      "auth": {"algorithm": "hmac-sha256", "key": KEY}}]}


def examples(module):
    source = (ROOT / "plugins" / "modules" / (module + ".py")).read_text()
    return yaml.safe_load(source.split('EXAMPLES = r"""', 1)[1].split('"""', 1)[0])


@pytest.mark.lab("pair")
def test_every_module_example_runs_on_a_real_kernel(lab):
    for node in ("h1", "h2"):
        lab.ssh(node, "ip netns add lab 2>/dev/null; ip xfrm state flush; ip xfrm policy flush")
    tasks = [task for module in MODULES for task in examples(module)]
    assert len(tasks) >= 15
    play = {"hosts": "h1:h2", "gather_facts": False,
            "vars": dict(VARS, peer="{{ 'h2' if inventory_hostname == 'h1' else 'h1' }}"), "tasks": tasks}
    with tempfile.TemporaryDirectory() as tmp:
        playbook = pathlib.Path(tmp) / "examples.yml"
        playbook.write_text(json.dumps([play]))
        proc = run_playbook(playbook, lab.inventory)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert "failed=0" in proc.stdout
    assert KEY[2:] not in proc.stdout
    for node in ("h1", "h2"):
        assert lab.ssh(node, "ip xfrm state; ip xfrm policy").stdout.strip() == "", "the flush examples leave nothing"
        # (iptables-nft leaves its own empty tables ip filter / ip6 filter: the host's, not the collection's)
        assert lab.ssh(node, "nft list table inet xfrm_ipsec 2>/dev/null; ls /etc/xfrm-ipsec 2>/dev/null; "
                             "iptables -S | grep XFRM; ip6tables -S | grep XFRM", check=False).stdout.strip() == "", \
            "the remove examples leave nothing"
        lab.ssh(node, "ip netns del lab; rm -f /root/ipsec-backup.setkey")
