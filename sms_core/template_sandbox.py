"""The sandbox SMS templates run in: Jinja's immutable sandbox plus resource limits.

Templates are written by customers, so they are untrusted code. Jinja's
``ImmutableSandboxedEnvironment`` already refuses private attributes and the mutation of lists
and dicts; this module closes the doors that stay open to denial of service:

* the compiled template is rewritten (:func:`instrument`) so that every ``{% for %}`` draws from
  a per-render budget of :data:`MAX_LOOP_ITERATIONS` and every ``~`` concatenation is
  length-checked;
* ``*``, ``**``, ``+`` and ``%`` are intercepted: no ``"x" * 10**9``, no ``9 ** 9 ** 9``;
* ``range`` is capped, ``lipsum`` removed, filters are an allow-list (no ``center``, ``indent``,
  ``wordwrap``, ``batch``… whose width arguments allocate at will), string methods are an
  allow-list (no ``ljust``, ``zfill``, ``format``), ``strftime`` is refused;
* macros, ``include``, ``import``, ``extends``, recursive loops and block ``set``/``filter``
  are refused (:func:`vet`): an SMS template needs none of them, and they are the way to
  unbounded recursion or to buffers that double at every statement.

Limits are reported as Jinja's ``SecurityError`` (or ``TemplateError`` when a template is
vetted), which :mod:`sms_core.templates` turns into ``TemplateError`` codes.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import Environment, StrictUndefined, Undefined, nodes, pass_environment
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from sms_core.errors import TemplateError

MAX_TEMPLATE_CHARS = 10_000
"""Longest template source accepted."""

MAX_OUTPUT_CHARS = 10_000
"""Longest rendered text (and longest intermediate string); an SMS is capped far below."""

MAX_LOOP_ITERATIONS = 10_000
"""Loop iterations per render, all loops together."""

MAX_INT_BITS = 256
"""Largest integer arithmetic may produce (about 77 decimal digits)."""

DEFAULT_LOCALE = "fr"
DEFAULT_TZ = "Europe/Paris"

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


@dataclass(slots=True)
class RenderState:
    """Per-render settings and budget, reachable from filters without global state."""

    locale: str = DEFAULT_LOCALE
    tz: str = DEFAULT_TZ
    loops_left: int = MAX_LOOP_ITERATIONS
    preview: bool = False


RENDER_STATE: contextvars.ContextVar[RenderState] = contextvars.ContextVar("sms_template_state")
"""The state of the render in progress; set and reset around each render."""


def current_state() -> RenderState:
    """The render in progress, or default settings when a filter is called outside a render."""
    return RENDER_STATE.get(None) or RenderState()


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
    if isinstance(value, int):
        _check_bits(value.bit_length())
    return value


def _check_bits(bits: int) -> None:
    """Refuse an integer of ``bits`` bits, made or about to be made, past :data:`MAX_INT_BITS`."""
    if bits > MAX_INT_BITS:
        raise SecurityError(f"integers are limited to {MAX_INT_BITS} bits")


def _check_length(size: int, what: str) -> None:
    """Refuse a string or list of ``size`` characters before building it."""
    if size > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{what} too large")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation *before* it allocates too much."""
    if operator == "*":
        _check_product(left, right)
    elif operator == "**" and isinstance(left, int) and isinstance(right, int):
        if abs(left) > 1:
            _check_bits((abs(left).bit_length() - 1) * right)
    elif operator == "%" and isinstance(left, str) and _WIDE_PERCENT_FORMAT.search(left):
        raise SecurityError("%-format widths and precisions are limited to two digits")


def _check_product(left: Any, right: Any) -> None:
    """``"x" * n``, ``[x] * n`` and ``int * int`` within the limits."""
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length() - 1)
        return
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            _check_length(max(len(seq), _weight(seq)) * times, "repetition")


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_LOOP_ITERATIONS:
        raise SecurityError(f"range() is limited to {MAX_LOOP_ITERATIONS} items")
    return numbers


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    """Yield from a loop's iterable, spending the render's iteration budget."""
    state = current_state()
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
    _check_length(len(text) + hits * (len(new) - len(old)), "replace() result")
    return text.replace(old, new, -1 if count is None else count)


@pass_environment
def _safe_join(
    env: Environment, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    """``join`` that measures the parts before gluing them."""
    if attribute is not None:
        value = map(make_attrgetter(env, attribute), value)
    parts = [str(item) for item in value]
    _check_length(sum(map(len, parts)) + len(str(d)) * max(len(parts) - 1, 0), "join() result")
    return str(d).join(parts)


_SAFER_FILTERS: Mapping[str, Callable[..., Any]] = {"replace": _safe_replace, "join": _safe_join}


# --- environment ---------------------------------------------------------------------------


class SmsSandbox(ImmutableSandboxedEnvironment):
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


def build_environment(custom_filters: Mapping[str, Callable[..., Any]]) -> SmsSandbox:
    """The sandbox with the allow-listed built-in filters (guarded) plus ``custom_filters``.

    The custom filters are passed in, not imported, so that they may read :func:`current_state`
    from this module.
    """
    env = SmsSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = {
        name: _SAFER_FILTERS.get(name) or _guarded_filter(env.filters[name])
        for name in _ALLOWED_FILTERS
    }
    env.filters.update(custom_filters)
    env.globals.pop("lipsum", None)
    env.globals["range"] = _bounded_range
    env.loop_guard = _loop_guard  # type: ignore[attr-defined]
    env.bounded_concat = _bounded_concat  # type: ignore[attr-defined]
    return env


# --- vetting and instrumenting parsed templates -------------------------------------------


def vet(tree: nodes.Template) -> None:
    """Refuse the constructs SMS templates do without (``TemplateError`` template_security)."""
    for node in tree.find_all(_FORBIDDEN_NODES):
        raise TemplateError(
            f"{type(node).__name__.lower()} is not allowed in SMS templates (line {node.lineno})",
            code="template_security",
        )
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise TemplateError("recursive loops are not allowed", code="template_security")


def instrument(tree: nodes.Template) -> nodes.Template:
    """``tree`` with every loop on the iteration budget and every ``~`` length-checked."""
    instrumented: nodes.Template = _Instrumenter().visit(tree)
    return instrumented


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
