"""Entry point for server worker processes: the settings travel in one environment variable."""

from __future__ import annotations

import os

from moorage import logs
from moorage.config import Settings
from moorage.http.app import create_app
from moorage.http.metrics import RequestMetrics
from moorage.http.server import SETTINGS_ENV


def factory() -> RequestMetrics:
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
