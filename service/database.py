"""The database under the service's store: one SQLite file (the default, one host) or a PostgreSQL server
(several hosts), chosen by ``HTA_DATABASE_URL`` (``sqlite:///path`` or ``postgresql://user@host/db``).

The store's SQL is written once, with ``?`` placeholders, for both; what the dialects spell differently is
here (`Dialect`: the placeholder, a NULL-safe comparison, the trimmed-text expression, a JSON label test,
appending to a JSON list, "no limit", and the few types of the schema's DDL, `service.schema`). An `Engine`
hands out `Connection`s for one operation each:

- SQLite: a new connection per operation, exactly as the store always opened its file (WAL, busy timeout);
  a writing transaction is ``BEGIN IMMEDIATE``: one writer at a time.
- PostgreSQL: connections from a psycopg 3 pool (one per process and URL), in autocommit mode with explicit
  transactions; a writing transaction takes a transaction-scoped advisory lock first, so writers are
  serialised across every instance as SQLite serialises them (the queue's lease and the job check rely on
  it). Every driver failure leaves as `service.store.StorageError` naming the database (503; 507 for a full
  disk), never a 500.

Session-scoped advisory locks (`Engine.try_lock`) hold cluster-wide locks for as long as a process lives:
one retrain at a time; the migrations' lock.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

SQLITE, POSTGRESQL = "sqlite", "postgresql"
# Advisory lock keys (bigint; per database): the one writer, the migrations, the one retrain.
WRITE_LOCK = 0x48544101
MIGRATE_LOCK = 0x48544102
RETRAIN_LOCK = 0x48544103


class DatabaseURLError(ValueError):
    """HTA_DATABASE_URL is neither ``sqlite:///path`` nor ``postgresql://...``."""


def database_url(config) -> str:
    """The store's URL of a service's settings: `DATABASE_URL`, else ``sqlite:///`` + `FEEDBACK_DB`."""
    return config.get("DATABASE_URL") or f"sqlite://{Path(config['FEEDBACK_DB'])}"


def engine_kind(url: str) -> str:
    """``sqlite`` or ``postgresql``; `DatabaseURLError` names what is wrong with the URL."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        if not url[len("sqlite://") :]:
            raise DatabaseURLError(f"HTA_DATABASE_URL {url!r}: no file after sqlite:// (sqlite:///path/file.sqlite3)")
        return SQLITE
    if scheme in ("postgresql", "postgres"):
        return POSTGRESQL
    raise DatabaseURLError(
        f"HTA_DATABASE_URL {redact(url)!r}: expected sqlite:///path/file.sqlite3 or postgresql://user@host:port/db"
    )


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite://`` URL: what follows ``sqlite://`` (``sqlite:///var/lib/x`` is /var/lib/x)."""
    return Path(url[len("sqlite://") :])


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Dialect:
    """How one engine spells what the store's SQL needs (the rest of the SQL is the same for both)."""

    name = SQLITE
    is_ = "IS"  # NULL-safe equality with a parameter
    no_limit = "LIMIT -1"  # before OFFSET
    # The characters training.feedback.TRIM_CHARS (and Python's str.strip default, for ASCII) remove; the
    # index feedback_trimmed_text is built on this very expression, so the queue's lookups use it.
    trimmed_text = "trim(text, char(32, 9, 10, 11, 12, 13))"
    # What the schema's DDL spells per engine (`service.schema.Step`): an auto-numbered 64-bit primary key
    # that never reuses a deleted row's id, a 64-bit integer, a float, the trimmed text.
    ddl: ClassVar[dict[str, str]] = {
        "identity": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bigint": "INTEGER",
        "double": "REAL",
        "trimmed_text": trimmed_text,
    }

    def has_label(self, column: str) -> str:
        """A condition: the JSON list of strings in `column` holds the parameter."""
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = ?)"

    def json_append(self, column: str) -> str:
        """An expression: the JSON list in `column` with the parameter (one JSON value) appended."""
        return f"json_insert({column}, '$[#]', json(?))"

    def sql(self, statement: str) -> str:
        """The statement in this driver's placeholders."""
        return statement


