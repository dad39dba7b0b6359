# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""XFRM interfaces and the routes through them (route-based mode), over rtnetlink through pyroute2.

An XFRM interface (`ip link add NAME type xfrm if_id N`) hands what is routed into it to the policies and SAs of its
if_id, and receives what those SAs decrypt. The collection's interfaces carry an alias starting with MARKER and its
routes the protocol RTPROT (as `ip route ... proto 0x9a` shows it), so that `exclusive` and the flush touch nothing
else. Validation and planning are pure; read() and apply() take a pyroute2 IPRoute.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

from .validate import ValidationError, shown

MARKER = "xfrm.ipsec"          # the alias of the collection's interfaces: "xfrm.ipsec pair gw1~gw2"
RTPROT = 0x9a                  # the protocol of the collection's routes (154; not one of /etc/iproute2/rt_protos)
IFNAMSIZ = 15
MTU_RANGE = (1280, 65535)      # 1280: IPv6's minimum, which an interface that carries IPv6 must keep
ADD, UPDATE, REPLACE, DELETE = "add", "update", "replace", "delete"


class Interface(NamedTuple):
    name: str
    if_id: int
    mtu: int = None            # None: leave the kernel's (1500 for a new interface)
    alias: str = MARKER

    def text(self):
        return "interface %s if_id 0x%x%s" % (self.name, self.if_id, "" if self.mtu is None else " mtu %d" % self.mtu)


class Route(NamedTuple):
    dst: str                   # network, normalised
    dev: str
    src: str = None            # the preferred source (the gateway's own address in its LAN), or None
    metric: int = 0

    @property
    def family(self):
        return ipaddress.ip_network(self.dst).version

    @property
    def key(self):
        return (self.dst, self.metric)

    def text(self):
        return "route %s dev %s%s%s" % (self.dst, self.dev, "" if self.src is None else " src %s" % self.src,
                                        " metric %d" % self.metric if self.metric else "")


class Change(NamedTuple):
    action: str
    old: object
    new: object

    @property
    def entry(self):
        return self.new if self.new is not None else self.old


# -- input ------------------------------------------------------------------------------

def validate(interfaces, routes):
    """([Interface], [(Route without src, src_from networks)]) from the module's options; ValidationError names the
    field of the first error, before anything is read or changed."""
    errors, out_ifs, out_routes, names, ids = [], [], [], set(), {}
    for index, item in enumerate(interfaces or ()):
        where = "interfaces[%d]" % index
        name, if_id, mtu = item.get("name"), item.get("if_id"), item.get("mtu")
        if not isinstance(name, str) or not 0 < len(name) <= IFNAMSIZ or any(c in name for c in "/: \t\n\x00") \
                or name in (".", ".."):
            errors.append("%s.name: %s is not an interface name (1-%d characters, no '/', ':' or spaces)"
                          % (where, shown(name), IFNAMSIZ))
            continue
        if name in names:
            errors.append("%s.name: %s is listed twice" % (where, name))
        names.add(name)
        if not isinstance(if_id, int) or isinstance(if_id, bool) or not 0 < if_id <= 0xFFFFFFFF:
            errors.append("%s.if_id: %s; give a number from 1 to 4294967295 (the kernel refuses 0)" % (where, shown(if_id)))
            continue
        if if_id in ids:
            errors.append("%s.if_id: %d is %s's too; each interface needs its own" % (where, if_id, ids[if_id]))
        ids[if_id] = name
        if mtu is not None and (isinstance(mtu, bool) or not MTU_RANGE[0] <= mtu <= MTU_RANGE[1]):
            errors.append("%s.mtu: %s is outside %d-%d" % (where, shown(mtu), *MTU_RANGE))
            continue
        out_ifs.append(Interface(name, if_id, mtu, "%s pair %s" % (MARKER, item["pair"]) if item.get("pair") else MARKER))
    seen = set()
    for index, item in enumerate(routes or ()):
        where = "routes[%d]" % index
        try:
            dst = str(ipaddress.ip_network(str(item.get("dst")), strict=True))
        except ValueError as exc:
            errors.append("%s.dst: %s" % (where, shown(str(exc), 80)))
            continue
        if item.get("dev") not in names:
            errors.append("%s.dev: %s is none of the interfaces listed (%s)" % (where, shown(item.get("dev")),
                                                                                ", ".join(sorted(names)) or "none"))
            continue
        metric = item.get("metric")
        if metric is None:  # the kernel's default: IPv6 routes get 1024
            metric = 1024 if ":" in dst else 0
        try:
            nets = [ipaddress.ip_network(str(n), strict=False) for n in item.get("src_from") or ()]
        except ValueError as exc:
            errors.append("%s.src_from: %s" % (where, shown(str(exc), 80)))
            continue
        route = Route(dst, item["dev"], None, metric)
        if route.key in seen:
            errors.append("%s: %s metric %d is listed twice" % (where, dst, metric))
        seen.add(route.key)
        out_routes.append((route, [n for n in nets if n.version == route.family]))
    if errors:
        raise ValidationError(errors)
    return out_ifs, out_routes


