# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every xfrm.ipsec module does around the core: read, decide, report, act.

The one place that knows AnsibleModule: validation errors, missing pyroute2, kernel
errors and rollbacks all become fail_json with a message that names the entry.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
import traceback

from ansible.module_utils import basic
from ansible.module_utils.basic import missing_required_lib

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import apply as xapply
from ansible_collections.xfrm.ipsec.plugins.module_utils import ipsec_system as system
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import constants as C
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import firewall as xfirewall
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import ipbatch
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import links as xlinks
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import lint as xlint
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import plan as xplan
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import probe as xprobe
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import setkey
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import validate as xvalidate
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.plan import plan_diff, plan_report
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.render import describe, entry_dict, fingerprint, superseded_dict
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.tables import POLICY, SA, TABLES
from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.transport import Transport, XfrmError, netns_entered


LONG_WORD = re.compile(r"\S{100,}")
LONGEST_MESSAGE = 4000


def shortened(msg):
    """A message with every very long word (a user's 100,000-character value) cut to its start and length."""
    msg = LONG_WORD.sub(lambda m: "%s... (%d characters)" % (m.group()[:60], len(m.group())), str(msg))
    return msg if len(msg) <= LONGEST_MESSAGE else msg[:LONGEST_MESSAGE] + "... (%d characters)" % len(msg)


def shape_errors(spec, params, path=""):
    """What ansible-core reports as "dictionary requested, could not parse JSON or key=value", said with the
    option's path: options that take a dictionary (or a list of them) given something else."""
    errors = []
    for name, option in spec.items():
        value, where = (params or {}).get(name), (path + "." + name).lstrip(".")
        if value is None or "options" not in option:
            continue
        if option.get("type") == "list":
            if not isinstance(value, list):
                errors.append("%s: a list of dictionaries is required, got %s" % (where, _kind(value)))
                continue
            items = [("%s[%d]" % (where, i), item) for i, item in enumerate(value)]
        else:
            items = [(where, value)]
        for at, item in items:
            if isinstance(item, dict):
                errors += shape_errors(option["options"], item, at)
            else:
                errors.append("%s: a dictionary is required (with %s), got %s"
                              % (at, ", ".join(sorted(option["options"])), _kind(item)))
    return errors


def _kind(value):
    return "%s %s" % ({str: "the string", int: "the number", list: "a list", bool: "the boolean"}.get(type(value), "a"),
                      xvalidate.shown(value) if isinstance(value, (str, int)) else type(value).__name__)


class XfrmModule(basic.AnsibleModule):
    """AnsibleModule whose failures name the option that is wrong and never repeat a huge value whole."""

    def __init__(self, **spec):
        self._xfrm_ready = False
        super().__init__(**spec)
        self._xfrm_ready = True

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        if not self._xfrm_ready:  # ansible-core's own argument checks failed
            errors = shape_errors(self.argument_spec, basic._load_params())  # pylint: disable=protected-access
            if errors:
                msg = "invalid input, nothing was changed: %s" % "; ".join(errors)
                kwargs.setdefault("errors", errors)
        super().fail_json(msg=shortened(msg), **kwargs)


def _netns(module):
    """The module's netns option, or fail_json when it names no namespace."""
    netns = module.params.get("netns")
    if netns is not None and (not netns.strip() or "/" in netns or "\x00" in netns or netns in (".", "..")):
        # "{{ ns | default('') }}" must not key the host's own kernel, nor a path open another one
        module.fail_json(msg="netns: %s is not a network namespace's name; leave the option out to use the host's own "
                             "XFRM tables (nothing was changed)" % xvalidate.shown(netns))
    return netns


def open_transport(module):
    """The XFRM socket in the module's netns, or fail_json saying why not."""
    netns = _netns(module)
    try:
        return Transport(netns)
    except ImportError:
        module.fail_json(msg=missing_required_lib("pyroute2 (needed for the netns option)"), exception=traceback.format_exc())
    except XfrmError as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg="cannot open the NETLINK_XFRM socket: %s (needs Linux with CONFIG_XFRM_USER and CAP_NET_ADMIN)" % exc)
    return None


