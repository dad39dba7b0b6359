# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's side of a deployment beyond XFRM: the firewall that goes with the policies (nft or iptables, run as
the tools they are) and the boot-time restore (a root-only state file, a script and a systemd unit). One module run
each, because every task costs a Python start on the host: ipsec_firewall and ipsec_save(restore_at_boot).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import time

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import firewall

RESTORE_SCRIPT = "/usr/local/sbin/xfrm-ipsec-restore"
UNIT = "xfrm-ipsec-restore.service"
UNIT_PATH = "/etc/systemd/system/" + UNIT
FIREWALL_FILES = {"nftables": ("firewall.nft",), "iptables": ("firewall.iptables", "firewall.ip6tables")}
LOADED_FILE = "firewall.loaded"  # the digest loaded and a hash of the kernel's listing right after: hand edits show
IPTABLES_HOOKS = ("INPUT", "FORWARD", "OUTPUT")
LOCK_DIR = "/run/xfrm-ipsec"
LOCK_WAIT = 120  # seconds a run waits for another one on the same kernel (environment XFRM_IPSEC_LOCK_WAIT)


@contextlib.contextmanager
def locked(module):
    """One run at a time per XFRM table set (the host's, or one netns's): two runs that read, plan and write
    the same kernel would each plan against a state the other is changing. An flock, so that a run killed
    (even by SIGKILL) releases it; the holder's pid is written in the file for the message of the one waiting."""
    netns = module.params.get("netns")
    name = "host" if netns is None else "netns-" + (netns if re.match(r"^[A-Za-z0-9_.-]{1,64}$", netns)
                                                    else hashlib.sha256(netns.encode("utf-8", "replace")).hexdigest()[:16])
    path = os.path.join(LOCK_DIR, name + ".lock")
    wait = float(os.environ.get("XFRM_IPSEC_LOCK_WAIT", LOCK_WAIT))
    try:
        private_dir(LOCK_DIR)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        module.fail_json(msg="cannot open the lock %s: %s (nothing was changed)" % (path, exc.strerror or exc))
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    module.fail_json(msg="another xfrm.ipsec run (pid %s) has held %s for %g s: nothing was changed; "
                                         "run again when it is done" % (holder, path, wait))
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_private(path, text, mode=0o600):
    """text (str, or bytes) into path: mode set from the first byte (with the default 0600, never readable by others,
    not even briefly), then renamed over the old file in one step."""
    directory, base = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.%d.tmp" % (base, os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") if isinstance(text, bytes) else os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def private_dir(path):
    """The collection's directory, root only (0700); True when it was made."""
    if os.path.isdir(path):
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o700)
        return False
    os.makedirs(path, mode=0o700)
    os.chmod(path, 0o700)
    return True


def remove(path):
    """True when path existed and is gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


# -- the firewall -------------------------------------------------------------------

def backend(module, wanted):
    """nftables or iptables: the one asked for, or (auto) nft where the host has it."""
    if wanted != "auto":
        return wanted
    return "nftables" if module.get_bin_path("nft") else "iptables"


def firewall_texts(ruleset):
    """{file name: text} and the digest, for the rules of both backends."""
    nft, digest = firewall.nft_file(ruleset)
    return {"firewall.nft": nft, "firewall.iptables": firewall.iptables_restore(ruleset, 4, digest),
            "firewall.ip6tables": firewall.iptables_restore(ruleset, 6, digest)}, digest


def listing(module, kind):
    """What the kernel holds of the collection's firewall, counters left out; None when it holds nothing of it."""
    if kind == "nftables":
        nft = module.get_bin_path("nft")
        if nft is None:
            return None
        rc, out, _err = module.run_command([nft, "list", "table", "inet", firewall.TABLE])
        return re.sub(r"counter packets \d+ bytes \d+", "counter", out) if rc == 0 else None
    parts = []
    for command in ("iptables", "ip6tables"):
        binary = module.get_bin_path(command)
        if binary is None:
            return None
        for hook in IPTABLES_HOOKS:
            chain = firewall.IPTABLES_PREFIX + hook
            rc, out, _err = module.run_command([binary, "-S", chain])
            if rc != 0 or module.run_command([binary, "-C", hook, "-j", chain])[0] != 0:
                return None
            parts.append(out)
    return "".join(parts)


