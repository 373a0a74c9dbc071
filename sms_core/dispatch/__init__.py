"""Operator drivers (SMPP, HTTP) behind one protocol, and the local SMSC simulator.

The only I/O in ``sms_core``. What the hub uses::

    from sms_core.dispatch import Dispatcher, Route, Rule, SmppSettings, HttpSettings

    routes = [
        Route("std", SmppSettings("127.0.0.1", 2775, "smshub", "secret", window=10, rate=5.5,
                                  submit_id_format="hex", receipt_id_format="dec"),
              quality="standard", countries=frozenset({"FR"})),
        Route("prem", HttpSettings("https://api.example/sms", headers={"Authorization": "..."}),
              quality="premium"),
    ]
    dispatcher = Dispatcher(routes, on_report=record_report, on_inbound=handle_reply)
    await dispatcher.start()
    outcomes = await dispatcher.submit_batch(messages)   # list[OutboundSms] -> list[SubmitOutcome]
    dispatcher.health()                                   # rows for the route health API
    await dispatcher.stop()

* :class:`OutboundSms` carries the parts ``sms_core.encoding.encode_parts`` produced; drivers
  never re-split them.
* :class:`SubmitOutcome` per message: ``ok``, canonical ``operator_ids`` (one per part),
  ``error_code`` / ``permanent``, ``route`` and ``billed_as`` (the price quality).
* ``on_report(DeliveryReport)`` and ``on_inbound(InboundSms)`` run on the dispatcher's loop;
  they may be plain functions or coroutine functions. Match reports on
  ``(report.route, report.operator_id)`` against ``(outcome.route, id in outcome.operator_ids)``.
* At-least-once: see :mod:`sms_core.dispatch.engine`.
* The simulator for ``smshub run``: ``SimulatorThread(SimSettings(port=2775)).start()``, and
  :func:`sim_route_settings` gives the matching driver settings.
"""

from sms_core.dispatch.engine import Dispatcher, make_driver
from sms_core.dispatch.http import HttpDriver, HttpSettings
from sms_core.dispatch.protocol import Driver
from sms_core.dispatch.receipts import normalize_operator_id
from sms_core.dispatch.routing import Route, RouteChoice, Router, Rule
from sms_core.dispatch.sim import Faults, SimSettings, SimulatorThread, SmscSimulator
from sms_core.dispatch.smpp import SmppDriver, SmppSettings
from sms_core.dispatch.types import DeliveryReport, InboundSms, OutboundSms, SubmitOutcome


def sim_route_settings(sim: SimSettings, **overrides: object) -> SmppSettings:
    """Driver settings for a route to the local simulator (its ids: hex in submit_sm_resp,
    decimal in the receipt text)."""
    fields: dict[str, object] = {
        "host": sim.host,
        "port": sim.port,
        "system_id": sim.system_id,
        "password": sim.password,
        "submit_id_format": "hex",
        "receipt_id_format": "dec",
        **overrides,
    }
    return SmppSettings(**fields)  # type: ignore[arg-type]


__all__ = [
    "DeliveryReport",
    "Dispatcher",
    "Driver",
    "Faults",
    "HttpDriver",
    "HttpSettings",
    "InboundSms",
    "OutboundSms",
    "Route",
    "RouteChoice",
    "Router",
    "Rule",
    "SimSettings",
    "SimulatorThread",
    "SmppDriver",
    "SmppSettings",
    "SmscSimulator",
    "SubmitOutcome",
    "make_driver",
    "normalize_operator_id",
    "sim_route_settings",
]
