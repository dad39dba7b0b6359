# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The site as the inventory states it, read on the controller by the action plugins (ipsec_site, ipsec_check)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.xfrm.ipsec.plugins.module_utils._xfrm import keys, site

# (kind, group variable, default group, address variable, subnets variable, pairs variable, prefix of the settings)
KIND_VARS = {
    "host": ("ipsec_host_group", "ipsec_mesh", "ipsec_host_address", None, "ipsec_host_pairs", "ipsec_host_"),
    "gateway": ("ipsec_gateway_group", "ipsec_gateways", "ipsec_gateway_address", "ipsec_gateway_subnets",
                "ipsec_gateway_pairs", "ipsec_gateway_"),
}


class Inventory:
    """The site as the inventory states it, read lazily: one hostvars lookup per host that matters.

    A roster (ipsec_host_members / ipsec_gateway_members, in group_vars) states the members and their
    addresses instead of the group's hosts: AWX's job slicing hands each slice an inventory pared down to
    the slice's own hosts, and a roster is what every slice still sees whole.
    """

    def __init__(self, task_vars, templar):
        self._vars = task_vars
        self._templar = templar
        self._hostvars = task_vars["hostvars"]
        self._me = task_vars["inventory_hostname"]
        self._members = {}
        self._settings = {}
        self._cache = {}  # (host, variable) -> templated value
        self._peer_vars = {}  # host -> hostvars[host], which costs a get_vars() of that host each time it is read

    def var(self, host, name, default=None):
        key = (host, name)
        if key not in self._cache:
            if host == self._me:
                value = self._vars.get(name)
            else:
                if host not in self._peer_vars:
                    self._peer_vars[host] = self._hostvars[host]
                value = self._peer_vars[host].get(name)
            self._cache[key] = self._templar.template(value)
        value = self._cache[key]
        return default if value is None else value

    def roster(self, kind):
        return self.var(self._me, KIND_VARS[kind][5] + "members")

    def group(self, kind):
        group_var, default = KIND_VARS[kind][:2]
        name = self.var(self._me, group_var, default)
        roster = self.roster(kind)
        if roster is not None:
            if not isinstance(roster, dict):
                raise site.SiteError("%smembers: a dict of host name -> {address, subnets}" % KIND_VARS[kind][5])
            return set(roster), name
        return set(self._vars["groups"].get(name, ())), name

    def member(self, kind, host):
        if (kind, host) not in self._members:
            address_var, subnets_var, prefix = KIND_VARS[kind][2], KIND_VARS[kind][3], KIND_VARS[kind][5]
            roster = self.roster(kind)
            if roster is not None:
                where = "%smembers[%s]" % (prefix, host)
                entry = roster.get(host) or {}
                value, nets = entry.get("address"), entry.get("subnets") if subnets_var else None
                nat, nat_var = entry.get("nat") if subnets_var else None, where + ".nat"
                address_var, subnets_var = where + ".address", where + ".subnets" if subnets_var else None
            else:
                where = host
                value = self.var(host, address_var)
                nets = self.var(host, subnets_var) if subnets_var else None
                nat, nat_var = self.var(host, "ipsec_gateway_nat") if subnets_var else None, "ipsec_gateway_nat"
            if value is None:
                raise site.SiteError("%s: %s is not set (a member of the %s group needs it)"
                                     % (host, address_var, self.group(kind)[1]))
            nets = site.subnets(nets, "%s: %s" % (host, subnets_var)) if subnets_var else ()
            self._members[(kind, host)] = site.Member(host, site.addresses(value, "%s: %s" % (host, address_var)), nets,
                                                      site.nat(nat, "%s: %s" % (host, nat_var)))
        return self._members[(kind, host)]

    def settings(self, kind, host, pair):
        """The pair's settings as `host` states them (role variables, then the pair's override), or None when
        the inventory does not hold that host (a roster member outside this slice)."""
        if host != self._me and host not in self._hostvars:
            return None
        prefix = KIND_VARS[kind][5]
        override = (self.var(host, prefix + "pair_overrides") or {}).get(pair)
        key = (kind, host, None if override is None else pair)
        if key not in self._settings:
            raw = {field: self.var(host, prefix + field) for field in site.FIELDS}
            raw = {k: v for k, v in raw.items() if v is not None}
            raw.update(override or {})
            self._settings[key] = site.settings(raw, "%s: %s (pair %s)" % (host, prefix + "*", pair))
        return self._settings[key]

    def pair_names(self, kind):
        group, name = self.group(kind)
        # as a member of the group states them: the gateways' play scans the mesh's pairs too
        speaker = self._me if self._me in group else next((h for h in sorted(group) if h in self._hostvars), self._me)
        explicit = self.var(speaker, KIND_VARS[kind][4])
        return site.pairs_of(group, explicit, KIND_VARS[kind][4], name)

    def pairs(self, kind, host):
        """host's Pairs of this kind; both peers must state the same settings."""
        out = []
        for a, b in self.pair_names(kind):
            if host not in (a, b):
                continue
            peer = b if host == a else a
            name = keys.pair_name(a, b)
            mine, theirs = self.settings(kind, host, name), self.settings(kind, peer, name)
            if theirs is not None and mine != theirs:
                raise site.SiteError("pair %s: %s and %s state different settings (%s vs %s); set them in the group's "
                                     "group_vars or in %spair_overrides, the same for both"
                                     % (name, host, peer, mine._asdict(), theirs._asdict(), KIND_VARS[kind][5]))
            pair = site.Pair(kind, self.member(kind, host), self.member(kind, peer), mine, self.mode(kind, host),
                             self.mode(kind, peer))
            site.check_nat(pair)
            out.append(pair)
        return out

    def mode(self, kind, host):
        """A gateway's ipsec_gateway_mode (policy or route: its own choice, the peer's may differ); hosts: policy."""
        if kind != "gateway" or (host != self._me and host not in self._hostvars):
            return "policy"
        value = self.var(host, "ipsec_gateway_mode", "policy")
        if value not in site.MODES:
            raise site.SiteError("%s: ipsec_gateway_mode: %r; one of %s" % (host, value, ", ".join(site.MODES)))
        return value

    def all_pairs(self):
        """Every pair of the site, with this host's view of the settings (for the SPI scan)."""
        out = []
        for kind in site.KINDS:
            for a, b in self.pair_names(kind):
                settings = self.settings(kind, a, keys.pair_name(a, b)) or self.settings(kind, self._me, keys.pair_name(a, b))
                out.append(site.Pair(kind, self.member(kind, a), self.member(kind, b), settings,
                                     self.mode(kind, a), self.mode(kind, b)))
        return out


def master_deriver(args, task_vars, templar):
    """The keys.Deriver of the site's master secret (the task's master_secret, or ipsec_master_secret)."""
    master = args.get("master_secret") or templar.template(task_vars.get("ipsec_master_secret"))
    if not master:
        raise AnsibleActionFail("master_secret is empty: set ipsec_master_secret (ansible-vault encrypt_string, "
                                "see the roles' README)")
    return keys.Deriver(to_bytes(master, errors="surrogate_or_strict"))
