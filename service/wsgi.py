"""WSGI entry point for other servers: ``gunicorn service.wsgi:app``."""

from service import create_app

app = create_app()