def with_sources(routes, addresses):
    """The routes with their preferred source (addresses: the host's, ipaddress objects): the host's lowest address inside the first of src_from that holds one
    (src_from in the inventory's order: a subnet added later does not move the source of the routes already there)."""
    out = []
    for route, nets in routes:
        found = next((min(inside, key=int) for inside in ([a for a in addresses if a in net] for net in nets) if inside),
                     None)
        out.append(route._replace(src=str(found) if found else None))
    return out


# -- the kernel's state -------------------------------------------------------------------

class State(NamedTuple):
    interfaces: dict           # name -> (Interface, managed: bool) of every xfrm interface; non-xfrm names -> None
    routes: dict               # (dst, metric) -> Route of ours
    foreign: dict              # (dst, metric) -> description of a route of someone else's in the main table


def read(ipr):
    """The state of the host (or the namespace ipr was opened in)."""
    interfaces, by_index = {}, {}
    for link in ipr.get_links():
        name = link.get_attr("IFLA_IFNAME")
        by_index[link["index"]] = name
        info = link.get_attr("IFLA_LINKINFO")
        if info is None or info.get_attr("IFLA_INFO_KIND") != "xfrm":
            interfaces[name] = None
            continue
        data = info.get_attr("IFLA_INFO_DATA")
        if_id = data.get_attr("IFLA_XFRM_IF_ID") if data is not None else 0
        alias = link.get_attr("IFLA_IFALIAS") or ""
        managed = alias == MARKER or alias.startswith(MARKER + " ")
        interfaces[name] = (Interface(name, if_id or 0, link.get_attr("IFLA_MTU"), alias), managed)
    routes, foreign = {}, {}
    for family in (2, 10):
        for msg in ipr.get_routes(family=family, table=254):
            if msg["type"] != 1:   # unicast only (not local, broadcast, ...)
                continue
            dst = "%s/%d" % (msg.get_attr("RTA_DST") or ("0.0.0.0" if family == 2 else "::"), msg["dst_len"])
            dst = str(ipaddress.ip_network(dst, strict=False))
            metric = msg.get_attr("RTA_PRIORITY") or 0
            dev = by_index.get(msg.get_attr("RTA_OIF"))
            if msg["proto"] == RTPROT:
                routes[(dst, metric)] = Route(dst, dev, msg.get_attr("RTA_PREFSRC"), metric)
            else:
                via = msg.get_attr("RTA_GATEWAY")
                foreign[(dst, metric)] = "%s%s dev %s proto %d" % (dst, " via %s" % via if via else "", dev, msg["proto"])
    return State(interfaces, routes, foreign)


# -- plan -----------------------------------------------------------------------------------

class Conflict(ValueError):
    """An entry the request would have to take from someone else (a foreign interface or route)."""


