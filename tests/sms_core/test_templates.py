"""sms_core.templates: rendering, filters, variables, previews, and the sandbox's limits."""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sms_core.errors import TemplateError
from sms_core.templates import (
    MAX_OUTPUT_CHARS,
    compile_template,
    preview,
    render,
    variables,
)

START = datetime(2025, 3, 3, 14, 30, tzinfo=ZoneInfo("Europe/Paris"))


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("Bonjour {{ name }}", {"name": "Ana"}, "Bonjour Ana"),
        ("{{ start | date }}", {"start": START}, "lundi 3 mars 2025"),
        ("{{ start | date('fr') }}", {"start": START}, "lundi 3 mars 2025"),
        ("{{ start | date('fr', 'short') }}", {"start": START}, "03/03/2025"),
        ("{{ start | date('fr', 'd MMMM') }}", {"start": START}, "3 mars"),
        ("{{ start | date('en') }}", {"start": START}, "Monday, March 3, 2025"),
        ("{{ start | time }}", {"start": START}, "14:30"),
        ("{{ start | time('fr') }}", {"start": START}, "14:30"),
        ("{{ start | time('en') }}", {"start": START}, "2:30 PM"),  # U+202F made a plain space
        ("{{ start | datetime }}", {"start": START}, "lundi 3 mars 2025, 14:30"),
        ("{{ start | datetime('fr', 'short') }}", {"start": START}, "03/03/2025 14:30"),
        ("{{ start | time }}", {"start": "2025-03-03T13:30:00Z"}, "14:30"),  # ISO, UTC
        ("{{ start | time }}", {"start": "2025-03-03T14:30:00"}, "14:30"),  # naive ISO: Paris
        ("{{ start | time }}", {"start": datetime(2025, 3, 3, 14, 30)}, "14:30"),  # naive
        ("{{ start | time }}", {"start": datetime(2025, 7, 1, 12, 0, tzinfo=UTC)}, "14:00"),
        ("{{ day | date }}", {"day": date(2025, 7, 14)}, "lundi 14 juillet 2025"),
        ("{{ to | phone }}", {"to": "+33612345678"}, "06 12 34 56 78"),
        ("{{ to | phone('international') }}", {"to": "0612345678"}, "+33 6 12 34 56 78"),
        ("{{ total | money }}", {"total": Decimal("1234.5")}, "1 234,50 €"),
        ("{{ total | money('USD', 'en') }}", {"total": "12"}, "$12.00"),
        ("{{ name | upper }}", {"name": "Ana"}, "ANA"),
        ("{{ nick | default('client') }}", {}, "client"),
        ("{{ items | join(', ') }}", {"items": ["a", "b"]}, "a, b"),
        ("{{ items | join(', ', attribute='n') }}", {"items": [{"n": 1}, {"n": 2}]}, "1, 2"),
        ("{{ range(3) | map('string') | join }}", {}, "012"),
        ("{% for i in items %}{{ loop.index }}{% endfor %}", {"items": "abc"}, "123"),
        ("{{ name.strip().title() }}", {"name": "  ana  "}, "Ana"),
        ("{{ 'a' ~ name ~ 'b' }}", {"name": "-"}, "a-b"),
        ("{{ '%s €' % price }}", {"price": 5}, "5 €"),
        ("{{ c.prenom }} {{ c['nom'] }}", {"c": {"prenom": "Ana", "nom": "Lo"}}, "Ana Lo"),
        ("Ligne 1\n", {}, "Ligne 1\n"),
    ],
)
def test_render(template: str, values: dict[str, Any], expected: str) -> None:
    assert render(template, values) == expected


def test_locale_and_zone_of_the_render() -> None:
    values = {"start": datetime(2025, 3, 3, 10, 0, tzinfo=UTC)}
    assert render("{{ start | time }}", values, tz="Indian/Reunion") == "14:00"
    assert render("{{ start | date }}", values, locale="de") == "Montag, 3. März 2025"
    # the same values rendered for another zone are not served from the other zone's cache
    assert render("{{ start | time }}", values, tz="America/Martinique") == "06:00"


def test_dst_is_applied_per_instant() -> None:
    values = {"a": "2025-03-30T00:30:00Z", "b": "2025-03-30T01:30:00Z"}
    assert render("{{ a | time }} {{ b | time }}", values) == "01:30 03:30"


@pytest.mark.parametrize(
    ("template", "values", "code"),
    [
        ("Bonjour {{ name }}", {}, "undefined_variable"),
        ("{{ c.missing }}", {"c": {}}, "undefined_variable"),
        ("{% for x in items %}{{ x }}", {}, "template_syntax"),
        ("{{ name | nosuchfilter }}", {"name": "a"}, "template_syntax"),
        ("{{ }", {}, "template_syntax"),
        ("{{ start | date }}", {"start": "demain"}, "invalid_value"),
        ("{{ start | date }}", {"start": 42}, "invalid_value"),
        ("{{ start | date('xx_YY') }}", {"start": START}, "invalid_value"),
        ("{{ total | money }}", {"total": "cher"}, "invalid_value"),
        ("{{ to | phone('fancy') }}", {"to": "+33612345678"}, "invalid_value"),
        ("{{ 1 / 0 }}", {}, "template_render"),
        ("{{ x * 2 }}" * 1000 + "x" * 6000, {}, "template_too_long"),
    ],
)
def test_errors_have_codes(template: str, values: dict[str, Any], code: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, values)
    assert info.value.code == code


def test_a_template_must_be_text() -> None:
    with pytest.raises(TemplateError) as info:
        render(["{{ a }}"])  # type: ignore[arg-type]
    assert info.value.code == "template_syntax"