def read(module, transport, table):
    """The entries of one table the kernel holds, or fail_json saying why not."""
    try:
        return table.dump(transport)
    except XfrmError as exc:
        module.fail_json(msg="cannot read the kernel's %s: %s" % (table.noun, exc))
    return None


def _validated(module, tables):
    """{table: (want, absent)}, every table validated before anything else; one error lists every bad field."""
    out, errors = {}, []
    for table in tables:
        try:
            want, absent, warnings = table.validate(module.params)
        except xvalidate.ValidationError as exc:
            errors += exc.errors
            continue
        for warning in warnings:
            module.warn(warning)
        out[table] = (want, absent)
    if errors:
        module.fail_json(msg="invalid input, nothing was changed: %s" % "; ".join(errors), errors=errors)
    return out


def run_entries(module, table):
    """ipsec_sa / ipsec_policy: validate everything, read the kernel, plan, report, apply unless check mode."""
    _run(module, [table], (), _validated(module, [table]))


def run_tables(module):
    """ipsec_apply: SAs and policies in one request, all or nothing across both tables; from lists or a setkey file."""
    compare_only = [t for t in TABLES if t.option in module.params["compare_only"]]
    if module.params.get("setkey") is None:
        _run(module, TABLES, compare_only, _validated(module, TABLES))
        return
    try:
        statements = setkey.parse(module.params["setkey"])
    except setkey.SetkeyError as exc:
        module.fail_json(msg="invalid setkey text, nothing was changed: %s" % exc, errors=[str(exc)])
    _run(module, TABLES, compare_only, lambda haves: _setkey_state(module, statements, haves))


def _setkey_state(module, statements, haves):
    """{table: (want, absent)}: what the kernel holds after the file's statements, run on what it holds (haves)."""
    flags = {name: module.params[name] for name in ("allow_weak_algorithms", "allow_static_counter_mode")}
    warnings = set()
    sas, policies, errors = setkey.desired_state(statements, haves[SA], haves[POLICY], *setkey.validators(flags, warnings),
                                                 flush_scope=module.params["setkey_flush"])
    if errors:
        module.fail_json(msg="invalid input, nothing was changed: %s" % "; ".join(errors), errors=errors)
    for warning in sorted(warnings):
        module.warn(warning)
    out = {}
    for table, final in ((SA, sas), (POLICY, policies)):
        out[table] = (list(final.values()), [entry.identity for entry in haves[table] if entry.identity not in final])
    return out


def _run(module, tables, compare_only, requested):
    """Read and plan each table's request, report, apply unless check mode. requested: {table: (want, absent)}, or
    a function of what the kernel holds ({table: entries}) that returns it. The tables in compare_only are planned
    and reported under `pending`, never changed."""
    with system.locked(module), open_transport(module) as transport:
        haves = {table: read(module, transport, table) for table in tables}
        takeover = callable(requested) and module.params.get("setkey_flush") == "all"
        if callable(requested):
            requested = requested(haves)
        elif module.params.get("exclusive") and not any(want or absent for want, absent in requested.values()):
            module.fail_json(msg="invalid input, nothing was changed: exclusive: true with no entries would delete every "
                                 "%s the collection manages; to remove them all, use ipsec_flush (scope: managed)"
                                 % " and every ".join(_singular(table) for table in requested))
        if not takeover:
            _refuse_foreign(module, requested, haves)
        applied, pending, superseded = {}, [], []
        for table, (want, absent) in requested.items():
            have = haves[table]
            if table is SA and module.params.get("superseded") == "keep":
                superseded = xplan.superseded_sas(want, have, absent)
                kept = {sa.identity for sa in superseded}
                have = [sa for sa in have if sa.identity not in kept]
            changes = table.plan(want, absent, have, module.params["exclusive"])
            if table in compare_only:
                pending += changes
            else:
                applied[table] = changes
        changes = [change for table in tables for change in applied.get(table, ())]
        result = plan_report(changes)
        if "compare_only" in module.params:
            result["pending"] = plan_report(pending)["actions"]
        if module.params.get("superseded") == "keep":
            result["superseded"] = [superseded_dict(sa) for sa in superseded]
        if module._diff:
            result["diff"] = plan_diff(changes)
        if changes and not module.check_mode:
            try:
                xapply.apply_all(transport, [(table.steps, applied[table]) for table in tables if table in applied])
            except xapply.ApplyError as exc:
                result["changed"] = bool(exc.rollback_failures)
                module.fail_json(msg=str(exc), failures=[dict(entry=e, error=m) for e, m in exc.failures], **result)
    module.exit_json(**result)


