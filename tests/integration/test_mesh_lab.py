"""A three-host transport-mode ESP mesh (topology mesh3), keyed from one master secret with keys.plan_mesh.

The controller derives every pair's keys and SPIs; each host gets its own SAs (both directions of
each of its pairs) and in/out policies. Every host then pings every other, and what each host
transmits is ESP only.
"""

import pytest

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys

from ansible_run import run_module
from traffic import Capture, ping

MASTER = b"mesh3 test master secret, not a real one"


@pytest.mark.lab("mesh3")
def test_three_host_mesh_from_one_master_secret_carries_only_esp(lab):
    nodes = ("h1", "h2", "h3")
    for node in nodes:
        lab.ssh(node, "ip xfrm state flush; ip xfrm policy flush")
    hosts = {node: lab.hosts[node]["lab_addr"] for node in nodes}
    plan = keys.plan_mesh(MASTER, hosts)
    secret_hex = plan["h1"]["sas"][0]["enc"]["key"][2:]
    for node in nodes:
        applied = run_module("ipsec_sa", {"sas": plan[node]["sas"], "exclusive": True}, hosts=node, inventory=lab.inventory)
        assert applied.only["summary"]["add"] == 4 and secret_hex not in applied.output
        assert run_module("ipsec_policy", {"policies": plan[node]["policies"]}, hosts=node,
                          inventory=lab.inventory).only["summary"]["add"] == 4
    again = run_module("ipsec_sa", {"sas": plan["h2"]["sas"], "exclusive": True}, hosts="h2", inventory=lab.inventory)
    assert again.only["changed"] is False, "same master secret, same keys: a re-run changes nothing"

    with Capture(lab, "h1", "eth1", direction="out") as c1, Capture(lab, "h2", "eth1", direction="out") as c2, \
            Capture(lab, "h3", "eth1", direction="out") as c3:
        for src in nodes:
            for dst in nodes:
                if src != dst:
                    assert ping(lab, src, hosts[dst], count=3) == 3, (src, dst)
    for node, cap in zip(nodes, (c1, c2, c3)):
        assert cap.count("ESP") >= 12, (node, cap.lines)  # 3 requests to each peer, 3 replies to each peer
        assert cap.count("ICMP") == 0, (node, cap.lines)
    for node in nodes:
        lab.ssh(node, "ip xfrm state flush; ip xfrm policy flush")