class PostgresDialect(Dialect):
    name = POSTGRESQL
    is_ = "IS NOT DISTINCT FROM"
    no_limit = "LIMIT ALL"
    trimmed_text = "btrim(text, E' \\t\\n\\013\\f\\r')"
    ddl: ClassVar[dict[str, str]] = {
        "identity": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "bigint": "BIGINT",
        "double": "DOUBLE PRECISION",
        "trimmed_text": trimmed_text,
    }

    def has_label(self, column: str) -> str:
        return f"jsonb_exists({column}::jsonb, ?)"

    def json_append(self, column: str) -> str:
        return f"(({column})::jsonb || jsonb_build_array(?::jsonb))::text"

    def sql(self, statement: str) -> str:
        return _to_pyformat(statement)


@functools.lru_cache(maxsize=1024)
def _to_pyformat(statement: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` doubled); quoted text is left alone."""
    out, quote = [], None
    for char in statement:
        if quote:
            out.append("%%" if char == "%" else char)
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
            out.append(char)
        elif char == "?":
            out.append("%s")
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
    return "".join(out)


SQLITE_DIALECT, POSTGRES_DIALECT = Dialect(), PostgresDialect()


class Connection:
    """One operation's connection: `execute` (``?`` placeholders), `executemany`, explicit transactions."""

    def __init__(self, raw, dialect: Dialect):
        self.raw, self.dialect = raw, dialect

    def execute(self, statement: str, params=()):
        """Run one statement; returns a cursor (`fetchone`, `fetchall`, iteration, `rowcount`)."""
        return self.raw.execute(self.dialect.sql(statement), tuple(params))

    def executemany(self, statement: str, rows) -> None:
        """Run one statement once per parameter tuple."""
        if self.dialect.name == SQLITE:
            self.raw.executemany(statement, rows)
        else:
            with self.raw.cursor() as cursor:
                cursor.executemany(self.dialect.sql(statement), [tuple(row) for row in rows])

    def begin(self) -> None:
        """Start a writing transaction: one writer at a time (SQLite's IMMEDIATE, PostgreSQL's advisory lock)."""
        if self.dialect.name == SQLITE:
            self.raw.execute("BEGIN IMMEDIATE")
        else:
            self.raw.execute("BEGIN")
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))

    def commit(self) -> None:
        """Commit the transaction."""
        self.raw.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        if self.dialect.name == SQLITE:
            return self.raw.in_transaction
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def rollback(self) -> None:
        """Roll back the open transaction, if any (a failed one may be gone already: no second error)."""
        if self.in_transaction:
            with contextlib.suppress(Exception):
                self.raw.execute("ROLLBACK")

    def columns(self, table: str) -> set[str]:
        """The column names of `table` (empty when there is no such table)."""
        if self.dialect.name == SQLITE:
            return {row[1] for row in self.raw.execute(f"PRAGMA table_info({table})")}
        rows = self.raw.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s",
            (table,),
        )
        return {row[0] for row in rows}


class Engine:
    """Connections to one database; `kind` is ``sqlite`` or ``postgresql``; `display` names it in messages."""

    kind: str
    display: str
    dialect: Dialect

    def connect(self) -> contextlib.AbstractContextManager[Connection]:
        raise NotImplementedError

    def try_lock(self, key: int) -> contextlib.AbstractContextManager[bool]:
        """A cluster-wide lock held while the context lasts: yields whether it was obtained (SQLite: always)."""
        return contextlib.nullcontext(True)

    def close(self) -> None:
        """Release the engine's connections."""


class SQLiteEngine(Engine):
    kind, dialect = SQLITE, SQLITE_DIALECT

    def __init__(self, path: Path | str, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.display = str(self.path)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        import sqlite3

        from service.store import storage_error

        try:
            raw = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.row_factory = sqlite3.Row
            yield Connection(raw, self.dialect)
        except sqlite3.Error as exc:
            raise storage_error(exc, self.path) from exc
        finally:
            raw.close()


class PgRow(tuple):
    """A PostgreSQL row read by position (``row[0]``) or by column name (``row["id"]``), and ``dict(row)``."""

    __slots__ = ()
    names: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self):
        return self.names.keys()


def pg_row_factory(cursor):
    """psycopg row factory making `PgRow`s (one row class per result shape)."""
    description = cursor.description
    if description is None:
        return tuple
    row_class = type("Row", (PgRow,), {"__slots__": (), "names": {c.name: i for i, c in enumerate(description)}})
    return lambda values: row_class(values)


def pg_storage_error(exc: BaseException, display: str):
    """The `StorageError` of a psycopg (or pool) error met while using the database `display`."""
    from service.store import StorageError

    sqlstate = getattr(exc, "sqlstate", None) or ""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if sqlstate == "53100":
        return StorageError(507, "storage_full", f"the database {display} cannot grow: its disk is full ({detail})")
    if sqlstate == "25006":
        return StorageError(503, "storage_read_only", f"the database {display} is read-only ({detail})")
    import psycopg

    if isinstance(exc, psycopg.OperationalError) or sqlstate.startswith(("08", "57")):
        return StorageError(503, "database_unavailable", f"the database {display} is unavailable ({detail})", 5)
    return StorageError(503, "storage_error", f"the database {display} failed ({detail})")


class PostgresEngine(Engine):
    kind, dialect = POSTGRESQL, POSTGRES_DIALECT

    def __init__(self, url: str, pool_size: int = 8, timeout: float = 5.0):
        from psycopg_pool import ConnectionPool

        self.url, self.display, self.timeout = url, redact(url), timeout
        self.closed = threading.Event()  # set by `close`: listener threads of this engine end
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            timeout=timeout,
            # A restarted server leaves every pooled connection broken: each is checked when handed out.
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": pg_row_factory, "connect_timeout": max(1, int(timeout))},
            name="hta-store",
        )
        self.pool.open(wait=False)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        import psycopg

        try:
            with self.pool.connection() as raw:
                connection = Connection(raw, self.dialect)
                try:
                    yield connection
                finally:
                    connection.rollback()
        except psycopg.Error as exc:
            raise pg_storage_error(exc, self.display) from exc

    def direct(self, **kwargs):
        """A connection of its own (not from the pool), autocommit: for session locks and LISTEN."""
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.timeout)), **kwargs)
        except psycopg.Error as exc:
            raise pg_storage_error(exc, self.display) from exc

    @contextmanager
    def try_lock(self, key: int) -> Iterator[bool]:
        import psycopg

        conn = self.direct()
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
            yield bool(got)
        except psycopg.Error as exc:
            raise pg_storage_error(exc, self.display) from exc
        finally:
            with contextlib.suppress(Exception):
                conn.close()  # ends the session, and with it the lock

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(Exception):
            self.pool.close(timeout=1)


_engines: dict[tuple, Engine] = {}
_engines_lock = threading.Lock()


def open_engine(target: Path | str, *, pool_size: int = 8, timeout: float = 5.0, busy_timeout: float = 30.0) -> Engine:
    """The engine of a URL (``sqlite:///...``, ``postgresql://...``) or an SQLite file path.

    PostgreSQL engines are shared per process and URL (one pool); SQLite engines are cheap and not cached.
    """
    text = str(target)
    if "://" not in text:
        return SQLiteEngine(text, busy_timeout)
    kind = engine_kind(text)
    if kind == SQLITE:
        return SQLiteEngine(sqlite_path(text), busy_timeout)
    key = (text, pool_size, timeout)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = PostgresEngine(text, pool_size, timeout)
        return engine


def close_engines(url: str | None = None) -> None:
    """Close the cached PostgreSQL engines (of `url`, or all): tests dropping a database, process exit."""
    with _engines_lock:
        for key in [key for key in _engines if url is None or key[0] == url]:
            _engines.pop(key).close()


def is_postgresql(url: str) -> bool:
    """Whether a store URL names a PostgreSQL database."""
    return bool(re.match(r"(?i)postgres(ql)?://", url))