def _singular(table):
    return "SA" if table is SA else "policy"


def _refuse_foreign(module, requested, haves):
    """fail_json when a wanted entry would change a foreign one (another daemon's or a hand-made entry)."""
    errors = []
    for table, (want, _absent) in requested.items():
        for entry, old in xplan.foreign_conflicts(want, haves[table]):
            mark = ("reqid %d" % old.reqid) if table is SA else ("index %d" % old.index)
            errors.append("%s: the kernel holds a foreign %s with this identity (%s, outside the collection's range: "
                          "made by hand or by another IPsec daemon) and other contents; xfrm.ipsec never changes foreign "
                          "entries: delete it first (ipsec_flush scope: all, or setkey_flush: all)"
                          % (describe(entry), _singular(table), mark))
    if errors:
        module.fail_json(msg="invalid input, nothing was changed: %s" % "; ".join(errors), errors=errors)


def _select(module, transport, wanted, table, keep):
    return [entry for entry in read(module, transport, table) if keep(entry)] if wanted else []


def flush(module):
    """ipsec_flush: policies then SAs, managed ones one by one (all or nothing), or the kernel's flush for scope all."""
    params = module.params
    managed = params["scope"] == "managed"
    proto = dict(C.XFRM_PROTOS, any=0)[params["proto"]]
    with system.locked(module), open_transport(module) as transport:
        policies = _select(module, transport, params["policies"], POLICY, lambda p: p.managed or not managed)
        sas = _select(module, transport, params["sas"], SA,
                      lambda sa: sa.proto in xplan.SA_PROTOS and (sa.managed or not managed) and proto in (0, sa.proto))
        result = dict(changed=bool(policies or sas),
                      removed={"sas": [entry_dict(sa) for sa in sas], "policies": [entry_dict(p) for p in policies]})
        if module._diff:
            result["diff"] = plan_diff([xplan.Change(xplan.DELETE, old=e) for e in policies + sas])
        if module.check_mode or not result["changed"]:
            module.exit_json(**result)
        try:
            if managed:
                _delete_all_or_nothing(transport, policies, sas)
            else:
                transport.flush(policies=bool(policies), ptypes={p.ptype for p in policies}, sas=bool(sas), proto=proto)
        except (xapply.ApplyError, XfrmError) as exc:
            result["changed"] = bool(getattr(exc, "rollback_failures", True))
            module.fail_json(msg="flush failed: %s" % exc, **result)
    module.exit_json(**result)


def _delete_all_or_nothing(transport, policies, sas):
    """Delete managed policies, then SAs; if the SAs fail, the policies come back too."""
    xapply.apply_all(transport, [(table.steps, [xplan.Change(xplan.DELETE, old=e) for e in entries])
                                 for table, entries in ((SA, sas), (POLICY, policies))])


def info(module):
    """ipsec_info: SAs and policies as data (keys as fingerprints unless shown under no_log), optionally setkey text."""
    params = module.params
    if params["show_keys"] and not module.no_log:
        module.fail_json(msg="show_keys: true returns the keys themselves; set no_log: true on the task to allow it")
    keep = (lambda e: e.managed) if params["managed_only"] else (lambda e: True)
    transport = open_transport(module)
    with transport:
        sas = _select(module, transport, params["sas"], SA, keep)
        policies = _select(module, transport, params["policies"], POLICY, keep)
    result = dict(changed=False)
    if params["sas"]:
        result["sas"] = [SA.to_dict(sa, show_keys=params["show_keys"]) for sa in sas]
    if params["policies"]:
        result["policies"] = [POLICY.to_dict(p) for p in policies]
    if params["format"] == "setkey":
        result["setkey"], unexpressed = setkey.state_text(sas, policies, params["show_keys"])
        for line in unexpressed:
            module.warn("%s: written as a comment in the setkey text (applying the text removes it)" % line)
    elif params["format"] == "setkey_dump":
        result["setkey"] = "\n".join([SA.setkey(sa, params["show_keys"]) for sa in sas]
                                     + [POLICY.setkey(p) for p in policies]) + "\n"
    module.exit_json(**result)


