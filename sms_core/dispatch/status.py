"""SMPP command_status values: their names, and what each one asks the driver to do.

Names come from smpplib's constant table (the full SMPP 3.4 §5.1.3 list; smpp34 exports only a
few). The classification is ours, and it decides money and duplicates: a *permanent* status
means the operator refused this message for good (fail it, no retry, no failover); a
*throttle* status means "slower", never "no"; anything else is *transient* (retry, fail over).
"""

from __future__ import annotations

from typing import Final, Literal

from smpplib import consts

Verdict = Literal["ok", "throttle", "transient", "permanent"]

NAMES: Final[dict[int, str]] = {
    value: name.removeprefix("SMPP_")
    for name, value in vars(consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}

ESME_ROK: Final = 0x00
ESME_RINVCMDLEN: Final = 0x02
ESME_RINVCMDID: Final = 0x03
ESME_RINVBNDSTS: Final = 0x04
ESME_RALYBND: Final = 0x05
ESME_RSYSERR: Final = 0x08
ESME_RINVDSTADR: Final = 0x0B
ESME_RBINDFAIL: Final = 0x0D
ESME_RINVPASWD: Final = 0x0E
ESME_RINVSYSID: Final = 0x0F
ESME_RMSGQFUL: Final = 0x14
ESME_RTHROTTLED: Final = 0x58

THROTTLE: Final = frozenset({ESME_RMSGQFUL, ESME_RTHROTTLED})
TRANSIENT: Final = frozenset(
    {
        ESME_RSYSERR,
        ESME_RINVBNDSTS,  # we were not (yet) bound as the SMSC saw it
        ESME_RBINDFAIL,
        0x45,  # RSUBMITFAIL: generic, operators use it for temporary trouble
        0x64,  # RX_T_APPN: ESME receiver temporary app error
        0xFE,  # RDELIVERYFAILURE (data_sm transaction mode)
        0xFF,  # RUNKNOWNERR
    }
)
"""Statuses worth another attempt; every other non-zero status is permanent."""


def name(status: int) -> str:
    """``ESME_RINVDSTADR`` for 0x0B; unknown and vendor codes as ``ESME_0x00000401``."""
    return NAMES.get(status, f"ESME_0x{status:08X}")


def verdict(status: int) -> Verdict:
    """What to do with a submit_sm_resp carrying ``status``."""
    if status == ESME_ROK:
        return "ok"
    if status in THROTTLE:
        return "throttle"
    if status in TRANSIENT or 0x400 <= status <= 0x4FF:
        return "transient"  # 0x400-0x4FF is reserved for SMSC vendors: give it the benefit
    return "permanent"
