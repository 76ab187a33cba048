"""Named analysts: the analysts file (``HTA_ANALYSTS_FILE``), its parsing, re-reading and appending.

One line per analyst: ``NAME ROLE SHA256`` separated by whitespace, where SHA256 is the hex digest of the
analyst's bearer token (the token itself is never stored). Blank lines and lines starting with ``#`` are
ignored. Roles are ``analyst``, ``adjudicator`` and ``admin``. Revoking an analyst is deleting their line:
the file is re-read whenever its modification time, size or inode changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROLES = ("analyst", "adjudicator", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")


class AnalystsFileError(ValueError):
    """The analysts file cannot be read or has a bad line (the message names the file and line)."""


@dataclass(frozen=True)
class Analyst:
    """One analyst: their name (recorded as the annotator of their labels), role and token hash."""

    name: str
    role: str
    token_sha256: str

    def can_adjudicate(self) -> bool:
        """Adjudicators and admins may resolve disagreements and read agreement."""
        return self.role in ("adjudicator", "admin")


def token_sha256(token: str) -> str:
    """The hex SHA-256 of a token, as the analysts file stores it."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    """`name` if it is a valid analyst name, else `ValueError` saying what a name may contain."""
    if not NAME_RE.match(name):
        raise ValueError(
            f"invalid analyst name {name!r}: 1 to 64 characters, letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_analysts(text: str, path: Path | str) -> dict[str, Analyst]:
    """The analysts of a file's text by name; `AnalystsFileError` names the first bad line."""
    analysts: dict[str, Analyst] = {}
    hashes: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{path}, line {number}"
        fields = stripped.split()
        if len(fields) != 3:
            raise AnalystsFileError(f"{where}: expected 'NAME ROLE SHA256' (3 fields), found {len(fields)}")
        name, role, digest = fields
        try:
            check_name(name)
        except ValueError as exc:
            raise AnalystsFileError(f"{where}: {exc}") from None
        if role not in ROLES:
            raise AnalystsFileError(f"{where}: unknown role {role!r} (one of {', '.join(ROLES)})")
        if not HASH_RE.match(digest):
            raise AnalystsFileError(f"{where}: the token hash must be 64 lowercase hex digits (sha256)")
        if name in analysts:
            raise AnalystsFileError(f"{where}: analyst {name!r} is listed twice")
        if digest in hashes:
            raise AnalystsFileError(f"{where}: the token hash of {name!r} is another analyst's too")
        analysts[name] = Analyst(name, role, digest)
        hashes.add(digest)
    return analysts


def read_analysts(path: Path | str) -> dict[str, Analyst]:
    """Parse the analysts file; a missing or unreadable file is an `AnalystsFileError` naming it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnalystsFileError(f"{path}: the analysts file (HTA_ANALYSTS_FILE) does not exist") from None
    except UnicodeDecodeError as exc:
        raise AnalystsFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise AnalystsFileError(f"{path}: cannot read the analysts file: {exc.strerror}") from None
    return parse_analysts(text, path)


class Registry:
    """The analysts of one file, re-read when the file changes (checked on every lookup: one `stat`)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._analysts: dict[str, Analyst] = {}

    def analysts(self) -> dict[str, Analyst]:
        """The current analysts by name; `AnalystsFileError` when the file is now missing or malformed."""
        try:
            info = os.stat(self.path)
        except OSError:
            info = None
        stamp = None if info is None else (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if stamp is None or stamp != self._stamp:
                self._analysts = read_analysts(self.path)
                self._stamp = stamp
            return self._analysts

    def resolve(self, token: str) -> Analyst | None:
        """The analyst whose token this is, or None; every hash is compared, in constant time each."""
        digest = token_sha256(token).encode("ascii")
        found = None
        for analyst in self.analysts().values():
            if hmac.compare_digest(digest, analyst.token_sha256.encode("ascii")):
                found = analyst
        return found


def add_analyst(path: Path | str, name: str, role: str) -> str:
    """Append an analyst with a new random token to the file (created if missing) and return the token.

    The file is rewritten to a temporary file beside it and renamed over it (atomic: a reader sees the old
    or the new file, never half a line), under an exclusive lock so that two runs at once lose neither line.
    `ValueError` for a bad name or role or a name already listed; `AnalystsFileError` for a malformed file.
    """
    check_name(name)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if name in parse_analysts(text, path):
            raise ValueError(f"analyst {name!r} is already in {path}: delete their line first to issue a new token")
        if text and not text.endswith("\n"):
            text += "\n"
        text += f"{name} {role} {token_sha256(token)}\n"
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    return token
