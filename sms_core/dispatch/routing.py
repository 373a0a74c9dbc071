"""Which operator route carries a message, and where it goes when that route is down.

Pure: no I/O, no driver. The dispatcher asks :meth:`Router.plan` with a health predicate and
gets the routes to try in order. Two rules of RULES.md live here:

* marketing never goes over an ``alert`` route (000 §6.12);
* when the first choice is down, the next healthy route takes the message, and the customer is
  billed for the first choice's quality: a standard message that fails over to premium keeps
  ``billed_as="standard"`` (000 §8.5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sms_core.dispatch.types import OutboundSms

Quality = Literal["standard", "premium", "alert"]

PREFERENCE: Final[dict[str, tuple[str, ...]]] = {
    "marketing": ("standard", "premium"),
    "alert": ("alert", "premium", "standard"),
}
"""Route qualities a category may use, best first, when no explicit rule says otherwise."""


@dataclass(frozen=True)
class Route:
    """One operator connection and what it may carry.

    ``settings`` is the driver's settings object (``SmppSettings`` or ``HttpSettings``); the
    router never looks inside. Empty ``countries`` / ``operators`` / ``categories`` mean "any".
    """

    name: str
    settings: Any
    quality: Quality = "standard"
    countries: frozenset[str] = frozenset()
    operators: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def serves(self, sms: OutboundSms) -> bool:
        if self.quality == "alert" and sms.category == "marketing":
            return False
        return (
            _allows(self.countries, sms.country)
            and _allows(self.operators, sms.operator)
            and _allows(self.categories, sms.category)
        )


@dataclass(frozen=True)
class Rule:
    """Send matching messages over ``routes``, in that order; a ``None`` criterion matches all."""

    routes: tuple[str, ...]
    country: str | None = None
    operator: str | None = None
    category: str | None = None

    def matches(self, sms: OutboundSms) -> bool:
        return (
            (self.country is None or self.country == sms.country)
            and (self.operator is None or self.operator == sms.operator)
            and (self.category is None or self.category == sms.category)
        )


@dataclass(frozen=True)
class RouteChoice:
    """A route to try, and the quality the message is billed as whichever route carries it."""

    route: Route
    billed_as: str
    failover: bool


CANDIDATE_CACHE = 4096
"""(country, operator, category) combinations whose candidates a router remembers."""


class Router:
    """Rules first (the first matching rule wins), then every serving route by preference."""

    def __init__(self, routes: Sequence[Route], rules: Sequence[Rule] = ()) -> None:
        names = [r.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")
        self.routes: dict[str, Route] = {r.name: r for r in routes}
        for rule in rules:
            unknown = set(rule.routes) - set(self.routes)
            if unknown:
                raise ValueError(f"rule names unknown routes: {sorted(unknown)}")
        self.rules = tuple(rules)
        self._candidates: dict[tuple[str | None, str | None, str], tuple[Route, ...]] = {}

    def candidates(self, sms: OutboundSms) -> list[Route]:
        """Every route that may carry ``sms``, first choice first, health not considered.

        They depend on the country, operator and category alone, so they are worked out once
        per combination (a campaign asks the same question for every message).
        """
        key = (sms.country, sms.operator, sms.category)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= CANDIDATE_CACHE:
                self._candidates.clear()
            found = self._candidates[key] = tuple(self._find_candidates(sms))
        return list(found)

    def _find_candidates(self, sms: OutboundSms) -> list[Route]:
        for rule in self.rules:
            if rule.matches(sms):
                return [self.routes[n] for n in rule.routes if self.routes[n].serves(sms)]
        preference = PREFERENCE.get(sms.category, ("standard", "premium", "alert"))
        serving = [r for r in self.routes.values() if r.serves(sms) and r.quality in preference]
        return sorted(serving, key=lambda r: preference.index(r.quality))

    def plan(self, sms: OutboundSms, healthy: Callable[[str], bool]) -> list[RouteChoice]:
        """The healthy candidates to try in order; empty when none is up (or none serves)."""
        candidates = self.candidates(sms)
        if not candidates:
            return []
        billed_as = candidates[0].quality
        first = candidates[0].name
        return [
            RouteChoice(route, billed_as, failover=route.name != first)
            for route in candidates
            if healthy(route.name)
        ]


def health_summary(
    routes: Iterable[Route], health: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One JSON-ready row per route for the hub's route health API."""
    return [
        {
            "route": route.name,
            "quality": route.quality,
            "countries": sorted(route.countries),
            "operators": sorted(route.operators),
            "categories": sorted(route.categories),
            **dict(health.get(route.name, {"healthy": False})),
        }
        for route in routes
    ]


def _allows(allowed: frozenset[str], value: str | None) -> bool:
    return not allowed or value in allowed
