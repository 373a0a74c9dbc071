"""SMS templates: sandboxed Jinja rendering, variable listing, previews, locale-aware filters.

Templates are written by customers, so they are untrusted code. They run in Jinja's
``ImmutableSandboxedEnvironment`` (no private attributes, no mutation of lists and dicts) with
``StrictUndefined`` (a missing variable is an error, never an empty hole in an SMS) and no
autoescape (SMS is plain text). On top of Jinja's sandbox, this module closes the doors that
stay open to denial of service:

* the compiled template is rewritten so that every ``{% for %}`` draws from a per-render budget of
  :data:`MAX_LOOP_ITERATIONS` and every ``~`` concatenation is length-checked;
* ``*``, ``**``, ``+`` and ``%`` are intercepted: no ``"x" * 10**9``, no ``9 ** 9 ** 9``;
* ``range`` is capped, ``lipsum`` removed, filters are an allow-list (no ``center``, ``indent``,
  ``wordwrap``, ``batch``… whose width arguments allocate at will), string methods are an
  allow-list (no ``ljust``, ``zfill``, ``format``), ``strftime`` is refused;
* macros, ``include``, ``import``, ``extends``, recursive loops and block ``set``/``filter``
  are refused: an SMS template needs none of them, and they are the way to unbounded recursion
  or to buffers that double at every statement;
* the output is cut off at :data:`MAX_OUTPUT_CHARS`.

Every failure becomes :class:`sms_core.errors.TemplateError` with one of these codes:
``template_syntax``, ``undefined_variable``, ``template_security``, ``template_too_long``,
``invalid_value`` (a filter got something it cannot format) or ``template_render`` (any other
runtime error, such as a division by zero).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import (
    Environment,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    meta,
    nodes,
    pass_environment,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from sms_core.errors import TemplateError
from sms_core.phone import format_number

MAX_TEMPLATE_CHARS = 10_000
"""Longest template source accepted."""

MAX_OUTPUT_CHARS = 10_000
"""Longest rendered text (and longest intermediate string); an SMS is capped far below."""

MAX_LOOP_ITERATIONS = 10_000
"""Loop iterations per render, all loops together."""

MAX_INT_BITS = 256
"""Largest integer arithmetic may produce (about 77 decimal digits)."""

CACHE_SIZE = 1024
"""Compiled templates kept in the LRU cache."""

DEFAULT_LOCALE = "fr"
DEFAULT_TZ = "Europe/Paris"

SAMPLE_DATETIME = datetime(2025, 3, 3, 14, 30, tzinfo=ZoneInfo(DEFAULT_TZ))
"""The instant that date filters show in previews: Monday 3 March 2025, 14:30."""

_ALLOWED_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "first", "float", "int",
        "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
        "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort", "string",
        "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "urlencode",
        "wordcount", "attr",
    }
)  # fmt: skip

_ALLOWED_STR_METHODS = frozenset(
    {
        "upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip", "startswith",
        "endswith", "split", "rsplit", "splitlines", "count", "find", "isdigit", "isalpha",
        "isalnum", "isupper", "islower", "isspace", "removeprefix", "removesuffix",
    }
)  # fmt: skip

_DENIED_ATTRIBUTES = frozenset({"format", "format_map", "strftime", "mro"})
_FORBIDDEN_NODES = (
    nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends,
    nodes.AssignBlock, nodes.FilterBlock,
)  # fmt: skip
"""Constructs SMS templates do without: loaders, recursion, and blocks whose buffered body
(``{% set s %}{{ s }}{{ s }}{% endset %}``) would grow out of the length checks' sight."""
_WIDE_PERCENT_FORMAT = re.compile(r"%[-+ #0]*(?:\*|\d{3,})|%[-+ #0]*\d*\.(?:\*|\d{3,})")
_SMS_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})


@dataclass(slots=True)
class _RenderState:
    """Per-render settings and budget, reachable from filters without global state."""

    locale: str = DEFAULT_LOCALE
    tz: str = DEFAULT_TZ
    loops_left: int = MAX_LOOP_ITERATIONS
    preview: bool = False