PROBE_LIMITS = {"count": (1, 100), "interval": (0.01, 10.0), "timeout": (0.0, 30.0)}


def probe(module):
    """ipsec_probe: the SAs and policies (keys as fingerprints), the kernel's XFRM counters and the host's addresses
    (snapshot), and bounded echo probes toward the given peers. Reads and sends only: no state changes."""
    params = module.params
    errors = ["%s: %s is outside %s-%s" % (name, params[name], low, high)
              for name, (low, high) in PROBE_LIMITS.items() if not low <= params[name] <= high]
    for index, spec in enumerate(params["probes"]):
        try:
            families = {ipaddress.ip_address(spec[k]).version for k in ("dst", "src") if spec.get(k)}
        except ValueError as exc:
            errors.append("probes[%d]: %s" % (index, xvalidate.shown(str(exc), 80)))
            continue
        if len(families) > 1:
            errors.append("probes[%d]: src %s and dst %s are of different families" % (index, spec["src"], spec["dst"]))
    if errors:
        module.fail_json(msg="invalid input, nothing was sent: %s" % "; ".join(errors))
    result = dict(changed=False)
    if params["snapshot"]:
        with open_transport(module) as transport:
            result["sas"] = [SA.to_dict(sa) for sa in read(module, transport, SA)]
            result["policies"] = [POLICY.to_dict(p) for p in read(module, transport, POLICY)]
    try:
        with netns_entered(_netns(module)):
            if params["snapshot"]:
                result.update(xfrm_stat=xprobe.xfrm_stat(), addresses=xprobe.addresses(), time=int(time.time()))
            if params["probes"]:
                specs = [{k: v for k, v in spec.items() if v is not None} for spec in params["probes"]]
                result["probes"] = xprobe.echo(specs, params["count"], params["interval"], params["timeout"])
    except ImportError:
        module.fail_json(msg=missing_required_lib("pyroute2"), exception=traceback.format_exc())
    except (OSError, XfrmError) as exc:
        module.fail_json(msg="cannot probe: %s" % exc)
    module.exit_json(**result)


def save(module):
    """ipsec_save: the kernel's SAs and policies, keys included, into a 0600 root file rewritten only when it differs;
    optionally the systemd unit that restores them at boot; or (state absent) all of it removed. The file holds one
    state: no other run changes the kernel between the read and the write."""
    with system.locked(module):
        _save(module)


def _save(module):
    params = module.params
    path = params["path"]
    if params["state"] == "present" and params["restore_at_boot"] != "none" and params["format"] != "ip":
        module.fail_json(msg="restore_at_boot needs format: ip (the unit runs ip -batch); nothing was changed")
    if params["state"] == "absent":
        changed = ([path] if os.path.exists(path) else []) + system.remove_unit(module)
        if changed and not module.check_mode:
            system.remove(path)
        if system.remove_dir_if_empty(module, os.path.dirname(path), leaving=changed):
            changed.append(os.path.dirname(path))
        module.exit_json(changed=bool(changed), path=path, removed=changed)
    keep = (lambda e: e.managed) if params["managed_only"] else (lambda e: True)
    transport = open_transport(module)
    with transport:
        sas = _select(module, transport, True, SA, keep)
        policies = _select(module, transport, True, POLICY, keep)
    # in a fixed order, so that the same state always makes the same file (the kernel's dump order may vary)
    sas.sort(key=lambda sa: (sa.family, sa.dst.packed, sa.proto, sa.spi))
    policies.sort(key=lambda p: (p.dir, p.index))
    interfaces, routes = _saved_links(module) if params["format"] == "ip" else ([], [])
    if params["format"] == "setkey":
        text = setkey.state_text(sas, policies, show_keys=True)[0]
    else:
        text = ipbatch.state_file(sas, policies, interfaces, routes)
    try:
        old = system.read_text(path)
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, exc))
    changed = [path] if old != text else []
    result = dict(path=path, sas=len(sas), policies=len(policies), interfaces=len(interfaces), routes=len(routes))
    if module._diff and changed:
        result["diff"] = {"before": redact_keys(old or ""), "after": redact_keys(text),
                          "before_header": path, "after_header": path}
    boot = params["restore_at_boot"]
    if boot == "systemd" and not system.has_systemd():
        module.fail_json(msg="restore_at_boot: systemd, but systemd does not run this host (the restore is a systemd "
                             "unit); nothing was changed", **result)
    try:
        if changed and not module.check_mode:
            if system.private_dir(os.path.dirname(path)):
                changed.append(os.path.dirname(path))
            system.write_private(path, text)
        if boot in ("systemd", "auto") and system.has_systemd():
            changed += system.install_unit(module, path)
            result["restore_at_boot"] = system.UNIT
        elif boot == "auto":
            module.warn("systemd does not run this host: the IPsec state is saved in %s but not restored at boot "
                        "(until site_vpn.yml runs again)" % path)
    except OSError as exc:
        module.fail_json(msg="cannot write %s: %s" % (exc.filename or path, exc.strerror or exc), **result)
    module.exit_json(changed=bool(changed), changed_files=changed, **result)


