# Copyright (c) 2026 xfrm.ipsec contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel's two XFRM tables, each described once: what every layer does with its entries.

The modules, the benchmarks and the fake kernel of the tests take a table's steps from here
(validate, dump, plan, apply, describe, as module options, as setkey and ip -batch text) instead
of choosing them by name. A new table (an XFRM interface's routes, say) is one more Table.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from . import apply, ipbatch, messages, plan, render, setkey, validate
from . import constants as C


class Table(NamedTuple):
    """One XFRM table and the functions that handle its entries."""

    name: str               # "sa", "policy"
    option: str             # the modules' list option: "sas", "policies"
    noun: str               # in messages: "SAs", "policies"
    validate: Callable      # module options -> ([entries to be present], [identities to be absent], warnings)
    dump: Callable          # Transport -> [entries the kernel holds]
    messages: tuple         # its netlink requests: (new, update, delete)
    decode: Callable        # a dumped message's payload -> entry
    decode_id: Callable     # a delete request's payload -> identity
    plan: Callable          # (want, absent, have, exclusive) -> [Change]
    steps: Callable         # Change -> [(request, (undo maker, entry))]: apply.execute runs them
    to_dict: Callable       # entry -> module-option dict (keys as fingerprints)
    setkey: Callable        # entry -> setkey -D / -DP text
    ip_line: Callable       # entry -> ip -batch line
    ip_object: str          # ip xfrm's word for the table: "state", "policy"


SA = Table("sa", "sas", "SAs", validate.validate_sas, lambda transport: transport.dump_sas(),
           (C.XFRM_MSG_NEWSA, C.XFRM_MSG_UPDSA, C.XFRM_MSG_DELSA), messages.decode_sa, messages.decode_sa_id,
           plan.plan_sas, apply.sa_steps, render.sa_dict, setkey.sa_text, ipbatch.sa_line, "state")
POLICY = Table("policy", "policies", "policies", validate.validate_policies, lambda transport: transport.dump_policies(),
               (C.XFRM_MSG_NEWPOLICY, C.XFRM_MSG_UPDPOLICY, C.XFRM_MSG_DELPOLICY), messages.decode_policy,
               messages.decode_policy_id, plan.plan_policies, apply.policy_steps, render.policy_dict, setkey.policy_text,
               ipbatch.policy_line, "policy")
TABLES = (SA, POLICY)  # in roll-out order: SAs before the policies that use them
BY_NAME = {table.name: table for table in TABLES}
