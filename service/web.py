"""The analyst's web page: ``GET /`` serves a single page that calls the JSON API of the same app.

Everything the page needs (HTML, CSS, JavaScript) is served from this blueprint: no CDN, no external
fonts or scripts, so it works on a closed network. The page builds its DOM with ``textContent`` only.
Register with ``app.register_blueprint(web.bp)``.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

# The page loads only same-origin scripts, styles and API calls; it never needs inline script.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@bp.get("/")
def index() -> Response:
    """The analysis page."""
    response = Response(render_template("index.html"), mimetype="text/html")
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