def _saved_links(module):
    """The collection's XFRM interfaces and routes (route mode), in a fixed order; none where pyroute2 is missing (it
    makes them: a host without it has none of ours)."""
    try:
        from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
    except ImportError:
        return [], []
    try:
        with netns_entered(_netns(module)):
            with IPRoute() as ipr:
                state = xlinks.read(ipr)
    except (OSError, XfrmError) as exc:
        module.fail_json(msg="cannot read the XFRM interfaces and routes: %s" % exc)
    interfaces = sorted(found[0] for found in state.interfaces.values() if found and found[1])
    return interfaces, [state.routes[key] for key in sorted(state.routes)]


_KEY_TOKEN = re.compile(r"\b0x([0-9a-fA-F]{16,})\b")


def redact_keys(text):
    """text with every key (0x and 16 hex digits or more: SPIs have 8) replaced by its fingerprint."""
    return _KEY_TOKEN.sub(lambda m: fingerprint(bytes.fromhex(m.group(1) if len(m.group(1)) % 2 == 0 else "0" + m.group(1))),
                          text)


def run_firewall(module):
    """ipsec_firewall: the rules for this host's IPsec state, written (0600), checked and loaded in one step where
    the kernel's differ; or (state absent) the table, chains and files removed. One run at a time per host."""
    with system.locked(module):
        _run_firewall(module)


def _run_firewall(module):
    params = module.params
    directory = params["dir"]
    rules_files = [os.path.join(directory, name) for names in system.FIREWALL_FILES.values() for name in names]
    all_files = rules_files + [os.path.join(directory, system.LOADED_FILE)]
    if params["state"] == "absent":
        found = system.present_firewall(module) + [f for f in all_files if os.path.exists(f)]
        if found and not module.check_mode:
            system.remove_firewall(module)
            for name in all_files:
                system.remove(name)
        module.exit_json(changed=bool(found), removed=found)
    sas, policies = params["sas"], params["policies"]
    if sas is None or policies is None:  # what is not given: the collection's entries in the kernel
        transport = open_transport(module)
        with transport:
            if sas is None:
                sas = [SA.to_dict(sa) for sa in _select(module, transport, True, SA, lambda e: e.managed)]
            if policies is None:
                policies = [POLICY.to_dict(p) for p in _select(module, transport, True, POLICY, lambda e: e.managed)]
    try:
        ruleset = xfirewall.plan(sas, policies, management=params["management"], natt_peers=params["natt_peers"],
                                 drop_plaintext=params["drop_plaintext"], leak_guard=params["leak_guard"],
                                 routes=params["routes"])
    except (KeyError, ValueError, TypeError) as exc:
        module.fail_json(msg="cannot make rules of these SAs and policies: %s" % exc)
    texts, digest = system.firewall_texts(ruleset)
    kind = system.backend(module, params["backend"])
    mine = system.FIREWALL_FILES[kind]
    stale = [os.path.join(directory, name) for name in mine
             if system.read_text(os.path.join(directory, name)) != texts[name]]
    others = [f for f in rules_files if os.path.basename(f) not in mine and os.path.exists(f)]
    loaded = system.is_loaded(module, kind, directory, digest)
    counts = {chain: len(rules) for chain, rules in ruleset.chains.items()}
    result = dict(changed=bool(stale or others or not loaded), backend=kind, digest=digest, counts=counts,
                  path=os.path.join(directory, mine[0]), reloaded=not loaded)
    if module._diff and result["changed"]:
        before = system.read_text(result["path"]) or ""
        result["diff"] = {"before": before, "after": texts[mine[0]], "before_header": result["path"],
                          "after_header": result["path"]}
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)
    system.check_rules(module, kind, texts)
    try:
        system.private_dir(directory)
        for name in mine:
            system.write_private(os.path.join(directory, name), texts[name])
        for name in others:
            system.remove(name)
    except OSError as exc:
        module.fail_json(msg="cannot write %s: %s" % (exc.filename, exc.strerror), **result)
    if others:  # the other backend's rules were this host's: out of the kernel too, then ours in
        system.remove_firewall(module)
    if not loaded or others:
        system.load(module, kind, directory)
        system.record_loaded(module, kind, directory, digest)
    module.exit_json(**result)