_STATE: contextvars.ContextVar[_RenderState] = contextvars.ContextVar("sms_template_state")


def _state() -> _RenderState:
    return _STATE.get(None) or _RenderState()


class Placeholder(str):
    """A stand-in value in previews: prints as ``[name]``, and ``.attr`` gives ``[name.attr]``."""

    __slots__ = ()

    def __getattr__(self, attr: str) -> Placeholder:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return Placeholder(f"{self[:-1]}.{attr}]")


# --- guards --------------------------------------------------------------------------------


def _weight(value: Any) -> int:
    """Rough size of a value once printed: characters of strings, summed through lists."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(_weight(item) for item in value)
    return 1


def _check_size(value: Any) -> Any:
    """Refuse strings, lists and integers past the limits."""
    if isinstance(value, str | list | tuple) and _weight(value) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"a value of {_weight(value)} characters exceeds {MAX_OUTPUT_CHARS}")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError(f"integers are limited to {MAX_INT_BITS} bits")
    return value


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation *before* it allocates too much."""
    if operator == "*":
        _check_product(left, right)
    elif operator == "**" and isinstance(left, int) and isinstance(right, int):
        if abs(left) > 1 and (abs(left).bit_length() - 1) * right > MAX_INT_BITS:
            raise SecurityError(f"integers are limited to {MAX_INT_BITS} bits")
    elif operator == "%" and isinstance(left, str) and _WIDE_PERCENT_FORMAT.search(left):
        raise SecurityError("%-format widths and precisions are limited to two digits")


def _check_product(left: Any, right: Any) -> None:
    """``"x" * n``, ``[x] * n`` and ``int * int`` within the limits."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS + 1:
            raise SecurityError(f"integers are limited to {MAX_INT_BITS} bits")
        return
    for seq, times in ((left, right), (right, left)):
        sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
        if sized and max(len(seq), _weight(seq)) * times > MAX_OUTPUT_CHARS:
            raise SecurityError("repetition too large")


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_LOOP_ITERATIONS:
        raise SecurityError(f"range() is limited to {MAX_LOOP_ITERATIONS} items")
    return numbers


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield from a loop's iterable, spending the render's iteration budget."""
    state = _state()
    for item in iterable:
        state.loops_left -= 1
        if state.loops_left < 0:
            raise SecurityError(f"loops are limited to {MAX_LOOP_ITERATIONS} iterations")
        yield item


def _bounded_concat(*parts: Any) -> str:
    """The ``~`` operator, length-checked (``{% set s = s ~ s %}`` repeated would explode)."""
    return _check_size("".join(str(part) for part in parts))


def _guarded_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """A built-in filter whose string or list result is length-checked."""

    @wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return _check_size(func(*args, **kwargs))

    return guarded


def _safe_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    """``replace`` that computes the result length before building it."""
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if count is None else min(max(count, 0), text.count(old))
    if len(text) + hits * (len(new) - len(old)) > MAX_OUTPUT_CHARS:
        raise SecurityError("replace() result too large")
    return text.replace(old, new, -1 if count is None else count)


