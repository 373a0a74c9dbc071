"""The Flask application factory."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from hub.api import problems as api_problems
from hub.api import register_api
from hub.api.context import EXTENSION
from hub.config import Settings, ensure_secret_key, load_settings
from hub.services import Services, build_services
from hub.web.health import blueprint as health_blueprint
from hub.web.views import blueprint as web_blueprint


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """A hub web app. ``services`` (database sessions, Redis) are built from ``settings`` unless
    given; settings default to the environment (``SMSHUB_*``) and the optional config file."""
    if services is not None:
        settings = services.settings
    settings = ensure_secret_key(settings or load_settings())
    services = services or build_services(settings)
    app = Flask("hub")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="smshub_session",
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = services
    api_problems.register(app)
    register_api(app)
    app.register_blueprint(health_blueprint)
    app.register_blueprint(web_blueprint)
    if settings.trusted_proxies > 0:  # the client address the proxies saw, for the IP filters
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app