def run_lint(module):
    """ipsec_lint: findings of this host's state, or of a setkey file's; fails at fail_on."""
    params = module.params
    try:
        if params["setkey"] is not None:
            findings = xlint.lint_setkey({"": params["setkey"]}, params["management"])
        else:
            transport = open_transport(module)
            with transport:
                state = xlint.State("", tuple(read(module, transport, SA)), tuple(read(module, transport, POLICY)))
            findings = xlint.lint([state], params["management"])
    except (setkey.SetkeyError, xvalidate.ValidationError, ValueError) as exc:
        module.fail_json(msg="cannot lint: %s" % exc)
    order = {xlint.ERROR: 0, xlint.WARNING: 1}
    findings = sorted(findings, key=lambda f: order[f.severity])
    result = dict(changed=False, findings=[f.as_result() for f in findings],
                  summary={severity: sum(1 for f in findings if f.severity == severity) for severity in order})
    failing = {"error": (xlint.ERROR,), "warning": (xlint.ERROR, xlint.WARNING), "never": ()}[params["fail_on"]]
    if any(f.severity in failing for f in findings):
        module.fail_json(msg="%d finding(s) at or above %s: %s" % (sum(1 for f in findings if f.severity in failing),
                                                                   params["fail_on"], "; ".join(map(str, findings))),
                         **result)
    module.exit_json(**result)


def run_interfaces(module):
    """ipsec_interface: XFRM interfaces and the routes through them, over rtnetlink (pyroute2), planned whole and
    validated before anything is read or changed; exclusive removes the collection's others."""
    params = module.params
    try:
        wanted, routes = xlinks.validate(params["interfaces"], params["routes"])
    except xvalidate.ValidationError as exc:
        module.fail_json(msg="invalid input, nothing was changed: %s" % exc)
    netns = _netns(module)
    try:
        with netns_entered(netns):
            from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
            with IPRoute() as ipr:
                state = xlinks.read(ipr)
                own = [ipaddress.ip_address(a["address"]) for a in xprobe.addresses(ipr)]
                want_routes = xlinks.with_sources(routes, own)
                try:
                    changes = xlinks.plan(wanted, want_routes, state, params["exclusive"], params["keep_routes_of"])
                except xlinks.Conflict as exc:
                    module.fail_json(msg="%s (nothing was changed)" % exc)
                result = dict(changed=bool(changes), actions=xlinks.report(changes),
                              interfaces=[i.text() for i in wanted], routes=[r.text() for r in want_routes])
                if module._diff:
                    result["diff"] = xlinks.diff(changes)
                if changes and not module.check_mode:
                    try:
                        xlinks.apply(ipr, changes)
                    except Exception as exc:  # pyroute2's NetlinkError, or OSError
                        done = getattr(exc, "done", [])
                        module.fail_json(msg="the kernel refused %s: %s (made before it: %s)" % (
                            changes[len(done)].entry.text(), exc, ", ".join(c.entry.text() for c in done) or "nothing"),
                            **result)
    except ImportError:
        module.fail_json(msg=missing_required_lib("pyroute2"), exception=traceback.format_exc())
    except XfrmError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)