@pass_environment
def _safe_join(
    env: Environment, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    """``join`` that measures the parts before gluing them."""
    if attribute is not None:
        value = map(make_attrgetter(env, attribute), value)
    parts = [str(item) for item in value]
    if sum(map(len, parts)) + len(str(d)) * max(len(parts) - 1, 0) > MAX_OUTPUT_CHARS:
        raise SecurityError("join() result too large")
    return str(d).join(parts)


_SAFER_FILTERS: Mapping[str, Callable[..., Any]] = {"replace": _safe_replace, "join": _safe_join}


class _SmsSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with the resource limits described in the module docstring."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _check_size(super().call_binop(context, operator, left, right))

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _DENIED_ATTRIBUTES:
            return False
        if isinstance(obj, str) and callable(value) and attr not in _ALLOWED_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Private names are refused even when the object lacks them (a clear error code)."""
        if attribute.startswith("_") and not isinstance(obj, Undefined):
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_") and not isinstance(obj, dict):
            return self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> None:
        """``str.format`` is refused outright (``{:>999999999}``), not sandbox-wrapped."""
        return None


# --- filters -------------------------------------------------------------------------------


def _locale(name: str | None) -> Locale:
    """The Babel locale named by a filter argument, or the render's locale."""
    return _parse_locale(name or _state().locale)


@lru_cache(maxsize=64)
def _parse_locale(name: str) -> Locale:
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise TemplateError(f"unknown locale {name!r}", code="invalid_value") from exc


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TemplateError(f"unknown time zone {name!r}", code="invalid_value") from exc


def _to_datetime(value: Any) -> datetime:
    """An aware datetime in the render's zone from a datetime, a date or an ISO 8601 string.

    Naive values are taken to be wall-clock time in the render's zone.
    """
    state = _state()
    zone = _zone(state.tz)
    if isinstance(value, Placeholder) and state.preview:
        value = SAMPLE_DATETIME
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise TemplateError(f"{value!r} is not an ISO 8601 date", code="invalid_value") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if not isinstance(value, datetime):
        raise TemplateError(f"{value!r} is not a date or time", code="invalid_value")
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)


def _sms_text(text: str) -> str:
    """Babel output with its no-break spaces made plain: U+202F alone would force UCS-2."""
    return text.translate(_SMS_SPACES)


def filter_date(value: Any, locale: str | None = None, format: str = "full") -> str:
    """``{{ start | date }}`` → ``lundi 3 mars 2025``; format: full/long/medium/short or a
    CLDR pattern such as ``'d MMMM'``."""
    return _format_instant("date", value, locale, format)


def filter_time(value: Any, locale: str | None = None, format: str = "short") -> str:
    """``{{ start | time }}`` → ``14:30`` in the recipient's zone."""
    return _format_instant("time", value, locale, format)


def filter_datetime(value: Any, locale: str | None = None, format: str | None = None) -> str:
    """``{{ start | datetime }}`` → ``lundi 3 mars 2025, 14:30`` (full date, short time, joined
    the locale's way); ``format`` gives a named Babel format or a pattern instead."""
    return _format_instant("datetime", value, locale, format)


def _format_instant(kind: str, value: Any, locale: str | None, format: str | None) -> str:
    state = _state()
    if isinstance(value, datetime | date | str):
        return _format_cached(kind, value, state.tz, locale or state.locale, format, state.preview)
    return _format_uncached(kind, value, locale, format)


@lru_cache(maxsize=4096)
def _format_cached(
    kind: str, value: Any, tz: str, locale: str, format: str | None, preview: bool
) -> str:
    """Cache in front of Babel: a batch of reminders repeats the same few instants.

    The key holds everything the text depends on: the value (naive and aware datetimes never
    compare equal), the render's zone and locale, the format and the preview flag.
    """
    return _format_uncached(kind, value, locale, format)


def _format_uncached(kind: str, value: Any, locale: str | None, format: str | None) -> str:
    when = _to_datetime(value)
    loc = str(_locale(locale))
    try:
        return _babel_format(kind, when, when.tzinfo, format, loc)
    except (ValueError, KeyError) as exc:
        raise TemplateError(f"bad {kind} format {format!r}: {exc}", code="invalid_value") from exc


def _babel_format(
    kind: str, when: datetime, zone: tzinfo | None, format: str | None, locale: str
) -> str:
    if kind == "date":
        text = babel_dates.format_date(when.date(), format or "full", locale=locale)
    elif kind == "time":
        text = babel_dates.format_time(when, format or "short", tzinfo=zone, locale=locale)
    elif format is not None:
        text = babel_dates.format_datetime(when, format, tzinfo=zone, locale=locale)
    else:
        day = babel_dates.format_date(when.date(), "full", locale=locale)
        clock = babel_dates.format_time(when, "short", tzinfo=zone, locale=locale)
        text = str(babel_dates.get_datetime_format("full", locale=locale)).format(clock, day)
    return _sms_text(text)