def test_syntax_error_reports_the_line() -> None:
    with pytest.raises(TemplateError) as info:
        render("ok\n{% if %}")
    assert info.value.details["line"] == 2


def test_unknown_render_zone_is_refused() -> None:
    with pytest.raises(TemplateError) as info:
        render("x", tz="Mars/Olympus")
    assert info.value.code == "invalid_value"


SANDBOX_ATTACKS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__['os'] }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ x.__dict__ }}",
    "{{ x['__class__'] }}",
    "{{ 'abc' | attr('__class__') }}",
    "{{ dict.mro() }}",
    "{{ x.strftime('%Y') }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ ''.ljust(1000000000) }}",
    "{{ 'x'.zfill(1000000000) }}",
    "{{ range(10**9) | list }}",
    "{{ range(100000) | list | length }}",
    "{{ 'x' * 1000000000 }}",
    "{{ [1] * 100000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ 99999999999999999999 * 99999999999999999999 * 99999999999999999999 "
    "* 99999999999999999999 * 99999999999999999999 }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%.999999f' % 1 }}",
    "{% set s = 'xxxxxxxxxx' %}" + "{% set s = s ~ s %}" * 40 + "{{ s | length }}",
    "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s | length }}",
    "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
    "{% for a in t %}{% for b in t %}{% for c in t %}{% endfor %}{% endfor %}{% endfor %}",
    "{{ 'x' | replace('', 'y' * 9999) }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% include 'other' %}",
    "{% import 'other' as o %}",
    "{% extends 'base' %}",
    "{% for x in [1, 2] recursive %}{{ loop([x]) }}{% endfor %}",
    "{% call cycler() %}{% endcall %}",
    "{{ (['x' * 9999] * 10000) | string }}",
    "{{ (['x' * 9999] * 10000) }}",
    "{% set l = ['x' * 9999] %}{% set l = l + l %}{{ l }}",
    "{{ big_list | join }}",
    "{{ big_list | join(',') }}",
    "{{ items | join('y' * 9999) }}",
    "{% set s %}xxxxxxxxxx{% endset %}" + "{% set s %}{{ s }}{{ s }}{% endset %}" * 40,
    "{% filter upper %}{% for i in range(9000) %}{{ big }}{% endfor %}{% endfilter %}",
]


@pytest.mark.parametrize("template", SANDBOX_ATTACKS)
def test_sandbox_attacks_are_refused_quickly(template: str) -> None:
    started = clock.perf_counter()
    with pytest.raises(TemplateError) as info:
        values = {"x": START, "t": "x" * 100, "big": "x" * 9000, "items": list(range(100))}
        render(template, values | {"big_list": ["x" * 9000] * 10})
    assert info.value.code == "template_security", info.value.message
    assert clock.perf_counter() - started < 1.0


@pytest.mark.parametrize("name", ["lipsum", "config", "request", "os", "self.__init__"])
def test_dangerous_globals_are_absent(name: str) -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ " + name + " }}")
    assert info.value.code in {"undefined_variable", "template_security"}


def test_output_is_bounded() -> None:
    big = "x" * 9000
    assert render("{{ a }}", {"a": big}) == big
    with pytest.raises(TemplateError) as info:
        render("{{ a }}{{ a }}", {"a": big})
    assert info.value.code == "template_too_long"
    with pytest.raises(TemplateError):
        render("{% for i in range(3) %}{{ a }}{% endfor %}", {"a": "y" * (MAX_OUTPUT_CHARS // 2)})


def test_the_loop_budget_is_per_render() -> None:
    template = "{% for i in range(6000) %}{% endfor %}ok"
    assert render(template) == "ok"
    assert render(template) == "ok"


def test_lists_and_dicts_cannot_be_mutated() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ items.append(1) }}", {"items": []})
    assert info.value.code == "template_security"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Bonjour {{ name }}", {"name"}),
        ("{{ start | date }} {{ c.prenom }} {{ c['nom'] }}", {"start", "c"}),
        ("{% for x in items %}{{ x }}{{ sep }}{% endfor %}", {"items", "sep"}),
        ("{% set n = 1 %}{{ n }}{{ range(2) | list }}", set()),
        ("Texte fixe", set()),
    ],
)
def test_variables(template: str, expected: set[str]) -> None:
    assert variables(template) == expected


def test_variables_reports_syntax_errors() -> None:
    with pytest.raises(TemplateError) as info:
        variables("{{ a")
    assert info.value.code == "template_syntax"


def test_preview_fills_every_variable() -> None:
    template = (
        "Bonjour {{ client.prenom }}, RDV le {{ start | date }} à {{ start | time }}"
        " ({{ to | phone }})"
    )
    assert preview(template) == ("Bonjour [client.prenom], RDV le lundi 3 mars 2025 à 14:30 ([to])")
    assert preview(template, {"to": "+33612345678", "client": {"prenom": "Ana"}}) == (
        "Bonjour Ana, RDV le lundi 3 mars 2025 à 14:30 (06 12 34 56 78)"
    )


def test_preview_does_not_hide_real_errors() -> None:
    with pytest.raises(TemplateError) as info:
        preview("{{ a.__class__ }}")
    assert info.value.code == "template_security"


def test_compiled_templates_are_cached() -> None:
    source = "Cache {{ a }}"
    assert compile_template(source) is compile_template(source)


def test_rendering_the_same_template_many_times_is_fast() -> None:
    template = "Bonjour {{ name }}, RDV le {{ start | date }} à {{ start | time }}. STOP au 36180"
    values = {"name": "Ana", "start": START}
    started = clock.perf_counter()
    for _ in range(10_000):
        render(template, values)
    assert clock.perf_counter() - started < 5.0  # about 30 µs each on a laptop
