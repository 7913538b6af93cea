"""The web UI: server-rendered pages (Jinja2) at ``/``, signed in by a session cookie."""

from moorage.http.ui.routes import routes

__all__ = ["routes"]