def _listing_hash(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def is_loaded(module, kind, directory, digest):
    """True when the kernel holds the rules with this digest, unchanged since they were loaded."""
    current = listing(module, kind)
    if current is None or digest not in current:
        return False
    return read_text(os.path.join(directory, LOADED_FILE)) == "%s %s %s\n" % (kind, digest, _listing_hash(current))


def record_loaded(module, kind, directory, digest):
    current = listing(module, kind) or ""
    write_private(os.path.join(directory, LOADED_FILE), "%s %s %s\n" % (kind, digest, _listing_hash(current)))


def load(module, kind, directory):
    """Load the written rules: nft -f (one transaction), or iptables-restore --noflush and the jumps."""
    if kind == "nftables":
        path = os.path.join(directory, "firewall.nft")
        module.run_command([module.get_bin_path("nft", required=True), "-f", path], check_rc=True)
        return
    for command, name in (("iptables", "firewall.iptables"), ("ip6tables", "firewall.ip6tables")):
        binary = module.get_bin_path(command, required=True)
        module.run_command([module.get_bin_path(command + "-restore", required=True), "--noflush",
                            os.path.join(directory, name)], check_rc=True)
        for hook in IPTABLES_HOOKS:
            chain = firewall.IPTABLES_PREFIX + hook
            if module.run_command([binary, "-C", hook, "-j", chain])[0] != 0:
                module.run_command([binary, "-I", hook, "1", "-j", chain], check_rc=True)


def check_rules(module, kind, texts):
    """nft -c (or iptables-restore --test) on what would be loaded, or fail_json with the tool's message."""
    if kind == "nftables":
        checks = [("nft", [module.get_bin_path("nft", required=True), "-c", "-f", "-"], texts["firewall.nft"])]
    else:
        checks = [(command, [module.get_bin_path(command + "-restore", required=True), "--test", "--noflush"],
                   texts["firewall." + command]) for command in ("iptables", "ip6tables")]
    for tool, argv, text in checks:
        rc, _out, err = module.run_command(argv, data=text, binary_data=True)
        if rc != 0:
            module.fail_json(msg="%s refused the rules (nothing was changed): %s" % (tool, err.strip()))


def _iptables_chains(module):
    """(binary, hook, chain) of the collection's iptables chains, for each of iptables and ip6tables the host has."""
    for command in ("iptables", "ip6tables"):
        binary = module.get_bin_path(command)
        if binary is not None:
            for hook in IPTABLES_HOOKS:
                yield binary, hook, firewall.IPTABLES_PREFIX + hook


def _nft_table_present(module):
    nft = module.get_bin_path("nft")
    return nft if nft and module.run_command([nft, "list", "table", "inet", firewall.TABLE])[0] == 0 else None


def present_firewall(module):
    """What of the collection's firewall the host holds: ["nft table inet xfrm_ipsec", "iptables chains ...", ...]."""
    found = ["nft table inet %s" % firewall.TABLE] if _nft_table_present(module) else []
    for binary, hook, chain in _iptables_chains(module):
        label = "%s chains %s*" % (os.path.basename(binary), firewall.IPTABLES_PREFIX)
        if label not in found and (module.run_command([binary, "-S", chain])[0] == 0
                                   or module.run_command([binary, "-C", hook, "-j", chain])[0] == 0):
            found.append(label)
    return found


def remove_firewall(module):
    """The table, or the jumps to the chains and then the chains; nothing else."""
    nft = _nft_table_present(module)
    if nft:
        module.run_command([nft, "delete", "table", "inet", firewall.TABLE], check_rc=True)
    for binary, hook, chain in _iptables_chains(module):
        while module.run_command([binary, "-D", hook, "-j", chain])[0] == 0:
            pass
        if module.run_command([binary, "-S", chain])[0] == 0:
            module.run_command([binary, "-F", chain], check_rc=True)
            module.run_command([binary, "-X", chain], check_rc=True)


# -- the boot-time restore ------------------------------------------------------------

def restore_script(state_path):
    directory = os.path.dirname(state_path)
    return """#!/bin/sh
# Written by xfrm.ipsec (module ipsec_save, role ipsec_persist): do not edit, re-run the play.
# This host's IPsec state as the last site_vpn.yml run left it, restored at boot before the network comes up,
# without Ansible: the firewall first (its leak guard drops before any policy exists), then the SAs, then the
# policies (ip -batch reads the keys from the root-only file: never in argv).
set -u
dir=%s
status=0
if [ -f "$dir/firewall.nft" ] && command -v nft >/dev/null; then
    nft -f "$dir/firewall.nft" || status=1
fi
for family in iptables ip6tables; do
    if [ -f "$dir/firewall.$family" ] && command -v $family-restore >/dev/null; then
        $family-restore --noflush "$dir/firewall.$family" || status=1
        for chain in INPUT FORWARD OUTPUT; do
            $family -C $chain -j XFRM-IPSEC-$chain 2>/dev/null || $family -I $chain 1 -j XFRM-IPSEC-$chain || status=1
        done
    fi
done
state=%s
if [ -f "$state" ]; then
    # -force: an entry that exists already (the unit started again by hand) does not stop the others
    ip -force -batch "$state" || status=1
fi
exit $status
""" % (_sh_quote(directory), _sh_quote(state_path))


def unit_text(state_path):
    return """# Written by xfrm.ipsec (module ipsec_save, role ipsec_persist): do not edit, re-run the play.
[Unit]
Description=xfrm.ipsec: restore the IPsec SAs, policies and firewall of the last site_vpn.yml run
Documentation=https://github.com/xfrm-ipsec/xfrm.ipsec/blob/main/docs/persistence.md
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=network-pre.target shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target
ConditionPathExists=%s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%s

[Install]
WantedBy=sysinit.target
""" % (state_path, RESTORE_SCRIPT)


def _sh_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def has_systemd():
    return os.path.isdir("/run/systemd/system")


def unit_enabled(module):
    systemctl = module.get_bin_path("systemctl")
    return bool(systemctl) and module.run_command([systemctl, "is-enabled", "--quiet", UNIT])[0] == 0


def install_unit(module, state_path):
    """Script, unit, daemon-reload where the unit changed, enable. [what changed]."""
    changed = []
    for path, text, mode in ((RESTORE_SCRIPT, restore_script(state_path), 0o700), (UNIT_PATH, unit_text(state_path), 0o644)):
        if read_text(path) != text:
            changed.append(path)
            if not module.check_mode:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_private(path, text, mode)
    systemctl = module.get_bin_path("systemctl", required=True)
    if UNIT_PATH in changed and not module.check_mode:
        module.run_command([systemctl, "daemon-reload"], check_rc=True)
    if not unit_enabled(module):
        changed.append("enabled " + UNIT)
        if not module.check_mode:
            module.run_command([systemctl, "enable", UNIT], check_rc=True)
    return changed


def remove_unit(module):
    """Disable the unit, remove it and its script. [what changed]."""
    changed = []
    systemctl = module.get_bin_path("systemctl")
    if os.path.exists(UNIT_PATH):
        if systemctl and unit_enabled(module):
            changed.append("disabled " + UNIT)
            if not module.check_mode:
                module.run_command([systemctl, "disable", UNIT], check_rc=True)
    for path in (UNIT_PATH, RESTORE_SCRIPT):
        if os.path.exists(path):
            changed.append(path)
            if not module.check_mode:
                remove(path)
    if UNIT_PATH in changed and systemctl and has_systemd() and not module.check_mode:
        module.run_command([systemctl, "daemon-reload"], check_rc=True)
    return changed


def remove_dir_if_empty(module, directory, leaving=()):
    """Remove the collection's directory once nothing but `leaving` (files this run removes) is in it; True if so."""
    if not os.path.isdir(directory):
        return False
    if [name for name in os.listdir(directory) if os.path.join(directory, name) not in leaving]:
        return False
    if not module.check_mode:
        os.rmdir(directory)
    return True
