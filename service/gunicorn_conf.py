"""gunicorn settings used by `python -m service` (bind, workers and timeout come from the command line).

- Worker model: `service.worker.BoundedThreadWorker`, gunicorn's gthread with a per-request read
  deadline (``HTA_READ_TIMEOUT``) and ``HTA_THREADS`` threads per worker, so slow or idle clients wait in
  a poller or time out instead of holding every worker; idle keep-alive connections close after
  ``HTA_KEEPALIVE`` seconds.
- Workers die with their master (`post_fork` sets a parent-death signal), so after a ``kill -9`` of the
  master the port is free at once for a restart.
- No gunicorn control socket unless ``HTA_CONTROL_SOCKET`` names one: gunicorn's default path is shared
  by every instance of a user, and stopping one instance would delete another's socket.
"""

import ctypes
import os
import shutil
import signal

from service.config import load_config

_config = load_config()

worker_class = "service.worker.BoundedThreadWorker"
threads = _config["THREADS"]
keepalive = _config["KEEPALIVE"]
timeout = 120
graceful_timeout = 10
accesslog = None  # the app writes JSON access lines with the request id
errorlog = "-"
loglevel = "info"
control_socket_disable = not _config["CONTROL_SOCKET"]
if _config["CONTROL_SOCKET"]:
    control_socket = _config["CONTROL_SOCKET"]

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None, log=None) -> None:
    """Have the kernel kill this process when its parent (gunicorn's master) dies (Linux), and exit if it
    already has."""
    parent = os.getppid() if parent is None else parent
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 and log is not None:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %s", ctypes.get_errno())
    except (OSError, AttributeError):  # not Linux: gunicorn's own parent check (about 1 s) remains
        return
    if os.getppid() != parent:
        os._exit(0)


def post_fork(server, worker):
    """Have the kernel kill this worker when the master dies (Linux), and exit if it already has."""
    die_with_parent(server.pid, server.log)


def when_ready(server):
    """Start the shadow scorer process before the workers fork, so that they inherit its queue (service/shadow.py)."""
    from service.shadow import start_process

    pid = start_process(_config, server)
    server.log.info("shadow scorer process %s started", pid)


def post_worker_init(worker):
    """Warm the worker before it takes requests: load the model being served and the sentence splitter
    (NLTK's import and the Punkt parameters), so no client's first request pays for them; then freeze
    what is loaded, so the garbage collector's full collections stop walking it (the model, the imports)."""
    import gc

    from classifier.segment import segment
    from service.model_cache import NoModel

    segment("Warm up. Twice.")
    try:
        worker.wsgi.extensions["hta_models"].current()
    except (NoModel, AttributeError, KeyError) as exc:  # still answered per request (503 names the cause)
        worker.log.warning("no model loaded at worker start: %s", exc)
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        from service.monitor_window import monitor_directory, remove_ring

        multiprocess.mark_process_dead(worker.pid)
        remove_ring(monitor_directory(), worker.pid)  # the monitor's window stays bounded by the live workers


def on_exit(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.environ.get("HTA_PROMETHEUS_DIR_OWNED") == "1":
        shutil.rmtree(directory, ignore_errors=True)
