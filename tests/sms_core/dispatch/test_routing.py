"""Route choice and failover planning (pure)."""

from __future__ import annotations

import pytest

from sms_core.dispatch.routing import Route, Router, Rule, health_summary
from sms_core.dispatch.types import OutboundSms

STD = Route("std", None, "standard", countries=frozenset({"FR"}))
PREM = Route("prem", None, "premium", countries=frozenset({"FR", "BE"}))
ALERT = Route("alert", None, "alert")
ORANGE = Route("orange", None, "premium", operators=frozenset({"Orange"}))


def message(
    category: str = "alert", country: str | None = "FR", operator: str | None = None
) -> OutboundSms:
    return OutboundSms("m1", "+33612345678", "SHOP", [b"hi"], category=category,
                       country=country, operator=operator)  # fmt: skip


@pytest.mark.parametrize(
    ("category", "country", "expected"),
    [
        ("marketing", "FR", ["std", "prem"]),
        ("marketing", "BE", ["prem"]),
        ("alert", "FR", ["alert", "prem", "std"]),
        ("alert", "BE", ["alert", "prem"]),
        ("marketing", "DE", []),
    ],
)
def test_default_preference(category: str, country: str, expected: list[str]) -> None:
    router = Router([STD, PREM, ALERT])
    assert [r.name for r in router.candidates(message(category, country))] == expected


def test_marketing_never_rides_an_alert_route_even_by_rule() -> None:
    router = Router([STD, ALERT], [Rule(("alert", "std"))])
    assert [r.name for r in router.candidates(message("marketing"))] == ["std"]


def test_rules_by_operator_then_country_then_fallback() -> None:
    rules = [
        Rule(("orange", "prem"), operator="Orange"),
        Rule(("prem", "std"), country="FR", category="alert"),
    ]
    router = Router([STD, PREM, ALERT, ORANGE], rules)
    assert [r.name for r in router.candidates(message(operator="Orange"))] == ["orange", "prem"]
    assert [r.name for r in router.candidates(message())] == ["prem", "std"]
    assert [r.name for r in router.candidates(message("marketing"))] == ["std", "prem"]


def test_failover_keeps_the_price_of_the_first_choice() -> None:
    router = Router([STD, PREM])
    plan = router.plan(message("marketing"), healthy=lambda name: name != "std")
    assert [(c.route.name, c.billed_as, c.failover) for c in plan] == [("prem", "standard", True)]
    plan = router.plan(message("marketing"), healthy=lambda name: True)
    assert [(c.route.name, c.billed_as, c.failover) for c in plan] == [
        ("std", "standard", False),
        ("prem", "standard", True),
    ]
    assert router.plan(message("marketing"), healthy=lambda name: False) == []


def test_configuration_errors_are_caught_early() -> None:
    with pytest.raises(ValueError):
        Router([STD, STD])
    with pytest.raises(ValueError):
        Router([STD], [Rule(("nope",))])


def test_health_summary() -> None:
    rows = health_summary([STD, PREM], {"std": {"healthy": True, "rate": 5.0}})
    assert rows[0] == {
        "route": "std",
        "quality": "standard",
        "countries": ["FR"],
        "operators": [],
        "categories": [],
        "healthy": True,
        "rate": 5.0,
    }
    assert rows[1]["healthy"] is False
