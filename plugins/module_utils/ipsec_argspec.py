# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the xfrm.ipsec modules. Every key option is no_log.

Choices come from the kernel's tables (constants.py) and defaults from the validator's (validate.py),
so that a module called through Ansible and the core called directly agree.
"""

from __future__ import annotations

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.setkey import FLUSH_SCOPES
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.validate import DEFAULTS as D, MODES

LIFETIME = {name: dict(type="int") for name in (
    "soft_byte_limit", "hard_byte_limit", "soft_packet_limit", "hard_packet_limit",
    "soft_add_expires_seconds", "hard_add_expires_seconds", "soft_use_expires_seconds", "hard_use_expires_seconds")}

MARK = dict(value=dict(type="raw", required=True), mask=dict(type="raw"))

SELECTOR = dict(
    src=dict(type="str", default=D["selector"]["src"]),
    dst=dict(type="str", default=D["selector"]["dst"]),
    proto=dict(type="str", default=D["selector"]["proto"]),
    sport=dict(type="int"),
    dport=dict(type="int"),
)

SA = dict(
    src=dict(type="str"),
    dst=dict(type="str"),
    proto=dict(type="str", choices=list(C.XFRM_PROTOS), default=D["sa"]["proto"]),
    spi=dict(type="raw", no_log=False),
    mode=dict(type="str", choices=list(MODES), default=D["sa"]["mode"]),
    reqid=dict(type="raw"),
    enc=dict(type="dict", options=dict(algorithm=dict(type="str", required=True),
                                       key=dict(type="raw", required=True, no_log=True))),
    auth=dict(type="dict", options=dict(algorithm=dict(type="str", required=True),
                                        key=dict(type="raw", required=True, no_log=True),
                                        trunc_len=dict(type="int"))),
    aead=dict(type="dict", options=dict(algorithm=dict(type="str", required=True),
                                        key=dict(type="raw", required=True, no_log=True),
                                        icv_len=dict(type="int"))),
    comp=dict(type="dict", options=dict(algorithm=dict(type="str", required=True))),
    replay_window=dict(type="int", default=D["sa"]["replay_window"]),
    flags=dict(type="list", elements="str", choices=list(C.XFRM_STATE_FLAGS)),
    lifetime=dict(type="dict", options=LIFETIME),
    mark=dict(type="dict", options=MARK),
    if_id=dict(type="int"),
    encap=dict(type="dict", options=dict(type=dict(type="str", choices=sorted(C.ENCAP_TYPES), default=D["encap"]["type"]),
                                         sport=dict(type="int", default=D["encap"]["sport"]),
                                         dport=dict(type="int", default=D["encap"]["dport"]),
                                         oa=dict(type="str"))),
    selector=dict(type="dict", options=SELECTOR),
    state=dict(type="str", choices=["present", "absent"], default=D["sa"]["state"]),
)

TEMPLATE = dict(
    proto=dict(type="str", choices=list(C.XFRM_PROTOS), default=D["template"]["proto"]),
    mode=dict(type="str", choices=list(MODES), default=D["template"]["mode"]),
    src=dict(type="str"),
    dst=dict(type="str"),
    spi=dict(type="raw", no_log=False),
    reqid=dict(type="raw"),
    level=dict(type="str", choices=["required", "use"], default=D["template"]["level"]),
)

POLICY = dict(
    src=dict(type="str"),
    dst=dict(type="str"),
    proto=dict(type="str", default=D["selector"]["proto"]),
    sport=dict(type="int"),
    dport=dict(type="int"),
    dir=dict(type="str", choices=list(C.XFRM_POLICY_DIRS)),
    action=dict(type="str", choices=list(C.XFRM_POLICY_ACTIONS), default=D["policy"]["action"]),
    priority=dict(type="int", default=D["policy"]["priority"]),
    templates=dict(type="list", elements="dict", options=TEMPLATE),
    mark=dict(type="dict", options=MARK),
    if_id=dict(type="int"),
    ptype=dict(type="str", choices=list(C.XFRM_POLICY_TYPES), default=D["policy"]["ptype"]),
    flags=dict(type="list", elements="str", choices=list(C.XFRM_POLICY_FLAGS)),
    lifetime=dict(type="dict", options=LIFETIME),
    state=dict(type="str", choices=["present", "absent"], default=D["policy"]["state"]),
)

NETNS = dict(netns=dict(type="str"))

OPT_INS = dict(
    allow_weak_algorithms=dict(type="bool", default=False),
    allow_static_counter_mode=dict(type="bool", default=False),
)


def sa_module_spec():
    spec = dict(SA, sas=dict(type="list", elements="dict", options=SA), exclusive=dict(type="bool", default=False))
    spec.update(NETNS)
    spec.update(OPT_INS)
    return dict(argument_spec=spec, supports_check_mode=True,
                mutually_exclusive=[("sas", name) for name in ("src", "dst", "spi", "enc", "auth", "aead", "comp", "reqid")],
                required_one_of=[("sas", "dst")])


def policy_module_spec():
    spec = dict(POLICY, policies=dict(type="list", elements="dict", options=POLICY), exclusive=dict(type="bool", default=False))
    spec.update(NETNS)
    return dict(argument_spec=spec, supports_check_mode=True,
                mutually_exclusive=[("policies", name) for name in ("src", "dst", "dir", "templates")],
                required_one_of=[("policies", "dir")])


def apply_module_spec():
    spec = dict(sas=dict(type="list", elements="dict", options=SA, default=[]),
                policies=dict(type="list", elements="dict", options=POLICY, default=[]),
                exclusive=dict(type="bool", default=False),
                compare_only=dict(type="list", elements="str", choices=["sas", "policies"], default=[]),
                superseded=dict(type="str", choices=["delete", "keep"], default="delete"),
                setkey=dict(type="str", no_log=True),
                setkey_flush=dict(type="str", choices=list(FLUSH_SCOPES), default="managed"))
    spec.update(NETNS)
    spec.update(OPT_INS)
    return dict(argument_spec=spec, supports_check_mode=True, mutually_exclusive=[("setkey", "sas"), ("setkey", "policies")])


def flush_module_spec():
    return dict(argument_spec=dict(scope=dict(type="str", choices=["managed", "all"], default="managed"),
                                   sas=dict(type="bool", default=True),
                                   policies=dict(type="bool", default=True),
                                   proto=dict(type="str", choices=["any"] + list(C.XFRM_PROTOS), default="any"),
                                   **NETNS),
                supports_check_mode=True)


def save_module_spec():
    return dict(argument_spec=dict(path=dict(type="path", default="/etc/xfrm-ipsec/state.ip"),
                                   format=dict(type="str", choices=["ip", "setkey"], default="ip"),
                                   managed_only=dict(type="bool", default=True),
                                   restore_at_boot=dict(type="str", choices=["none", "systemd", "auto"], default="none"),
                                   state=dict(type="str", choices=["present", "absent"], default="present"),
                                   **NETNS),
                supports_check_mode=True)


def interface_module_spec():
    return dict(argument_spec=dict(
        interfaces=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True), if_id=dict(type="int", required=True), mtu=dict(type="int"),
            pair=dict(type="str"))),
        routes=dict(type="list", elements="dict", default=[], options=dict(
            dst=dict(type="str", required=True), dev=dict(type="str", required=True),
            src_from=dict(type="list", elements="str", default=[]), metric=dict(type="int"))),
        exclusive=dict(type="bool", default=False),
        keep_routes_of=dict(type="list", elements="str", default=[]),
        **NETNS), supports_check_mode=True)


def firewall_module_spec():
    return dict(argument_spec=dict(state=dict(type="str", choices=["present", "absent"], default="present"),
                                   sas=dict(type="list", elements="dict"),
                                   policies=dict(type="list", elements="dict"),
                                   management=dict(type="list", elements="str", default=[]),
                                   natt_peers=dict(type="list", elements="str", default=[]),
                                   routes=dict(type="list", elements="dict", default=[], options=dict(
                                       dst=dict(type="str", required=True), dev=dict(type="str", required=True))),
                                   drop_plaintext=dict(type="bool", default=True),
                                   leak_guard=dict(type="bool", default=True),
                                   backend=dict(type="str", choices=["auto", "nftables", "iptables"], default="auto"),
                                   dir=dict(type="path", default="/etc/xfrm-ipsec"),
                                   **NETNS),
                supports_check_mode=True)


def info_module_spec():
    return dict(argument_spec=dict(sas=dict(type="bool", default=True),
                                   policies=dict(type="bool", default=True),
                                   managed_only=dict(type="bool", default=False),
                                   show_keys=dict(type="bool", default=False),
                                   format=dict(type="str", choices=["data", "setkey", "setkey_dump"], default="data"),
                                   **NETNS),
                supports_check_mode=True)


def probe_module_spec():
    return dict(argument_spec=dict(probes=dict(type="list", elements="dict", default=[],
                                               options=dict(dst=dict(type="str", required=True), src=dict(type="str"),
                                                            name=dict(type="str"))),
                                   count=dict(type="int", default=3),
                                   interval=dict(type="float", default=0.2),
                                   timeout=dict(type="float", default=2.0),
                                   snapshot=dict(type="bool", default=True),
                                   **NETNS),
                supports_check_mode=True)


def lint_module_spec():
    return dict(argument_spec=dict(setkey=dict(type="str", no_log=True),
                                   management=dict(type="list", elements="str", default=[]),
                                   fail_on=dict(type="str", choices=["error", "warning", "never"], default="error"),
                                   **NETNS),
                supports_check_mode=True)
