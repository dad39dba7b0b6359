# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NAT traversal on the host (module ipsec_natt): the socket holder the kernel needs to take ESP in UDP, its unit and
configuration, installed and started, or stopped and removed. systemctl is run as the tool it is; XFRM is not touched.
"""

from __future__ import annotations

import json
import os

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm.firewall import NATT_PORT
from ansible_collections.xfrm.ipsec.plugins.module_utils.ipsec_system import has_systemd, read_text, remove, write_private

UNIT = "xfrm-ipsec-natt.service"
UNIT_PATH = "/etc/systemd/system/" + UNIT

# The program the unit runs (written to the host as it is here; tests/integration/test_natt_socket_kernel.py runs it)
PROGRAM = r'''#!/usr/bin/python3
# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""xfrm-ipsec-natt CONFIG: the UDP 4500 socket the kernel needs to take ESP in UDP (RFC 3948), and NAT keepalives.

Installed by the role xfrm.ipsec.ipsec_gateway as xfrm-ipsec-natt.service where a pair of the gateway crosses a NAT
(ipsec_gateway_nat; docs/nat-traversal.md). Without IKE nothing else holds the port:

- the kernel decapsulates ESP in UDP only on a bound UDP socket marked UDP_ENCAP_ESPINUDP; it hands what arrives on
  4500 to its ESP input (the SAs with `encap espinudp`) before the socket sees it, so this program reads nothing but
  what is not ESP (a NAT keepalive, stray datagrams: read and dropped, so that the socket's buffer never fills);
- behind a NAT, a one-byte 0xFF datagram (RFC 3948's NAT keepalive) to each peer's 4500 every `keepalive` seconds,
  from this very socket (its source port is the one the NAT maps), keeps the NAT's mapping while the pair is idle.

CONFIG is JSON: {"port": 4500, "keepalive": 20, "peers": ["192.0.2.1"]}. No key, no IKE: the SAs are the kernel's.
"""

import json
import select
import socket
import sys
import time

SOL_UDP = 17
UDP_ENCAP = 100
UDP_ENCAP_ESPINUDP = 2
KEEPALIVE = b"\xff"


def log(message):
    print(message, file=sys.stderr, flush=True)


def main(argv):
    if len(argv) != 2:
        log("usage: xfrm-ipsec-natt CONFIG.json")
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    port = int(config.get("port", 4500))
    interval = float(config.get("keepalive", 20))
    peers = [str(p) for p in config.get("peers") or ()]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
    log("UDP %d open for ESP in UDP; keepalives every %gs to %s" % (port, interval, ", ".join(peers) or "no peer"))
    keepalives = bool(peers) and interval > 0
    due = time.monotonic()
    while True:
        if keepalives and time.monotonic() >= due:
            for peer in peers:
                try:
                    sock.sendto(KEEPALIVE, (peer, port))
                except OSError as exc:  # no route yet (boot): the next round tries again
                    log("keepalive to %s: %s" % (peer, exc))
            due = time.monotonic() + interval
        timeout = max(0.0, due - time.monotonic()) if keepalives else None
        if select.select([sock], [], [], timeout)[0]:
            sock.recvfrom(65535)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
'''


def config_text(peers, keepalive):
    return json.dumps({"port": NATT_PORT, "keepalive": keepalive, "peers": list(peers)}, indent=2, sort_keys=True) + "\n"


def unit_text(python, program, config):
    return """# Written by xfrm.ipsec (module ipsec_natt, role ipsec_gateway): do not edit, re-run the play.
[Unit]
Description=xfrm.ipsec NAT traversal: UDP 4500 for ESP in UDP, NAT keepalives
Documentation=https://github.com/xfrm-ipsec/xfrm.ipsec/blob/main/docs/nat-traversal.md
After=network-pre.target
Before=network.target

[Service]
ExecStart=%s %s %s
Restart=always
RestartSec=2
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
""" % (python, program, config)


def _systemctl(module, *args, check=True):
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, out, err = module.run_command([systemctl] + list(args))
    if check and rc != 0:
        module.fail_json(msg="systemctl %s: %s" % (" ".join(args), (err or out).strip()))
    return rc == 0


def present(module, files):
    """files: [(path, text, mode)] of the program, its configuration and its unit. [what changed]."""
    if not has_systemd():
        module.fail_json(msg="ipsec_natt: the socket holder is a systemd unit and systemd does not run this host; "
                             "hold UDP 4500 with UDP_ENCAP_ESPINUDP some other way (docs/nat-traversal.md)")
    changed = []
    for path, text, mode in files:
        if read_text(path) != text:
            changed.append("wrote " + path)
            if not module.check_mode:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                write_private(path, text, mode)
    if "wrote " + UNIT_PATH in changed and not module.check_mode:
        _systemctl(module, "daemon-reload")
    if not _systemctl(module, "is-enabled", "--quiet", UNIT, check=False):
        changed.append("enabled " + UNIT)
        if not module.check_mode:
            _systemctl(module, "enable", UNIT)
    active = _systemctl(module, "is-active", "--quiet", UNIT, check=False)
    if not active or any(c.startswith("wrote ") for c in changed):  # a new program or configuration: restarted
        verb = "restart" if active else "start"
        changed.append("%sed %s" % (verb, UNIT))
        if not module.check_mode:
            _systemctl(module, verb, UNIT)
    return changed


def absent(module, paths):
    """Stop and disable the unit where it is installed, remove its files. [what changed]."""
    changed = []
    if os.path.exists(UNIT_PATH) and has_systemd():
        if _systemctl(module, "is-active", "--quiet", UNIT, check=False):
            changed.append("stopped " + UNIT)
            if not module.check_mode:
                _systemctl(module, "stop", UNIT)
        if _systemctl(module, "is-enabled", "--quiet", UNIT, check=False):
            changed.append("disabled " + UNIT)
            if not module.check_mode:
                _systemctl(module, "disable", UNIT)
    for path in paths:
        if os.path.exists(path):
            changed.append("removed " + path)
            if not module.check_mode:
                remove(path)
    if "removed " + UNIT_PATH in changed and has_systemd() and not module.check_mode:
        _systemctl(module, "daemon-reload")
    return changed