def plan(want_ifs, want_routes, state, exclusive=False, keep_routes_of=()):
    """[Change] in the order they are applied: interfaces added or updated (and up), routes removed, added or
    replaced, interfaces removed. exclusive: the collection's interfaces and routes that are not wanted go (except
    the routes on the interfaces of keep_routes_of, left as they are). Conflict when a wanted name or route is taken."""
    first, routes_out, routes_in = [], [], []
    wanted_names = {i.name for i in want_ifs}
    for want in want_ifs:
        found = state.interfaces.get(want.name, False)
        if found is None:
            raise Conflict("interface %s exists and is not an XFRM interface: rename it, or name ours otherwise" % want.name)
        if found is False:
            first.append(Change(ADD, None, want))
            continue
        have, managed = found
        if not managed:
            raise Conflict("interface %s is an XFRM interface this collection did not make (alias %s): remove it, or "
                           "name ours otherwise" % (want.name, shown(have.alias)))
        if have.if_id != want.if_id:
            first.append(Change(REPLACE, have, want))
        elif (want.mtu is not None and have.mtu != want.mtu) or have.alias != want.alias:
            first.append(Change(UPDATE, have, want._replace(mtu=want.mtu if want.mtu is not None else have.mtu)))
    last = []
    if exclusive:
        last = [Change(DELETE, found[0], None) for name, found in sorted(state.interfaces.items())
                if found and found[1] and name not in wanted_names]
    replaced = {c.new.name for c in first if c.action == REPLACE}
    gone = replaced | {c.old.name for c in last}   # their routes go with them
    wanted_keys = {r.key for r in want_routes}
    for key, have in sorted(state.routes.items()):
        if exclusive and key not in wanted_keys and have.dev not in keep_routes_of and have.dev not in gone:
            routes_out.append(Change(DELETE, have, None))
    for want in want_routes:
        have = state.routes.get(want.key)
        if have is None and want.key in state.foreign:
            raise Conflict("a route to %s (%s) exists that this collection did not add: remove it (the route-based "
                           "tunnel replaces it), or give our route another metric" % (want.dst, state.foreign[want.key]))
        if have is None or want.dev in replaced:
            routes_in.append(Change(ADD, None, want))
        elif have != want:
            routes_in.append(Change(REPLACE, have, want))
    return first + routes_out + routes_in + last


def report(changes):
    """[{action, entry}] for the module's result (no secrets here: interfaces and routes carry none)."""
    return [{"action": c.action, "entry": c.entry.text()} for c in changes]


def diff(changes):
    before = "".join(c.old.text() + "\n" for c in changes if c.old is not None)
    after = "".join(c.new.text() + "\n" for c in changes if c.new is not None)
    return {"before": before, "after": after}


# -- apply ----------------------------------------------------------------------------------

def apply(ipr, changes):
    """Make the changes, in order; the first refusal raises (pyroute2's NetlinkError) with the changes done before
    it in the exception's `done` attribute."""
    done = []
    try:
        for change in changes:
            entry = change.entry
            if isinstance(entry, Interface):
                _apply_interface(ipr, change)
            else:
                _apply_route(ipr, change)
            done.append(change)
    except Exception as exc:
        exc.done = done
        raise
    return done


def _index(ipr, name):
    found = ipr.link_lookup(ifname=name)
    return found[0] if found else None


def _apply_interface(ipr, change):
    if change.action in (DELETE, REPLACE):
        index = _index(ipr, change.old.name)
        if index is not None:
            ipr.link("del", index=index)
        if change.action == DELETE:
            return
    new = change.new
    if change.action in (ADD, REPLACE):
        ipr.link("add", ifname=new.name, kind="xfrm", xfrm_if_id=new.if_id, ifalias=new.alias,
                 **({"mtu": new.mtu} if new.mtu is not None else {}))
    index = _index(ipr, new.name)
    ipr.link("set", index=index, state="up", ifalias=new.alias, **({"mtu": new.mtu} if new.mtu is not None else {}))


def _apply_route(ipr, change):
    if change.action == DELETE:
        # scope "nowhere": any scope matches (the kernel compares the scope of a delete request otherwise)
        ipr.route("del", dst=change.old.dst, priority=change.old.metric, proto=RTPROT, table=254,
                  **({"scope": 255} if change.old.family == 4 else {}))
        return
    new = change.new
    spec = dict(dst=new.dst, oif=_index(ipr, new.dev), proto=RTPROT, table=254, priority=new.metric)
    if new.family == 4:
        spec["scope"] = 253  # link, as `ip route add DST dev IFACE` makes it (the boot-time restore does)
    if new.src is not None:
        spec["prefsrc"] = new.src
    ipr.route("replace", **spec)
