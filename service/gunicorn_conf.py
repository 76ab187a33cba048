"""gunicorn settings used by `python -m service` (bind, workers etc. come from the command line)."""

import os
import shutil

worker_class = "sync"
timeout = 120
graceful_timeout = 10
accesslog = None  # the app writes JSON access lines with the request id
errorlog = "-"
loglevel = "info"


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.environ.get("HTA_PROMETHEUS_DIR_OWNED") == "1":
        shutil.rmtree(directory, ignore_errors=True)
