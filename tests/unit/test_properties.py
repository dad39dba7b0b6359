"""Properties that hold for every value hypothesis makes, not only for the examples of the other tests.

1. The codec: every SA and policy (every field, both families) encodes to a request that decodes to an equal value,
   and so do the identities of the delete requests.
2. Plan and apply: on a kernel holding managed and foreign entries, the plan applied leaves exactly what was asked
   (foreign entries untouched), a second plan is empty, and a request refused at any point leaves the kernel as it
   was (or, when the rollback is refused too, says so).
3. Check mode: through the modules, a check run reports what the real run then does and sends nothing that changes
   the kernel; a real re-run changes nothing.

Strategies build model values directly, keeping the model's invariants (networks without host bits, template
addresses of the template's family, non-zero addresses where zero means "none"), or module options within the
validator's rules. Inputs the validator accepts but the kernel round trip does not keep are the xfail tests at the end.
"""

import errno

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from ansible.module_utils.testing import patch_module_args

from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_common
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import apply
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import messages as M
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.model import (
    SA, Address, Algo, Encap, Lifetime, Mark, Network, Policy, Selector, Template, EMPTY_SELECTOR, NO_LIFETIME, NO_MARK,
)
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.plan import ADD, DELETE, SA_PROTOS, Change
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.tables import POLICY, SA as SA_TABLE
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas
from ansible_collections.xfrm.ipsec.plugins.modules import ipsec_apply, ipsec_policy, ipsec_sa

from ansible_collections.xfrm.ipsec.tests.unit.fake_kernel import Exit, FakeKernel, capture_exits

