"""WSGI entry point for servers such as gunicorn: ``gunicorn 'jig.wsgi:application'``."""

from __future__ import annotations

from .app import create_app

application = create_app()
