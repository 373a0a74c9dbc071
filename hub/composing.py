"""The text of a message: render the template, add the STOP mention, analyse encoding and parts.

A campaign sends one text (or one template) to many numbers, so every step is cached per
distinct input for the life of one submit call: 100,000 recipients of the same text cost one
analysis, not 100,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sms_core import compliance, encoding, templates
from sms_core.encoding import Analysis
from sms_core.errors import ComplianceError, TemplateError

LOW_COST_ROUTE = "standard"
"""The route quality that is GSM-7 only and refuses ``€`` (RULES.md, 000 §27.2)."""


@dataclass(frozen=True, slots=True)
class TextPolicy:
    """What an account decided about its texts (``Account.settings``)."""

    transliterate: bool = False
    max_parts: int = 3
    route: str = "premium"
    stop_wording: str = compliance.SHORT_CODE_WORDING
    denied_domains: frozenset[str] = frozenset()
    """Domains no link of a text may point to (the hub's list and the account's)."""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], default_max_parts: int,
                      denied_domains: Iterable[str] = ()) -> TextPolicy:  # fmt: skip
        wording = settings.get("stop_wording") or compliance.SHORT_CODE_WORDING
        return cls(
            transliterate=bool(settings.get("transliterate", False)),
            max_parts=int(settings.get("max_parts") or default_max_parts),
            route=str(settings.get("route") or "premium"),
            stop_wording=str(wording),
            denied_domains=frozenset([*denied_domains, *(settings.get("denied_domains") or ())]),
        )


@dataclass
class Composer:
    """Per-call caches of rendered texts and analyses."""

    policy: TextPolicy
    _analyses: dict[tuple[str, str, bool], Analysis] = field(default_factory=dict)
    _stops: dict[str, str] = field(default_factory=dict)
    _denied: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _renders: dict[tuple[str, int], tuple[Mapping[str, Any], str]] = field(default_factory=dict)

    def text_of(self, text: str | None, template: str | None,
                variables: Mapping[str, Any]) -> str:
        """The text asked for: ``text`` as is, or ``template`` rendered with ``variables``.

        A campaign's requests share one ``variables`` object: it is rendered once. The cache
        keeps that object, so its id cannot be reused by another while it is cached.
        """
        if text is not None:
            return text
        if template is None:
            raise TemplateError("a message needs a text or a template", code="text_missing")
        key = (template, id(variables))
        found = self._renders.get(key)
        if found is not None and found[0] is variables:
            return found[1]
        text = templates.render(template, dict(variables))
        self._renders[key] = (variables, text)
        return text

    def compose(self, text: str, category: str, transliterate: bool | None) -> Analysis:
        """The analysis of what will really be sent (STOP mention included for marketing).

        Raises ``EncodingError`` (``too_long``, ``unsupported_character``),
        ``TemplateError`` ``text_empty`` or ``ComplianceError`` ``url_denied`` (a link to a
        denied domain: anti-smishing).
        """
        if not text.strip():
            raise TemplateError("the message text is empty", code="text_empty")
        if self.policy.denied_domains:
            self._check_links(text)
        if category == "marketing":
            text = self._with_stop(text)
        translit = self.policy.transliterate if transliterate is None else transliterate
        key = (text, category, translit)
        found = self._analyses.get(key)
        if found is None:
            found = self._analyse(text, translit)
            self._analyses[key] = found
        return found

    def _check_links(self, text: str) -> None:
        denied = self._denied.get(text)
        if denied is None:
            denied = self._denied[text] = tuple(
                compliance.find_denied_urls(text, self.policy.denied_domains))
        if denied:
            raise ComplianceError(f"the text links to a denied domain: {', '.join(denied)}",
                                  code="url_denied", links=list(denied))

    def _with_stop(self, text: str) -> str:
        found = self._stops.get(text)
        if found is None:
            found, _added = compliance.ensure_stop_mention(text, self.policy.stop_wording)
            self._stops[text] = found
        return found

    def _analyse(self, text: str, translit: bool) -> Analysis:
        low_cost = self.policy.route == LOW_COST_ROUTE
        return encoding.analyze(
            text,
            transliterate=translit,
            max_parts=self.policy.max_parts,
            gsm_only=low_cost,
            forbidden=encoding.LOW_COST_FORBIDDEN if low_cost else (),
        )
