"""The import rules of docs/ARCHITECTURE.md, checked by walking every module's AST."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"sms_core", "connectors", "webhooks", "hub"}
IO_MODULES = {
    "socket", "ssl", "asyncio", "selectors", "subprocess", "requests", "urllib.request",
    "http.client", "smtplib", "sqlalchemy", "flask", "redis", "rq", "smpp34", "smpplib",
    "aiosmtpd", "psycopg", "sqlite3",
}
FLASK_GLOBALS = {"request", "g", "current_app", "session"}


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import in a file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((module, [alias.name for alias in node.names]))
    return found


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def _top(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("path", _modules("sms_core"), ids=str)
def test_sms_core_imports_nothing_from_the_project(path: Path) -> None:
    for module, _ in _imports(path):
        assert _top(module) not in PROJECT - {"sms_core"}, f"{path} imports {module}"


@pytest.mark.parametrize(
    "path", [p for p in _modules("sms_core") if "dispatch" not in p.parts], ids=str
)
def test_pure_sms_core_modules_do_no_io(path: Path) -> None:
    for module, _ in _imports(path):
        assert not any(_within(module, io) for io in IO_MODULES), f"{path} imports {module}"


@pytest.mark.parametrize("path", _modules("connectors"), ids=str)
def test_connectors_import_only_sms_core_base_and_themselves(path: Path) -> None:
    parts = path.relative_to(ROOT).parts
    own = ".".join(parts[:2]) if len(parts) > 2 else "connectors.base"
    for module, names in _imports(path):
        if _top(module) in PROJECT:
            allowed = (
                _within(module, "sms_core")
                or _within(module, "connectors.base")
                or _within(module, own)
                or (module == "connectors" and set(names) <= {"base"})
            )
            assert allowed, f"{path} imports {module}"
        if _within(module, "flask"):
            assert not FLASK_GLOBALS & set(names), f"{path} uses Flask globals {names}"


@pytest.mark.parametrize("path", _modules("webhooks"), ids=str)
def test_webhooks_import_only_sms_core_and_connector_base(path: Path) -> None:
    for module, _ in _imports(path):
        if _top(module) in PROJECT:
            assert (
                _within(module, "sms_core")
                or _within(module, "connectors.base")
                or _within(module, "webhooks")
            ), f"{path} imports {module}"


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself must see a forbidden import, or every test above proves nothing."""
    bad = ROOT / "connectors" / "email" / "_probe_violation.py"
    bad.write_text("from connectors.calendar import reminders\nfrom hub import app\n")
    try:
        modules = [m for m, _ in _imports(bad)]
        assert modules == ["connectors.calendar", "hub"]
        with pytest.raises(AssertionError):
            test_connectors_import_only_sms_core_base_and_themselves(bad)
    finally:
        bad.unlink()