def filter_phone(value: Any, style: str = "national") -> str:
    """``{{ to | phone }}`` → ``06 12 34 56 78``; ``'international'`` or ``'e164'`` also."""
    try:
        return format_number(str(value), style)
    except ValueError as exc:
        raise TemplateError(str(exc), code="invalid_value") from exc


def filter_money(value: Any, currency: str = "EUR", locale: str | None = None) -> str:
    """``{{ total | money }}`` → ``1 234,56 €`` (plain spaces, see :func:`_sms_text`)."""
    try:
        amount = Decimal(str(value))
        text = babel_numbers.format_currency(amount, currency, locale=_locale(locale))
    except (InvalidOperation, ValueError) as exc:
        raise TemplateError(f"{value!r} is not an amount", code="invalid_value") from exc
    return _sms_text(text)


CUSTOM_FILTERS: Mapping[str, Callable[..., str]] = {
    "date": filter_date,
    "time": filter_time,
    "datetime": filter_datetime,
    "phone": filter_phone,
    "money": filter_money,
}
"""Filters added to Jinja's allow-listed built-ins."""


# --- environment, compilation, rendering ---------------------------------------------------


def _build_environment() -> _SmsSandbox:
    env = _SmsSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = {
        name: _SAFER_FILTERS.get(name) or _guarded_filter(env.filters[name])
        for name in _ALLOWED_FILTERS
    }
    env.filters.update(CUSTOM_FILTERS)
    env.globals.pop("lipsum", None)
    env.globals["range"] = _bounded_range
    env.loop_guard = _loop_guard  # type: ignore[attr-defined]
    env.bounded_concat = _bounded_concat  # type: ignore[attr-defined]
    return env


_ENV = _build_environment()


def _parse(source: str) -> nodes.Template:
    """Parse and vet a template: size, syntax, forbidden constructs."""
    if not isinstance(source, str):
        raise TemplateError("a template must be text", code="template_syntax")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(
            f"templates are limited to {MAX_TEMPLATE_CHARS} characters", code="template_too_long"
        )
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc) from None
    for node in tree.find_all(_FORBIDDEN_NODES):
        raise TemplateError(
            f"{type(node).__name__.lower()} is not allowed in SMS templates (line {node.lineno})",
            code="template_security",
        )
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise TemplateError("recursive loops are not allowed", code="template_security")
    return tree


def _syntax_error(exc: TemplateSyntaxError) -> TemplateError:
    return TemplateError(
        f"template syntax error line {exc.lineno}: {exc.message}",
        code="template_syntax",
        line=exc.lineno,
    )


class _Instrumenter(NodeTransformer):
    """Route every loop through the iteration budget and every ``~`` through a length check."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)  # transforms the children in place
        node.iter = _env_call("loop_guard", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        self.generic_visit(node)
        return _env_call("bounded_concat", node.nodes, node.lineno)


def _env_call(name: str, args: Sequence[nodes.Node], lineno: int) -> nodes.Call:
    """A call to ``environment.<name>`` (out of reach of template variables)."""
    target = nodes.EnvironmentAttribute(name)
    return nodes.Call(target, list(args), [], None, None, lineno=lineno)


def compile_template(source: str) -> Template:
    """The compiled, instrumented template for ``source`` (cached: rendering is hot)."""
    if not isinstance(source, str):
        raise TemplateError("a template must be text", code="template_syntax")
    return _compile(source)


@lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str) -> Template:
    tree = _Instrumenter().visit(_parse(source))
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
    return _render(template, variables or {}, _RenderState(locale=locale, tz=tz))


def _render(template: str, values: Mapping[str, Any], state: _RenderState) -> str:
    compiled = compile_template(template)
    _zone(state.tz)
    _locale(state.locale)
    token = _STATE.set(state)
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
        _STATE.reset(token)


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
    return _render(template, values, _RenderState(locale=locale, tz=tz, preview=True))
