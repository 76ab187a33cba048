"""`python -m service`: check the model and the database, then serve with gunicorn (see `service.startup`).

Options (and environment variables): --host (HTA_HOST, 127.0.0.1), --port (HTA_PORT, 8000),
--workers (HTA_WORKERS, 2 x CPU cores), --timeout (HTA_TIMEOUT, 120 s). Everything else is configured
with the HTA_* variables of service/config.py.

`python -m service add-analyst NAME --role ROLE` adds a named analyst to HTA_ANALYSTS_FILE (or --file) and
prints their new token once; only its sha256 is stored.

`python -m service migrate-store --to postgresql://... [--dry-run]` copies the SQLite store (HTA_FEEDBACK_DB)
and the current-version pointer into a PostgreSQL store (`service.migrate_store`).
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
import tempfile


def default_workers() -> int:
    """gunicorn workers when HTA_WORKERS is unset: two per core."""
    return 2 * (os.cpu_count() or 1)


def build_parser(config: dict) -> argparse.ArgumentParser:
    """The command line; defaults come from the settings (`service.config`: HTA_HOST, HTA_PORT, ...)."""
    parser = argparse.ArgumentParser(
        prog="python -m service", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=config["HOST"], help="bind address (HTA_HOST)")
    parser.add_argument("--port", type=int, default=config["PORT"], help="port (HTA_PORT)")
    parser.add_argument(
        "--workers",
        type=int,
        default=config["WORKERS"] or default_workers(),
        help="gunicorn worker processes (HTA_WORKERS; default 2 x cores)",
    )
    parser.add_argument("--timeout", type=int, default=config["TIMEOUT"], help="worker timeout, seconds (HTA_TIMEOUT)")
    return parser


def ensure_model() -> int:
    """Start-up checks (`service.startup`): the model to serve (training the default one only when there is
    no model at all), the feedback database, leftovers of killed jobs. Returns 0, or 2 after printing why
    the service cannot start."""
    from classifier.config import SettingError
    from service.config import load_config
    from service.startup import StartupError, run_checks, say

    try:
        config = load_config()
        version = run_checks(config)
    except (StartupError, SettingError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    say(f"model {version} verified")
    return 0


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound now (as gunicorn binds it, with SO_REUSEADDR), or None."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host}: {exc.strerror}"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
            probe.listen(1)  # with SO_REUSEADDR, Linux refuses a taken port only here
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is already in use (another server, or one still shutting down)"
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def add_analyst_main(argv: list[str]) -> int:
    """`add-analyst NAME --role ROLE [--file PATH]`: append the analyst, print the token once; 2 on bad input."""
    from service.analysts import ROLES, AnalystsFileError, add_analyst
    from service.config import load_config_or_report

    config = load_config_or_report()
    if config is None:
        return 2
    parser = argparse.ArgumentParser(
        prog="python -m service add-analyst",
        description="Add a named analyst and print their bearer token once (the file keeps only its sha256).",
    )
    parser.add_argument("name", help="the analyst's name, recorded as the annotator of their labels")
    parser.add_argument("--role", required=True, choices=ROLES, help="analyst, adjudicator or admin")
    parser.add_argument("--file", default=config["ANALYSTS_FILE"], help="the analysts file (HTA_ANALYSTS_FILE)")
    args = parser.parse_args(argv)
    if not args.file:
        print("error: no analysts file: set HTA_ANALYSTS_FILE or pass --file", file=sys.stderr)
        return 2
    try:
        token = add_analyst(args.file, args.name, args.role)
    except (ValueError, AnalystsFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"added {args.name} ({args.role}) to {args.file}; their token (shown only now):", file=sys.stderr)
    print(token, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Check, then replace this process with gunicorn; 1 when the port is taken, 2 for a bad setting or start-up.
    `add-analyst` as the first argument runs `add_analyst_main` instead, `migrate-store` `service.migrate_store`."""
    from service.config import load_config_or_report

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["add-analyst"]:
        return add_analyst_main(argv[1:])
    if argv[:1] == ["migrate-store"]:
        from service.migrate_store import main as migrate_store_main

        return migrate_store_main(argv[1:])

    config = load_config_or_report()
    if config is None:
        return 2
    args = build_parser(config).parse_args(argv)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    problem = port_problem(args.host, args.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if ensure_model():
        return 2
    os.environ["HTA_SERVER_PID"] = str(os.getpid())  # gunicorn replaces this process: same pid
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hta-prometheus-")
        os.environ["HTA_PROMETHEUS_DIR_OWNED"] = "1"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:service.gunicorn_conf",
        "--bind",
        f"{args.host}:{args.port}",
        "--workers",
        str(args.workers),
        "--timeout",
        str(args.timeout),
        "service:create_app()",
    ]
    problem = port_problem(args.host, args.port)  # again: training the model may have taken a while
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(
        f"service: serving on http://{args.host}:{args.port} with {args.workers} gunicorn workers",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
