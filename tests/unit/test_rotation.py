"""Key rotation, make-before-break: the invariants of docs/rotation.md, checked after every step.

A fleet of fake kernels (one per host) behind the real modules, driven by the real ipsec_site action stage by
stage, host by host, as the roles' linear plays do. After every single step, for every direction of every pair:
the sender's outbound policy selects exactly one SA, and the receiver holds that same SA (same SPI, same keys) and
accepts it. That is "no packet lost". The lab proves it with traffic (tests/integration/test_rotation_lab.py).
"""

import itertools

import pytest

from ansible.errors import AnsibleActionFail

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C, keys, plan, rotation, setkey, site
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas

from ansible_collections.xfrm.ipsec.tests.unit.fleet import MASTER, Fleet, assert_no_packet_lost


def spis(fleet, host):
    return sorted(sa.spi for sa in fleet.kernels[host].sas.values())


def test_a_rotation_step_by_step_never_leaves_a_direction_without_its_sa_and_ends_on_the_new_generation(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    old = {h: spis(fleet, h) for h in fleet.kernels}
    assert all(s["state"] == "stable" and s["in_force"] == 0 for s in fleet.status("h1").values())
    fleet.set(ipsec_generation=1)
    assert all(s["state"] == "due" and s["in_force"] == 0 for s in fleet.status("h1").values())
    fleet.run()  # asserts the invariant after each of its 9 steps
    for host in fleet.kernels:
        assert not set(spis(fleet, host)) & set(old[host]), "the old SAs are gone"
        assert all(sa.reqid == site.reqid(1) and sa.flags & C.EXTRA_FLAGS["oseq-may-wrap"]
                   for sa in fleet.kernels[host].sas.values())
        assert all(s["state"] == "stable" and s["in_force"] == 1 for s in fleet.status(host).values())
    before = {h: (dict(k.sas), dict(k.policies)) for h, k in fleet.kernels.items()}
    fleet.run()
    assert {h: (dict(k.sas), dict(k.policies)) for h, k in fleet.kernels.items()} == before, "a re-run changes nothing"


@pytest.mark.parametrize("stop", range(9))
def test_interrupted_after_any_step_the_fleet_works_and_a_rerun_finishes(monkeypatch, stop):
    fleet = Fleet(monkeypatch)
    fleet.run()
    fleet.set(ipsec_generation=1)
    for host, stage, args in itertools.islice(fleet.steps(), stop):
        fleet.stage(host, stage, **args)
        assert_no_packet_lost(fleet)
    for facts in fleet.facts.values():
        facts.clear()  # a new run knows nothing of the interrupted one
    fleet.run()
    for host in fleet.kernels:
        assert all(s["state"] == "stable" and s["in_force"] == 1 for s in fleet.status(host).values()), stop


def test_a_host_lost_mid_rotation_keeps_its_pairs_on_the_old_generation_and_the_others_rotate(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    fleet.set(ipsec_generation=1)
    collisions = fleet.stage("h1", "scan")["spi_collisions"]
    for host in ("h1", "h2", "h3"):
        fleet.stage(host, "sas", spi_collisions=collisions)
    survivors = ["h1", "h2"]  # h3 unreachable from here on: the linear strategy drops it from the play
    for stage in ("policies", "retire"):
        for host in survivors:
            fleet.stage(host, stage, survivors, **(dict(spi_collisions=collisions) if stage == "policies" else {}))
            assert_no_packet_lost(fleet)
    status = fleet.status("h1")
    assert status["h1~h2"]["state"] == "stable" and status["h1~h2"]["in_force"] == 1
    assert status["h1~h3"]["state"] == "adding" and status["h1~h3"]["in_force"] == 0, "h1 still sends to h3 with 0"
    for facts in fleet.facts.values():
        facts.clear()
    fleet.run()  # h3 back: the re-run finishes
    assert all(s["state"] == "stable" for h in fleet.kernels for s in fleet.status(h).values())


def test_check_mode_of_a_rotation_changes_nothing_and_predicts_the_real_run(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    fleet.set(ipsec_generation=1)
    before = {h: (dict(k.sas), dict(k.policies)) for h, k in fleet.kernels.items()}
    predicted = [(h, s, fleet.stage(h, s, check=True, **a).get("actions")) for h, s, a in fleet.steps()]
    assert {h: (dict(k.sas), dict(k.policies)) for h, k in fleet.kernels.items()} == before
    for facts in fleet.facts.values():
        facts.clear()
    real = [(h, s, fleet.stage(h, s, **a).get("actions")) for h, s, a in fleet.steps()]
    assert real == predicted
    assert any(actions and any(a["action"] == "delete" for a in actions) for _h, s, actions in real if s == "retire")


def test_one_pair_rotates_on_its_own_and_the_others_keep_their_keys(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    untouched = {sa.identity for sa in fleet.kernels["h3"].sas.values()}
    fleet.set(ipsec_pair_generations={"h1~h2": 4})
    fleet.run()
    assert {sa.identity for sa in fleet.kernels["h3"].sas.values()} == untouched
    status = fleet.status("h1")
    assert status["h1~h2"] == dict(status["h1~h2"], state="stable", generation=4, in_force=4)
    assert status["h1~h3"]["in_force"] == 0


def test_a_new_master_secret_rotates_every_pair_make_before_break(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    old = {h: set(spis(fleet, h)) for h in fleet.kernels}
    fleet.set(ipsec_master_secret=MASTER + " replaced", ipsec_generation=1)
    assert all(s["state"] == "due" and s["in_force"] == 0 for s in fleet.status("h2").values())
    fleet.run()
    assert all(not set(spis(fleet, h)) & old[h] for h in fleet.kernels)


def test_the_status_refuses_a_limited_run_that_would_cut_a_pair_in_two(monkeypatch):
    fleet = Fleet(monkeypatch)
    fleet.run()
    fleet.set(ipsec_generation=1)
    collisions = fleet.stage("h1", "scan")["spi_collisions"]
    with pytest.raises(AnsibleActionFail, match=r"h1~h3 \(peer h3\).*add the peers to --limit"):
        fleet.stage("h1", "status", ["h1", "h2"], spi_collisions=collisions, require_peers=True)
    fleet.stage("h1", "status", ["h1", "h2", "h3"], spi_collisions=collisions, require_peers=True)


def test_superseded_sas_are_the_managed_ones_of_a_listed_direction_under_another_spi():
    def sa(spi, src="192.0.2.1", dst="192.0.2.2", reqid=site.REQID):
        return {"src": src, "dst": dst, "spi": spi, "reqid": reqid, "enc": {"algorithm": "cbc(aes)", "key": "0x" + "11" * 32},
                "auth": {"algorithm": "hmac(sha256)", "key": "0x" + "22" * 32}}
    want = validate_sas({"sas": [sa(0x1001)]})[0]
    have = validate_sas({"sas": [sa(0x1000), sa(0x1001), sa(0x2000, reqid=5), sa(0x3000, dst="192.0.2.3")]})[0]
    assert [s.spi for s in plan.superseded_sas(want, have)] == [0x1000]


@pytest.mark.parametrize("overrides, error", [
    ({"h1~h2": -1}, r"ipsec_pair_generations\[h1~h2\]: -1 is not a generation"),
    ({"h1~h2": "two"}, r"ipsec_pair_generations\[h1~h2\]: 'two'"),
    ({"h1~h2": True}, r"ipsec_pair_generations\[h1~h2\]: True"),
    (["h1~h2"], r"ipsec_pair_generations: a dict of pair name"),
])
def test_pair_generations_refuse_what_is_not_a_generation_naming_the_entry(overrides, error):
    with pytest.raises(site.SiteError, match=error):
        site.pair_generations(0, overrides, "ipsec_pair_generations")


def test_generation_reqids_stay_in_the_managed_range_and_name_their_generation():
    for generation in (0, 1, 2, 65535, 65536, 10 ** 6):
        value = site.reqid(generation)
        assert C.MANAGED_MIN <= value <= C.MANAGED_MAX
        assert site.generation_of_reqid(value, generation) == generation
        assert site.generation_of_reqid(site.reqid(generation - 1), generation) == (generation - 1 if generation else None)
    assert site.generation_of_reqid(5, 3) is None


def test_spis_of_consecutive_generations_never_collide_at_a_destination():
    deriver = keys.Deriver(MASTER.encode())
    for generation in range(6):
        now = deriver.spi("h1~h2", "192.0.2.1", "192.0.2.2", "esp", generation)
        after = deriver.spi("h1~h2", "192.0.2.1", "192.0.2.2", "esp", generation + 1)
        assert now & 1 == generation & 1 and after & 1 != now & 1


def test_pair_status_reads_each_state_from_what_the_kernel_holds():
    deriver = keys.Deriver(MASTER.encode())
    pair = site.Pair("host", site.Member("h1", ("192.0.2.1",)), site.Member("h2", ("192.0.2.2",)), site.Settings())

    def held(*generations, out=None):
        sas = [dict(e, managed=True) for g in generations for e in site.sa_entries(deriver, pair, g, {})]
        policies = [dict(p, managed=True) for p in site.policy_entries(pair, out)] if out is not None else []
        return sas, policies
    cases = {"absent": held(), "due": held(0, out=0), "adding": held(0, 1, out=0), "switched": held(0, 1, out=1),
             "stable": held(1, out=1), "partial": held(1)}
    for state, (sas, policies) in cases.items():
        entry = rotation.pair_status(deriver, [pair], 1, {}, sas, policies)["h1~h2"]
        assert entry["state"] == state, (state, entry)
        assert entry["in_force"] == {"due": 0, "adding": 0, "switched": 1, "stable": 1}.get(state), (state, entry)


@pytest.mark.parametrize("kind", ["host", "gateway"])
def test_the_roles_state_of_any_generation_round_trips_through_setkey(kind):
    """What ipsec_save format=setkey writes of a host mid-rotation (two generations, outbound on the old reqid)
    parses back to the same SAs and policies: nothing commented out as not expressible."""
    nets = {"h1": ("198.51.100.0/24",), "h2": ("203.0.113.0/24",)} if kind == "gateway" else {"h1": (), "h2": ()}
    pair = site.Pair(kind, site.Member("h1", ("192.0.2.1", "2001:db8::1"), nets["h1"]),
                     site.Member("h2", ("192.0.2.2", "2001:db8::2"), nets["h2"]), site.Settings(protocols=("esp", "ah")))
    deriver = keys.Deriver(MASTER.encode())
    sas = site.sa_entries(deriver, pair, 3, {}) + site.sa_entries(deriver, pair, 4, {})
    policies = site.with_bypasses(site.policy_entries(pair, 3), ["10.0.0.1"])[0]
    sas, policies = validate_sas({"sas": sas})[0], validate_policies({"policies": policies})[0]
    text, unexpressed = setkey.state_text(sas, policies, show_keys=True)
    assert unexpressed == [] and "not expressible" not in text
    flags = {"allow_weak_algorithms": False, "allow_static_counter_mode": False}
    back_sas, back_policies, errors = setkey.desired_state(setkey.parse(text), [], [], *setkey.validators(flags, set()))
    assert errors == [] and set(back_sas.values()) == set(sas)
    assert {p.identity: p.templates for p in back_policies.values()} == {p.identity: p.templates for p in policies}


def test_the_wrap_flag_travels_as_an_extra_flags_attribute_and_the_dump_tells_the_headroom():
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import messages as M
    from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import ipbatch
    (sa,) = validate_sas({"sas": [{"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 0x1000, "flags": ["noecn", "oseq-may-wrap"],
                                   "enc": {"algorithm": "cbc(aes)", "key": "0x" + "11" * 32},
                                   "auth": {"algorithm": "hmac(sha256)", "key": "0x" + "22" * 32}}]})[0]
    payload = M.encode_sa(sa)
    assert M.attr(C.XFRMA_SA_EXTRA_FLAGS, M.U32.pack(2)) in payload, "XFRM_SA_XFLAG_OSEQ_MAY_WRAP is 2"
    assert M.USERSA_INFO.unpack_from(payload)[-1] == 1, "noecn stays in xfrm_usersa_info's u8"
    dumped = M.decode_sa(payload + M.attr(C.XFRMA_REPLAY_VAL, M.U32.pack(2 ** 32 - 100) + bytes(8)))
    assert dumped == sa and dumped.counters["oseq"] == 2 ** 32 - 100 and dumped.counters["seq_headroom"] == 99
    assert "flag noecn extra-flag oseq-may-wrap" in ipbatch.sa_line(sa)
