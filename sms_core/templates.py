"""SMS templates: sandboxed Jinja rendering, variable listing, previews, locale-aware filters.

Templates are written by customers, so they are untrusted code. They run in Jinja's
``ImmutableSandboxedEnvironment`` (no private attributes, no mutation of lists and dicts) with
``StrictUndefined`` (a missing variable is an error, never an empty hole in an SMS) and no
autoescape (SMS is plain text). :mod:`sms_core.template_sandbox` adds the limits that keep a
template from denying service (loop budget, bounded strings and integers, allow-listed filters
and string methods, no macros, includes or recursion); :mod:`sms_core.template_filters` holds
the date, time, phone and money filters. This module compiles (with a cache), renders, lists
variables, previews, and cuts the output off at :data:`MAX_OUTPUT_CHARS`.

Every failure becomes :class:`sms_core.errors.TemplateError` with one of these codes:
``template_syntax``, ``undefined_variable``, ``template_security``, ``template_too_long``,
``invalid_value`` (a filter got something it cannot format) or ``template_render`` (any other
runtime error, such as a division by zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError

from sms_core.errors import TemplateError
from sms_core.template_filters import (
    CUSTOM_FILTERS,
    SAMPLE_DATETIME,
    Placeholder,
    check_settings,
    filter_date,
    filter_datetime,
    filter_money,
    filter_phone,
    filter_time,
)
from sms_core.template_sandbox import (
    DEFAULT_LOCALE,
    DEFAULT_TZ,
    MAX_INT_BITS,
    MAX_LOOP_ITERATIONS,
    MAX_OUTPUT_CHARS,
    MAX_TEMPLATE_CHARS,
    RENDER_STATE,
    RenderState,
    build_environment,
    instrument,
    vet,
)

__all__ = [
    "CACHE_SIZE",
    "CUSTOM_FILTERS",
    "DEFAULT_LOCALE",
    "DEFAULT_TZ",
    "MAX_INT_BITS",
    "MAX_LOOP_ITERATIONS",
    "MAX_OUTPUT_CHARS",
    "MAX_TEMPLATE_CHARS",
    "SAMPLE_DATETIME",
    "Placeholder",
    "compile_template",
    "filter_date",
    "filter_datetime",
    "filter_money",
    "filter_phone",
    "filter_time",
    "preview",
    "render",
    "variables",
]

CACHE_SIZE = 1024
"""Compiled templates kept in the LRU cache."""

_ENV = build_environment(CUSTOM_FILTERS)


def _parse(source: str) -> nodes.Template:
    """Parse and vet a template: size, syntax, forbidden constructs."""
    _require_text(source)
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"templates are limited to {MAX_TEMPLATE_CHARS} characters", code="template_too_long"
        )
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None
    vet(tree)
    return tree


def _syntax_error(exc: TemplateSyntaxError) -> TemplateError:
    return TemplateError(
        f"template syntax error line {exc.lineno}: {exc.message}",
        code="template_syntax",
        line=exc.lineno,
    )


def compile_template(source: str) -> Template:
    """The compiled, instrumented template for ``source`` (cached: rendering is hot)."""
    _require_text(source)
    return _compile(source)


def _require_text(source: object) -> None:
    """Refuse a non-string template before the cache sees it (a list is not even hashable)."""
    if not isinstance(source, str):
        raise TemplateError("a template must be text", code="template_syntax")


@lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str) -> Template:
    tree = instrument(_parse(source))
    try:
        code = _ENV.compile(tree)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None
    # a plain dict (not the ChainMap make_globals returns) keeps new_context cheap
    return _ENV.template_class.from_code(_ENV, code, dict(_ENV.make_globals(None)), None)


def variables(template: str) -> set[str]:
    """The names a template reads from its variables (globals such as ``range`` excluded)."""
    return set(meta.find_undeclared_variables(_parse(template))) - set(_ENV.globals)


def render(
    template: str,
    variables: Mapping[str, Any] | None = None,
    *,
    locale: str = DEFAULT_LOCALE,
    tz: str = DEFAULT_TZ,
) -> str:
    """Render ``template`` with ``variables``; dates are shown in ``locale`` and zone ``tz``.

    Raises ``TemplateError`` (see the module docstring for the codes), never anything else.
    """
    return _render(template, variables or {}, RenderState(locale=locale, tz=tz))


def _render(template: str, values: Mapping[str, Any], state: RenderState) -> str:
    compiled = compile_template(template)
    check_settings(state.locale, state.tz)
    token = RENDER_STATE.set(state)
    try:
        return _collect(compiled.generate(dict(values)))
    except TemplateError:
        raise
    except SecurityError as exc:
        raise TemplateError(f"template refused: {exc}", code="template_security") from None
    except UndefinedError as exc:
        raise TemplateError(str(exc.message), code="undefined_variable") from None
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise TemplateError(f"template refused: {exc!r}", code="template_security") from None
    except Exception as exc:
        raise TemplateError(f"template error: {exc}", code="template_render") from None
    finally:
        RENDER_STATE.reset(token)


def _collect(chunks: Iterable[str]) -> str:
    """Join rendered chunks, stopping as soon as the output is too long."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateError(
                f"rendered text exceeds {MAX_OUTPUT_CHARS} characters", code="template_too_long"
            )
        out.append(chunk)
    return "".join(out)


def preview(
    template: str,
    sample: Mapping[str, Any] | None = None,
    *,
    locale: str = DEFAULT_LOCALE,
    tz: str = DEFAULT_TZ,
) -> str:
    """Render with a value for every variable so a template can be shown before use.

    Values in ``sample`` are used as given; every other variable becomes a :class:`Placeholder`
    printed as ``[name]`` (``[customer.firstname]`` for attributes), which date filters show as
    :data:`SAMPLE_DATETIME`.
    """
    values: dict[str, Any] = {name: Placeholder(f"[{name}]") for name in variables(template)}
    values.update(sample or {})
    return _render(template, values, RenderState(locale=locale, tz=tz, preview=True))
