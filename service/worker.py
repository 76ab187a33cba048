"""The gunicorn worker of `python -m service`: gunicorn's threaded worker (gthread) with a read deadline.

gthread already keeps kept-alive connections in a poller instead of a thread, and parks a new connection
there when it sends nothing for 5 s (here 0.5 s: an idle client should not hold a thread that long).
What it lacks is a bound on a client that has started a request: one that dribbles its headers a byte a
second, or sends half a body, holds a
thread until it stops. Here every request gets one deadline (``HTA_READ_TIMEOUT``, default 10 s) for all
of its reads, headers and body together: past it, reading the headers ends the connection, and reading
the body raises ``OSError`` in the app (`service.body` answers 400 ``incomplete_body``).

gunicorn's own error answers (bad request line, oversize headers, ...) are written in the service's JSON
error shape instead of an HTML page. A worker whose threads are all busy stops accepting, so new
connections go to a worker that can serve them instead of queueing behind slow clients. Every worker
is woken by a new connection; one that already holds connections waits a little before taking it
(`ACCEPT_DELAY` per connection held), so the least loaded worker takes it: keep-alive clients that
connect at once (8 connections of a load generator) are otherwise taken mostly by one worker, which then
does all of their work while the others idle (7 of 8 measured with 2 workers, at half the throughput).
"""

from __future__ import annotations

import errno
import json
import time

from gunicorn import util
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import _DEFER, TConn, ThreadWorker

from service.errors import HTTP_CODES

WRITE_TIMEOUT = 30.0
# A new connection that has sent nothing after this long is parked in the poller (gthread waits 5 s in a
# thread); it is closed after the keep-alive timeout if it still sends nothing.
FIRST_BYTE_WAIT = 0.5
# How long a worker holding n connections waits before accepting a new one: n x ACCEPT_DELAY, at most
# ACCEPT_DELAY_MAX (a new connection's cost; the requests of kept-alive connections wait that long only
# when a connection arrives).
ACCEPT_DELAY = 0.0005
ACCEPT_DELAY_MAX = 0.004


class ReadTimeout(NoMoreData):
    """A request's reads passed their deadline (gunicorn closes the connection quietly)."""

    def __init__(self, seconds: float):
        super().__init__(b"")
        self.seconds = seconds

    def __str__(self) -> str:
        return f"the request was not received within {self.seconds:g} s"


class DeadlineSocket:
    """A client socket whose blocking reads share one deadline per request; writes have their own timeout."""

    def __init__(self, sock, read_timeout: float, write_timeout: float = WRITE_TIMEOUT):
        self._sock = sock
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._deadline: float | None = None
        self._blocking = True

    def start_request(self) -> None:
        """Start the deadline of the next request's reads."""
        self._deadline = time.monotonic() + self._read_timeout

    def setblocking(self, flag: bool) -> None:
        self._blocking = flag
        self._sock.setblocking(flag)

    def recv(self, size: int, *flags):
        if not self._blocking or self._deadline is None:
            return self._sock.recv(size, *flags)
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ReadTimeout(self._read_timeout)
        self._sock.settimeout(left)
        try:
            return self._sock.recv(size, *flags)
        except TimeoutError:
            raise ReadTimeout(self._read_timeout) from None

    def _writing(self) -> None:
        if self._blocking:
            self._sock.settimeout(self._write_timeout)

    def send(self, data, *flags):
        self._writing()
        return self._sock.send(data, *flags)

    def sendall(self, data, *flags):
        self._writing()
        return self._sock.sendall(data, *flags)

    def sendfile(self, file, offset=0, count=None):
        self._writing()
        return self._sock.sendfile(file, offset, count)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class BoundedThreadWorker(ThreadWorker):
    """gthread with a per-request read deadline, a short wait for a new connection's first byte, no
    accepting while every thread is busy (the other workers take the connection), and JSON error answers."""

    busy = 0  # requests submitted to the thread pool and not finished

    @property
    def worker_connections(self) -> int:
        # gthread accepts while nr_conns < worker_connections: with every thread busy, accept nothing,
        # so a worker held by slow clients leaves new connections to the others.
        return self._worker_connections if self.busy < self.cfg.threads else 0

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._worker_connections = value

    def init_process(self):
        from service.config import load_config

        self.read_timeout = float(load_config()["READ_TIMEOUT"])
        util.write_error = write_json_error  # gunicorn's error answers (worker process only)
        super().init_process()

    def accept(self, listener):
        """Accept a connection (after a short wait when this worker already holds some, so that a less
        loaded worker takes it first), its socket wrapped with the read deadline."""
        if self.nr_conns:
            time.sleep(min(ACCEPT_DELAY * self.nr_conns, ACCEPT_DELAY_MAX))
        try:
            client_sock, client_addr = listener.accept()
            self.nr_conns += 1
            client_sock.setblocking(True)
            # TLS sockets are wrapped by gunicorn itself (it needs the real socket): no deadline there
            sock = client_sock if self.cfg.is_ssl else DeadlineSocket(client_sock, self.read_timeout)
            self.enqueue_req(TConn(self.cfg, sock, client_addr, listener.getsockname()))
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise

    def enqueue_req(self, conn):
        self.busy += 1
        super().enqueue_req(conn)

    def finish_request(self, conn, fs):
        self.busy -= 1
        super().finish_request(conn, fs)

    def handle(self, conn):
        """One request: a new connection has FIRST_BYTE_WAIT to start sending (else it waits in the
        poller, not in a thread); its reads get a fresh deadline."""
        if not conn.initialized and not conn.data_ready:
            if not conn.wait_for_data(FIRST_BYTE_WAIT):
                return _DEFER
            conn.data_ready = True
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.start_request()
        return super().handle(conn)


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer in the service's shape: ``{"error": {"code", "message"}}``, then close."""
    code = {414: "uri_too_long", 431: "headers_too_large", 417: "expectation_failed", 501: "not_implemented"}.get(
        status_int, HTTP_CODES.get(status_int, "http_error")
    )
    body = json.dumps({"error": {"code": code, "message": mesg or reason}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    util.write_nonblock(sock, head + body)
