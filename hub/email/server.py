"""``smshub smtp``: the email-to-SMS receiver as a process, with its notice sweeper.

The receiver listens on ``settings.smtp_port`` (``SMSHUB_SMTP_PORT``, ``--smtp-port`` of
``smshub run``) on ``SMSHUB_SMTP_HOST`` (loopback by default: exposing it is a deliberate
choice, with STARTTLS configured). The main thread then mails pending notices every
:data:`NOTICE_EVERY` seconds until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from hub.config import Settings
from hub.email.notices import NoticeSweeper
from hub.email.wiring import build_gateway
from hub.services import build_services

log = logging.getLogger(__name__)

NOTICE_EVERY = 2.0
"""Seconds between two looks for replies and failures to mail back."""


def listen_address(settings: Settings, options: Mapping[str, Any] | None = None,
                   ) -> tuple[str, int]:
    """Where the receiver listens: ``--host/--port`` first, then the settings."""
    options = options or {}
    host = options.get("host") or settings.namespace("smtp").get("host") or "127.0.0.1"
    port = options.get("port")
    return str(host), int(port if port is not None else settings.smtp_port)


def main(settings: Settings, options: Mapping[str, Any] | None = None) -> int:
    """Run the receiver until interrupted (the ``smtp`` role); returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s smtp %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command
    services = build_services(settings)
    gateway = build_gateway(services)
    host, port = listen_address(settings, options)
    try:
        bound = gateway.start(host, port)
        print(f"smshub smtp listening on {host}:{bound} for @{gateway.settings.domain}",
              flush=True)
        sweeper = NoticeSweeper(services, gateway)
        while True:
            try:
                sweeper.run_once()
            except Exception:  # a database hiccup must not stop the receiver
                log.exception("email notices round failed")
            time.sleep(NOTICE_EVERY)
    finally:
        gateway.stop()
        services.close()
