"""Every case of the bad-input matrix (bad_inputs.py) fails with one clear message naming its field, without a
traceback, without repeating a key or a huge value, and changes nothing: the modules against the fake kernel,
the roles' argument specs as ansible-core applies them, the site planner through the ipsec_site action."""

import base64
import json
import os
import re

import pytest
import yaml

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.tables import POLICY, SA
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import validate_policies, validate_sas
from ansible_collections.xfrm.ipsec.plugins.modules import (
    ipsec_apply, ipsec_firewall, ipsec_flush, ipsec_info, ipsec_lint, ipsec_policy, ipsec_sa, ipsec_save)
from ansible_collections.xfrm.ipsec.tests.unit.bad_inputs import CASES, KEYS, policy, sa
from ansible_collections.xfrm.ipsec.tests.unit import test_site
from ansible_collections.xfrm.ipsec.tests.unit.test_module_runs import kernel, run  # noqa: F401 pylint: disable=unused-import

MODULES = {m.__name__.rsplit(".", 1)[1]: m
           for m in (ipsec_apply, ipsec_firewall, ipsec_flush, ipsec_info, ipsec_lint, ipsec_policy, ipsec_sa, ipsec_save)}
ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "roles")
CHANGES = {table.messages for table in (SA, POLICY)}
LONGEST_WORD = 200


def key_forms(key):
    """A key as it could leak: 0x hex, bare hex, either case, base64, raw bytes as text."""
    raw = bytes.fromhex(key[2:])
    return {key, key[2:], key[2:].upper(), "0x" + key[2:].upper(), "0X" + key[2:].upper(), base64.b64encode(raw).decode(),
            raw.decode("latin-1")}


def assert_clear(case, message, whole):
    assert case.field in message, "%s: the message does not name %s: %s" % (case.name, case.field, message[:500])
    assert "Traceback" not in whole and '"exception"' not in whole, case.name
    assert max(map(len, message.split()), default=0) < LONGEST_WORD, "%s: a huge value repeated" % case.name
    assert len(message) < 2000, "%s: a %d-character message" % (case.name, len(message))
    for key in KEYS:
        assert not any(form in whole for form in key_forms(key)), "%s: a key in the output" % case.name


def held(kernel):  # noqa: F811
    """The fake kernel before the case: one managed SA each way and their policies, a foreign SA and policy."""
    run(ipsec_apply, {"sas": [sa(), sa(src="192.0.2.2", dst="192.0.2.1", spi=4097)],
                      "policies": [policy(), policy(src="192.0.2.2", dst="192.0.2.1", dir="in")]})
    foreign_sa = validate_sas({"sas": [sa(spi=0x5000, reqid=7)]})[0][0]
    foreign_policy = validate_policies({"policies": [policy(src="192.0.2.8", dst="192.0.2.9", dir="in",
                                                                templates=[{"proto": "ah", "reqid": 7}])]})[0][0]
    kernel.sas[foreign_sa.identity] = foreign_sa
    kernel.policies[foreign_policy.identity] = foreign_policy.with_index(0x1238)
    kernel.requests.clear()
    return dict(kernel.sas), dict(kernel.policies)


@pytest.mark.parametrize("case", [c for c in CASES if c.target in MODULES], ids=lambda c: c.name)
def test_a_module_refuses_bad_input_naming_the_field_and_the_kernel_keeps_its_state(case, kernel, tmp_path):  # noqa: F811
    before = held(kernel)
    args = dict(case.args)
    if case.target in ("ipsec_save", "ipsec_firewall"):
        args.setdefault("path" if case.target == "ipsec_save" else "dir", str(tmp_path / "state"))
    result = run(MODULES[case.target], args)
    assert result["failed"], "%s was accepted: %s" % (case.name, json.dumps(result)[:500])
    assert_clear(case, result["msg"], json.dumps(result))
    assert (dict(kernel.sas), dict(kernel.policies)) == before, case.name
    assert not [r for r in kernel.requests if any(r[0] in messages for messages in CHANGES)], case.name
    assert not os.path.exists(tmp_path / "state"), "%s wrote a file" % case.name


def _role_options(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


ROLE_VARS = {"ipsec_master_secret": "from the vault"}


@pytest.mark.parametrize("role", ["ipsec_host", "ipsec_gateway"])
def test_the_roles_accept_their_minimal_variables(role):
    assert not ArgumentSpecValidator(_role_options(role)).validate(dict(ROLE_VARS)).error_messages


@pytest.mark.parametrize("case", [c for c in CASES if c.target.startswith("role:")], ids=lambda c: c.name)
def test_a_role_refuses_a_bad_variable_naming_it(case):
    variables = dict(ROLE_VARS, **case.args)
    variables = {k: v for k, v in variables.items() if v is not None}
    errors = ArgumentSpecValidator(_role_options(case.target[len("role:"):])).validate(variables).error_messages
    assert errors, "%s was accepted" % case.name
    assert_clear(case, " ".join(errors), json.dumps(errors))


@pytest.mark.parametrize("case", [c for c in CASES if c.target == "site"], ids=lambda c: c.name)
def test_the_site_refuses_a_bad_inventory_naming_the_variable(case):
    changes = dict(case.args)
    host = changes.pop("host", "h1")
    common = changes.pop("common", {})
    groups, hostvars = test_site.inventory()
    for own in hostvars.values():
        own.update(common)
    for name, own in changes.items():
        hostvars[name] = dict(own, ipsec_master_secret=test_site.MASTER) if own else {"ipsec_master_secret": test_site.MASTER}
    if host not in hostvars:  # a host the play runs the role on, in neither group
        hostvars[host] = {"ipsec_master_secret": test_site.MASTER}
        groups["all"].append(host)
    with pytest.raises(AnsibleActionFail) as failure:
        test_site.run(host, "sas", groups, hostvars)
    message = str(failure.value)
    assert_clear(case, message, message)
    assert test_site.MASTER not in message


def test_the_matrix_holds_over_a_hundred_named_cases_each_once():
    names = [c.name for c in CASES]
    assert len(names) >= 100 and len(set(names)) == len(names)
    assert all(re.match(r"^[a-z0-9_]+$", name) for name in names), [n for n in names if not re.match(r"^[a-z0-9_]+$", n)]