PROPERTY = settings(deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
U8, U16, U32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
FAMILIES = st.sampled_from((C.AF_INET, C.AF_INET6))
WIDTH = {C.AF_INET: 4, C.AF_INET6: 16}
ALGORITHMS = {kind: [a for a in C.ALGORITHMS if a.kind == kind] for kind in ("enc", "auth", "aead", "comp")}
MANAGED = st.integers(C.MANAGED_MIN, C.MANAGED_MAX)
FOREIGN = st.integers(0, C.MANAGED_MIN - 1) | st.integers(C.MANAGED_MAX + 1, 0xFFFFFFFF)
REQIDS = st.booleans().flatmap(lambda managed: MANAGED if managed else FOREIGN)  # half managed, half foreign
CHANGING = {C.XFRM_MSG_NEWSA, C.XFRM_MSG_UPDSA, C.XFRM_MSG_DELSA,
            C.XFRM_MSG_NEWPOLICY, C.XFRM_MSG_UPDPOLICY, C.XFRM_MSG_DELPOLICY}


# -- model values ------------------------------------------------------------------------

def addresses(family):
    """A host address of the family, never all zeros (the codec reads zeros as "no address")."""
    width = WIDTH[family]
    return st.integers(1, (1 << width * 8) - 1).map(lambda value: Address(family, value.to_bytes(width, "big")))


@st.composite
def networks(draw, family):
    """A network without host bits, any prefix length."""
    bits = WIDTH[family] * 8
    prefixlen = draw(st.integers(0, bits))
    value = draw(st.integers(0, (1 << bits) - 1)) >> (bits - prefixlen) << (bits - prefixlen)
    return Network(family, value.to_bytes(bits // 8, "big"), prefixlen)


@st.composite
def selectors(draw, family):
    return Selector(family=family, src=draw(networks(family)), dst=draw(networks(family)),
                    proto=draw(st.sampled_from(sorted(C.NAMES["upper"])) | U8), sport=draw(U16), sport_mask=draw(U16),
                    dport=draw(U16), dport_mask=draw(U16), ifindex=draw(st.integers(0, 0x7FFFFFFF)), user=draw(U32))


@st.composite
def algos(draw, kind):
    """An algorithm of the kind with a key of one of its lengths (and its ICV/truncation bits for auth and aead)."""
    alg = draw(st.sampled_from(ALGORITHMS[kind]))
    size = draw(st.sampled_from(alg.key_bits)) // 8
    bits = draw(st.sampled_from(alg.bits)) if alg.bits else 0
    return Algo(alg.name, draw(st.binary(min_size=size, max_size=size)), bits)


lifetimes = st.just(NO_LIFETIME) | st.builds(Lifetime, *[st.integers(0, C.XFRM_INF)] * 8)  # 0 and XFRM_INF come often
marks = st.just(NO_MARK) | st.builds(Mark, U32, U32)
state_flags = st.lists(st.sampled_from(sorted(C.XFRM_STATE_FLAGS.values())), unique=True).map(sum) | U8.map(
    lambda u8: u8 | C.EXTRA_FLAGS["oseq-may-wrap"])


@st.composite
def sas(draw):
    """An SA as the kernel takes it: ESP (enc with or without auth, or aead), AH (auth) or IPComp (comp)."""
    family = draw(FAMILIES)
    proto = draw(st.sampled_from(sorted(C.XFRM_PROTOS)))
    mode = draw(st.sampled_from(("transport", "tunnel", "beet") if proto == "esp" else ("transport", "tunnel")))
    found = {}
    if proto == "esp" and draw(st.booleans()):
        found["aead"] = draw(algos("aead"))
    elif proto == "esp":
        found["enc"] = draw(algos("enc"))
        found["auth"] = draw(st.none() | algos("auth"))
    else:
        kind = "auth" if proto == "ah" else "comp"
        found[kind] = draw(algos(kind))
    selector = draw(st.just(EMPTY_SELECTOR) | selectors(family if mode == "transport" else draw(FAMILIES)))
    encap = None
    if proto == "esp" and draw(st.booleans()):
        encap = Encap(draw(st.sampled_from(sorted(C.ENCAP_TYPES.values()))), draw(U16), draw(U16),
                      draw(st.none() | addresses(family)))
    return SA(src=draw(addresses(family)), dst=draw(addresses(family)), proto=C.XFRM_PROTOS[proto],
              spi=draw(st.integers(1, 0xFFFF) if proto == "comp" else U32), mode=C.XFRM_MODES[mode],
              reqid=draw(REQIDS), replay_window=draw(U8), flags=draw(state_flags), lifetime=draw(lifetimes),
              mark=draw(marks), if_id=draw(U32), encap=encap,
              selector=EMPTY_SELECTOR if selector.matches_all else selector,  # as the validator and the kernel have it
              **found)


@st.composite
def templates(draw, family, optional_tunnels=True, most=6):
    """0-6 templates (XFRM_MAX_DEPTH): a transport one keeps the family of what comes before it, tunnel and beet ones
    have both endpoints and may change the family."""
    out = []
    for _index in range(draw(st.integers(0, most))):
        mode = draw(st.sampled_from(("transport", "tunnel", "beet")))
        if mode == "transport":
            src, dst = draw(st.none() | addresses(family)), draw(st.none() | addresses(family))
        else:
            family = draw(FAMILIES)
            src, dst = draw(addresses(family)), draw(addresses(family))
        optional = draw(st.booleans()) if mode == "transport" or optional_tunnels else False
        out.append(Template(family=family, proto=draw(st.sampled_from(sorted(C.XFRM_PROTOS.values()))),
                            mode=C.XFRM_MODES[mode], src=src, dst=dst, spi=draw(U32), reqid=draw(U32),
                            optional=optional, share=draw(st.integers(0, 3)), aalgos=draw(U32), ealgos=draw(U32),
                            calgos=draw(U32)))
    return tuple(out)


@st.composite
def policies(draw, most_templates=6):
    """A policy: a block one has no templates, an allow one 0-6; any priority, flags, ptype, mark, if_id, index."""
    family = draw(FAMILIES)
    direction = draw(st.sampled_from(sorted(C.XFRM_POLICY_DIRS.values())))
    action = draw(st.sampled_from(sorted(C.XFRM_POLICY_ACTIONS.values())))
    allowed = action == C.XFRM_POLICY_ACTIONS["allow"]
    policy = Policy(selector=draw(selectors(family)), dir=direction, action=action, priority=draw(U32),
                    templates=draw(templates(family, optional_tunnels=direction != C.XFRM_POLICY_DIRS["out"],
                                             most=most_templates)) if allowed else (),
                    mark=draw(marks), if_id=draw(U32), flags=draw(U8), lifetime=draw(lifetimes),
                    ptype=draw(st.sampled_from(sorted(C.XFRM_POLICY_TYPES.values()))))
    return policy.with_index(draw(U32))


# -- 1. the codec ----------------------------------------------------------------------------

@settings(PROPERTY, max_examples=150)
@given(sas())
def test_every_sa_survives_encode_and_decode_and_so_does_its_delete_request(sa):
    payload = M.encode_sa(sa)
    decoded = M.decode_sa(payload)
    assert decoded == sa and decoded.identity == sa.identity
    assert M.encode_sa(decoded) == payload, "decoding loses nothing the encoder writes"
    assert M.decode_sa_id(M.encode_sa_id(sa.identity, sa.src)) == sa.identity
    (((add, added), _undo),) = SA_TABLE.steps(Change(ADD, new=sa))
    (((delete, deleted), _undo),) = SA_TABLE.steps(Change(DELETE, old=sa))
    assert (add, delete) == (SA_TABLE.messages[0], SA_TABLE.messages[2])
    assert SA_TABLE.decode(added) == sa and SA_TABLE.decode_id(deleted) == sa.identity


@settings(PROPERTY, max_examples=150)
@given(policies())
def test_every_policy_survives_encode_and_decode_and_so_does_its_delete_request(policy):
    payload = M.encode_policy(policy)
    decoded = M.decode_policy(payload)
    assert decoded == policy and decoded.identity == policy.identity and decoded.index == policy.index
    assert M.encode_policy(decoded) == payload, "decoding loses nothing the encoder writes"
    assert M.decode_policy_id(M.encode_policy_id(policy.identity)) == policy.identity
    (((add, added), _undo),) = POLICY.steps(Change(ADD, new=policy))
    (((delete, deleted), _undo),) = POLICY.steps(Change(DELETE, old=policy))
    assert (add, delete) == (POLICY.messages[0], POLICY.messages[2])
    assert POLICY.decode(added) == policy and POLICY.decode_id(deleted) == policy.identity


# -- 2. plan and apply ---------------------------------------------------------------------

def ipip_helper(sa):
    """The kernel's own IPIP SA of an IPComp tunnel (proto 4): never planned, never touched."""
    return sa._replace(proto=4, mode=C.XFRM_MODES["tunnel"], enc=None, auth=None, aead=None, comp=None, encap=None)


def changed_sa(sa):
    """sa with another lifetime or encapsulation port (an update), or another key or reqid (a replace)."""
    kind = next(k for k in ("aead", "enc", "auth", "comp") if getattr(sa, k) is not None)
    algo = getattr(sa, kind)
    rekeyed = sa._replace(**{kind: algo._replace(key=bytes(b ^ 0xA5 for b in algo.key))})
    ports = U16.map(lambda port: sa._replace(encap=sa.encap._replace(sport=port))) if sa.encap else st.just(rekeyed)
    return st.one_of(lifetimes.map(lambda lifetime: sa._replace(lifetime=lifetime)), ports, st.just(rekeyed),
                     REQIDS.map(lambda reqid: sa._replace(reqid=reqid)))


def changed_policy(policy):
    """policy with another priority, lifetime, flags or action and templates: an update, whatever it changes."""
    return st.one_of(U32.map(lambda priority: policy._replace(priority=priority)),
                     lifetimes.map(lambda lifetime: policy._replace(lifetime=lifetime)),
                     U8.map(lambda flags: policy._replace(flags=flags)),
                     st.just(policy._replace(action=1 - policy.action, templates=())))


@st.composite
def requests_on(draw, have, fresh, changed):
    """(want, absent) for a table that holds `have`: each entry kept as it is, changed (managed ones), left out or
    listed absent, and new entries, in any order."""
    want, absent, taken = [], [], {entry.identity for entry in have}
    for entry in have:  # a foreign entry is never changed (the modules refuse it: plan.foreign_conflicts)
        fate = draw(st.sampled_from(("keep", "change", "change", "leave out", "absent") if entry.managed else
                                    ("keep", "leave out", "absent")))
        if fate == "keep":
            want.append(entry._replace())  # a value of its own, without the dump's index and counters
        elif fate == "change":
            want.append(draw(changed(entry)))
        elif fate == "absent":
            absent.append(entry.identity)
    for entry in draw(st.lists(fresh, max_size=3)):
        if entry.identity not in taken:
            taken.add(entry.identity)
            want.append(entry._replace())
    return draw(st.permutations(want)), absent


@st.composite
def kernels_and_requests(draw):
    """A kernel's SAs and policies, managed and foreign (reqid or index outside the managed range), IPIP helpers
    among the SAs, and a request on it: {table: (want, absent)}, exclusive or not."""
    have_sas = draw(st.lists(sas(), min_size=1, max_size=4, unique_by=lambda sa: sa.identity))
    have_policies, some_policies = [], policies(most_templates=2)  # the codec test has the long template lists
    for slot, policy in enumerate(draw(st.lists(some_policies, min_size=1, max_size=4,
                                                unique_by=lambda p: p.identity))):
        base = C.MANAGED_MIN if draw(st.booleans()) else 0x100  # unique indexes, the direction in the low bits
        have_policies.append(policy.with_index(base + (slot << C.POLICY_INDEX_DIR_BITS) + policy.dir))
    helpers = [ipip_helper(sa) for sa in draw(st.lists(sas(), max_size=1))]
    request = {SA_TABLE: draw(requests_on(have_sas, sas(), changed_sa)),
               POLICY: draw(requests_on(have_policies, some_policies, changed_policy))}
    return FakeKernel(have_sas + helpers, have_policies), request, draw(st.booleans())


def plan_of(kernel, request, exclusive):
    """[(steps, changes)] of both tables against what the kernel holds, in roll-out order (apply.apply_all's plans)."""
    haves = {SA_TABLE: kernel.dump_sas(), POLICY: kernel.dump_policies()}
    return [(table.steps, table.plan(want, absent, haves[table], exclusive))
            for table, (want, absent) in request.items()]


def snapshot(kernel):
    """What the kernel holds, policy indexes included (they take no part in comparing policies)."""
    return dict(kernel.sas), dict(kernel.policies), {identity: p.index for identity, p in kernel.policies.items()}


def expected_table(before, want, absent, exclusive, planned=lambda entry: True):
    """What a table holds after the request: the wanted entries, the absent ones gone, with exclusive the managed
    entries not wanted gone too, every other entry (foreign, or managed without exclusive) as it was."""
    wanted = {entry.identity: entry for entry in want}
    out = {identity: entry for identity, entry in before.items() if identity not in absent
           and not (exclusive and entry.managed and planned(entry) and identity not in wanted)}
    out.update(wanted)
    return out


@settings(PROPERTY, max_examples=60)
@given(kernels_and_requests())
def test_apply_leaves_exactly_what_was_asked_and_foreign_entries_and_a_second_plan_is_empty(case):
    kernel, request, exclusive = case
    sas_before, policies_before, indexes_before = snapshot(kernel)
    apply.apply_all(kernel, plan_of(kernel, request, exclusive))
    (want_sas, absent_sas), (want_policies, absent_policies) = request[SA_TABLE], request[POLICY]
    assert kernel.sas == expected_table(sas_before, want_sas, absent_sas, exclusive, lambda sa: sa.proto in SA_PROTOS)
    assert kernel.policies == expected_table(policies_before, want_policies, absent_policies, exclusive)
    for table, before in ((kernel.sas, sas_before), (kernel.policies, policies_before)):
        assert all(table[identity] == entry for identity, entry in before.items()
                   if not entry.managed and identity not in request[SA_TABLE][1] + request[POLICY][1]), \
            "foreign entries not listed absent are as they were"
    indexes = [p.index for p in kernel.policies.values()]
    assert len(set(indexes)) == len(indexes), "every policy has an index of its own"
    for identity, policy in kernel.policies.items():
        if identity in indexes_before:
            assert policy.index == indexes_before[identity], "an updated policy keeps the index the kernel gave it"
        else:
            assert policy.managed and policy.index & 7 == policy.dir, "a new policy gets a managed index of its dir"
    assert all(changes == [] for _steps, changes in plan_of(kernel, request, exclusive)), "a second plan is empty"


def replay(kernel, requests):
    """A copy of the kernel with the requests applied (what the first len(requests) requests of a run did)."""
    copy = FakeKernel(kernel.sas.values(), kernel.policies.values())
    results = copy.request(requests)
    assert all(code == 0 for code, _message in results)
    return copy


@settings(PROPERTY, max_examples=60)  # each example refuses every one of its requests in turn, twice
@given(kernels_and_requests())
def test_a_request_refused_at_any_point_leaves_the_kernel_as_it_was_unless_the_rollback_fails_too(case):
    """Each request of the run refused in turn; and each in turn with every request after it refused too (the
    kernel stops taking changes there: the rollback fails, and says so)."""
    kernel, request, exclusive = case
    plans = plan_of(kernel, request, exclusive)
    rehearsal = replay(kernel, [])
    apply.apply_all(rehearsal, plans)
    sent = rehearsal.requests
    event("changes: " + (", ".join(sorted({c.action for _steps, changes in plans for c in changes})) or "none"))
    before = snapshot(kernel)
    for refused in range(len(sent)):
        for frozen in (False, True):
            trial = replay(kernel, [])

            def fail(_mtype, _payload, trial=trial, refused=refused, frozen=frozen):
                position = len(trial.requests) - 1
                return errno.EINVAL if position == refused or (frozen and position > refused) else 0
            trial.fail = fail
            with pytest.raises(apply.ApplyError) as info:
                apply.apply_all(trial, plans)
            assert info.value.failures
            assert trial.requests[:refused + 1] == sent[:refused + 1], "the same requests in the same order up to there"
            if frozen and refused:
                assert info.value.rollback_failures and "ROLLBACK INCOMPLETE" in str(info.value)
                assert snapshot(trial) == snapshot(replay(kernel, sent[:refused])), \
                    "the kernel holds what the requests before the refused one made, nothing else"
            else:
                assert info.value.rollback_failures == [] and "undone" in str(info.value)
                assert snapshot(trial) == before, "every change of the request was undone, policy indexes included"


# -- 3. check mode, through the modules ------------------------------------------------------

HOSTS = {4: ("192.0.2.1", "192.0.2.2"), 6: ("2001:db8::1", "2001:db8::2")}
NETS = {4: ("10.0.0.0/8", "10.1.2.0/24", "192.0.2.1"), 6: ("2001:db8:1::/48", "2001:db8::1")}
OPT_INS = {"allow_weak_algorithms": True, "allow_static_counter_mode": True}


@st.composite
def algo_option(draw, kind):
    """{algorithm (any of its spellings), key (0x hex, one of two bytes repeated), trunc_len / icv_len or not}."""
    alg = draw(st.sampled_from(ALGORITHMS[kind]))
    out = {"algorithm": draw(st.sampled_from((alg.name,) + alg.aliases))}
    if kind != "comp":
        size = draw(st.sampled_from(alg.key_bits)) // 8
        out["key"] = "0x" + bytes([draw(st.sampled_from((0x11, 0x22)))] * size).hex() if size else ""
    bits = {"auth": "trunc_len", "aead": "icv_len"}.get(kind)
    if bits and draw(st.booleans()):
        out[bits] = draw(st.sampled_from(alg.bits))
    return out


LIFETIME_OPTIONS = st.sampled_from((  # some limits, each soft one at most its hard one (the validator's rule)
    {"hard_add_expires_seconds": 3600}, {"soft_add_expires_seconds": 60, "hard_add_expires_seconds": 3600},
    {"soft_byte_limit": 10 ** 6, "hard_byte_limit": 10 ** 9, "hard_packet_limit": 1000},
    {"soft_use_expires_seconds": 600}))


@st.composite
def sa_options(draw, like=None):
    """An ipsec_sa entry the validator accepts; with like, one of the same SA (src, dst, proto, spi, mark)."""
    if like is None:
        family = draw(st.sampled_from((4, 6)))
        src, dst = draw(st.permutations(HOSTS[family]))
        proto = draw(st.sampled_from(sorted(C.XFRM_PROTOS)))
        spi = draw(st.sampled_from((0x1000, 0x1001)))
        like = {"src": src, "dst": dst, "proto": proto, "spi": draw(st.sampled_from((spi, "0x%x" % spi, str(spi))))}
        if draw(st.booleans()):
            like["mark"] = {"value": 1, "mask": 0xFF}
    entry = {k: like[k] for k in ("src", "dst", "proto", "spi", "mark") if k in like}
    proto, family = entry["proto"], 6 if ":" in entry["dst"] else 4
    mode = draw(st.sampled_from(("transport", "tunnel", "beet") if proto == "esp" else ("transport", "tunnel")))
    entry["mode"] = mode
    if proto == "esp" and draw(st.booleans()):
        entry["aead"] = draw(algo_option("aead"))
    elif proto == "esp":
        entry["enc"] = draw(algo_option("enc"))
        if draw(st.booleans()):
            entry["auth"] = draw(algo_option("auth"))
    else:
        kind = "auth" if proto == "ah" else "comp"
        entry[kind] = draw(algo_option(kind))
    selector_family = family if mode == "transport" else draw(st.sampled_from((4, 6)))
    extra = {"reqid": st.sampled_from((C.MANAGED_MIN + 5, "0x%x" % (C.MANAGED_MIN + 9), 7)),
             "replay_window": st.integers(0, 32),
             "flags": st.lists(st.sampled_from(sorted(C.XFRM_STATE_FLAGS)), unique=True, max_size=3),
             "lifetime": LIFETIME_OPTIONS, "if_id": st.integers(1, 3),
             "selector": st.fixed_dictionaries({"src": st.sampled_from(("any",) + NETS[selector_family]),
                                                "dst": st.sampled_from(NETS[selector_family])},
                                               optional={"proto": st.sampled_from(("any", "tcp", "udp"))})}
    if proto == "esp":  # encap oa: see test_what_the_validator_accepts_a_rerun_leaves_alone
        extra["encap"] = st.fixed_dictionaries({}, optional={"type": st.sampled_from(sorted(C.ENCAP_TYPES)),
                                                             "sport": st.sampled_from((4500, 4501)),
                                                             "oa": st.sampled_from(HOSTS[family])})
    entry.update(draw(st.fixed_dictionaries({}, optional=extra)))
    return entry


@st.composite
def policy_options(draw, like=None):
    """An ipsec_policy entry the validator accepts; with like, one of the same policy (selector, dir, mark, if_id,
    ptype)."""
    if like is None:
        family = draw(st.sampled_from((4, 6)))
        like = {"src": draw(st.sampled_from(("any",) + NETS[family])), "dst": draw(st.sampled_from(NETS[family])),
                "dir": draw(st.sampled_from(sorted(C.XFRM_POLICY_DIRS)))}
        like.update(draw(st.fixed_dictionaries({}, optional={
            "proto": st.just("tcp"), "mark": st.just({"value": 2, "mask": 0xF}), "if_id": st.just(5),
            "ptype": st.just("sub")})))
        if like.get("proto") == "tcp" and draw(st.booleans()):
            like["dport"] = 443
    entry = {k: like[k] for k in ("src", "dst", "proto", "dport", "dir", "mark", "if_id", "ptype") if k in like}
    family = 6 if ":" in entry["dst"] else 4
    entry["action"] = draw(st.sampled_from(sorted(C.XFRM_POLICY_ACTIONS)))
    if entry["action"] == "allow":
        entry["templates"] = []
        for _index in range(draw(st.integers(0, 3))):
            template = {"proto": draw(st.sampled_from(sorted(C.XFRM_PROTOS))),
                        "mode": draw(st.sampled_from(("transport", "tunnel")))}
            if template["mode"] == "tunnel":  # a transport template takes no endpoints
                template["src"], template["dst"] = draw(st.permutations(HOSTS[family]))
            if template["mode"] == "transport" or entry["dir"] != "out":
                template["level"] = draw(st.sampled_from(("required", "use")))
            template.update(draw(st.fixed_dictionaries({}, optional={"reqid": st.sampled_from((C.MANAGED_MIN + 5, 7)),
                                                                     "spi": st.just(0x1000)})))
            entry["templates"].append(template)
    flags = st.lists(st.sampled_from(sorted(C.XFRM_POLICY_FLAGS)), unique=True)
    entry.update(draw(st.fixed_dictionaries({}, optional={
        "priority": st.sampled_from((0, 100, 2000)), "flags": flags, "lifetime": LIFETIME_OPTIONS})))
    return entry


SA_KEY = ("dst", "spi", "proto", "mark")
POLICY_KEY = ("src", "dst", "proto", "dport", "dir", "mark", "if_id", "ptype")


def identity_of(entry, fields):
    return tuple(str(entry.get(k)) if k != "spi" else int(str(entry["spi"]), 0) for k in fields)


@st.composite
def option_requests(draw, before, options, key):
    """A request on the entries of `before`: each kept, changed (same identity, other options), left out or listed
    absent, and new entries."""
    out, taken = [], {identity_of(e, key) for e in before}
    for entry in before:
        fate = draw(st.sampled_from(("keep", "change", "change", "leave out", "absent")))
        if fate == "keep":
            out.append(entry)
        elif fate == "change":
            out.append(draw(options(like=entry)))
        elif fate == "absent":
            out.append(dict({k: entry[k] for k in key if k in entry}, state="absent"))
    for entry in draw(st.lists(options(), max_size=3)):
        if identity_of(entry, key) not in taken:
            taken.add(identity_of(entry, key))
            out.append(entry)
    return draw(st.permutations(out))


@st.composite
def module_runs(draw):
    """(entries put in place before, with some policies then made foreign; the module; its arguments)."""
    before_sas = draw(st.lists(sa_options(), min_size=1, max_size=4, unique_by=lambda e: identity_of(e, SA_KEY)))
    before_policies = draw(st.lists(policy_options(), min_size=1, max_size=4,
                                    unique_by=lambda e: identity_of(e, POLICY_KEY)))
    foreign = draw(st.lists(st.booleans(), min_size=len(before_policies), max_size=len(before_policies)))
    sa_list = draw(option_requests(before_sas, sa_options, SA_KEY))
    policy_list = draw(option_requests(before_policies, policy_options, POLICY_KEY))
    exclusive = draw(st.booleans())
    module = draw(st.sampled_from((ipsec_sa, ipsec_policy, ipsec_apply)))
    if module is ipsec_sa:
        args = dict(OPT_INS, sas=sa_list, exclusive=exclusive)
    elif module is ipsec_policy:
        args = dict(policies=policy_list, exclusive=exclusive)
    else:
        args = dict(OPT_INS, sas=sa_list, policies=policy_list, exclusive=exclusive,
                    compare_only=draw(st.lists(st.sampled_from(("sas", "policies")), unique=True, max_size=1)),
                    superseded=draw(st.sampled_from(("delete", "keep"))))
    return {"sas": before_sas, "policies": before_policies}, foreign, module, args


def run(module, args, check=False, diff=True):
    """One module run in-process (as test_module_runs.run): its result, exit_json's or fail_json's."""
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(Exit) as info:
        module.main()
    return info.value.result


@pytest.fixture
def kernels(monkeypatch):
    """The modules' Transport: the FakeKernel in the list's one slot (a new one for each hypothesis example)."""
    slot = [FakeKernel()]
    monkeypatch.setattr(ipsec_common, "Transport", lambda netns=None: slot[0])
    capture_exits(monkeypatch)
    return slot


def foreign_ones(table):
    return {identity: (entry, getattr(entry, "index", None)) for identity, entry in table.items() if not entry.managed}


@settings(PROPERTY, max_examples=60,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(module_runs())
def test_check_mode_predicts_the_real_run_and_changes_nothing_and_a_rerun_changes_nothing(kernels, case):
    before, foreign, module, args = case
    kernel = kernels[0] = FakeKernel()
    first = run(ipsec_apply, dict(OPT_INS, **before))
    assert not first["failed"], first["msg"]
    for slot, (make_foreign, policy) in enumerate(zip(foreign, list(kernel.policies.values()))):
        if make_foreign:  # put there by another tool: an index outside the managed range
            kernel.policies[policy.identity] = policy.with_index(0x100 + (slot << C.POLICY_INDEX_DIR_BITS) + policy.dir)
    held, sent = snapshot(kernel), len(kernel.requests)

    check = run(module, args, check=True)
    assert [mtype for mtype, _payload in kernel.requests[sent:] if mtype in CHANGING] == [], "check mode sent changes"
    assert snapshot(kernel) == held
    real = run(module, args)
    assert real == check, "the check run reported what the real run did: changed, actions, summary, diff, pending, " \
        "superseded; or failed as the real run did"
    if real["failed"]:  # refused: a wanted entry would change a foreign one, or exclusive with no entries
        event("refused: " + ("foreign" if "foreign" in real["msg"] else "exclusive" if "exclusive" in real["msg"]
                             else real["msg"]))
        assert snapshot(kernel) == held, "a refused run changes nothing"
        return
    event("applied: " + (", ".join(sorted({a["action"] for a in real["actions"]})) or "nothing to change"))
    want_sas, absent_sas, _warnings = validate_sas(dict(OPT_INS, sas=args.get("sas", [])))
    taken_over = {sa.identity for sa in want_sas if not sa.managed}  # an SA listed with a reqid outside the range
    _want, absent_policies, _warnings = validate_policies({"policies": args.get("policies", [])})
    for table, spared in ((kernel.sas, set(absent_sas) | taken_over), (kernel.policies, set(absent_policies))):
        old, new = foreign_ones(held[0] if table is kernel.sas else held[1]), foreign_ones(table)
        assert {i: e for i, e in old.items() if i not in spared} == {i: e for i, e in new.items() if i not in spared}, \
            "a foreign entry is never changed unless listed absent (or an SA taken over with its reqid)"
    assert run(module, args)["changed"] is False, "a second real run changes nothing"
    assert run(module, args, check=True) == dict(real, changed=False, actions=[], diff={"before": {}, "after": {}},
                                                 summary={"add": 0, "update": 0, "replace": 0, "delete": 0})


# -- found by these properties, fixed: what the validator accepts, a re-run leaves alone ------------------------

ESP = {"src": "192.0.2.1", "dst": "192.0.2.2", "spi": 4096, "enc": {"algorithm": "aes-cbc", "key": "0x" + "11" * 16}}
FOUND = [  # (module, args, the field a refusal names, or None when the input is taken and must round-trip)
    pytest.param(ipsec_sa, dict(ESP, encap={"oa": "2001:db8::9"}), "encap.oa", id="encap-oa-of-the-other-family"),
    pytest.param(ipsec_sa, dict(ESP, encap={"oa": "0.0.0.0"}), None, id="encap-oa-all-zeros-is-none"),
    pytest.param(ipsec_policy, {"src": "10.0.0.0/8", "dst": "10.1.0.0/16", "dir": "out",
                                "templates": [{"mode": "tunnel", "src": "0.0.0.0", "dst": "192.0.2.2"}]},
                 "templates[0].src", id="template-endpoint-all-zeros"),
]


@pytest.mark.parametrize("module, args, field", FOUND)
def test_what_the_validator_accepts_a_rerun_leaves_alone_and_what_it_cannot_keep_it_refuses(kernels, module, args,
                                                                                            field):
    first = run(module, args)
    if field is not None:
        assert first["failed"] and field in first["msg"], first.get("msg")
        return
    assert not first["failed"] and first["changed"], first.get("msg")
    again = run(module, args)
    assert not again["failed"] and again["changed"] is False, again["actions"]


def test_an_sa_listed_absent_is_deleted_even_with_superseded_keep(kernels):
    rekeyed = dict(ESP, spi=0x2000, enc={"algorithm": "aes-cbc", "key": "0x" + "22" * 16})
    gone = {"dst": ESP["dst"], "spi": ESP["spi"], "state": "absent"}
    assert not run(ipsec_apply, {"sas": [ESP]})["failed"]
    result = run(ipsec_apply, {"sas": [rekeyed, gone], "superseded": "keep"})
    assert not result["failed"] and result["superseded"] == [], result
    assert sorted(sa.spi for sa in kernels[0].sas.values()) == [0x2000]
