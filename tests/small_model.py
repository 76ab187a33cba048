"""The small model the code tests use: trained on a fixed slice of the bundled corpus, once per test run.

`build(folder)` writes ``folder/slice.jsonl`` (every `SLICE_STRIDE`-th corpus row) and trains a models
directory ``folder/models`` on it with 2-fold CV, then marks the folder done. With pytest-xdist the
controller process starts `python -m tests.small_model FOLDER` as soon as pytest is configured, so the
model trains while the workers start and collect, once for all of them; `wait_for(folder)` is how a worker
gets it. Without workers, the session fixture calls `build` itself.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from classifier.config import CORPUS_PATH

SLICE_STRIDE = 5
SLICE_FILE = "slice.jsonl"
MODELS_DIR = "models"
DONE = ".done"
FAILED = ".failed"
LOG = "training.log"
WAIT_SECONDS = 600


def build(folder: Path) -> Path:
    """Write the corpus slice and train the small model into `folder`; returns `folder`."""
    from training.train import train_model

    folder.mkdir(parents=True, exist_ok=True)
    lines = CORPUS_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    (folder / SLICE_FILE).write_text("".join(lines[::SLICE_STRIDE]), encoding="utf-8")
    train_model(folder / SLICE_FILE, models_dir=folder / MODELS_DIR, cv=2, progress=None, n_jobs=1, plots=False)
    (folder / DONE).touch()
    return folder


def wait_for(folder: Path, timeout: float = WAIT_SECONDS) -> Path:
    """Wait until the process training into `folder` is done; raises `RuntimeError` with its log if it failed."""
    deadline = time.monotonic() + timeout
    while not (folder / DONE).exists():
        if (folder / FAILED).exists() or time.monotonic() > deadline:
            log = (folder / LOG).read_text(encoding="utf-8", errors="replace") if (folder / LOG).exists() else ""
            what = "failed" if (folder / FAILED).exists() else f"did not finish in {timeout:.0f} s"
            raise RuntimeError(f"training the small test model in {folder} {what}:\n{log}")
        time.sleep(0.05)
    return folder


def main(argv: list[str]) -> int:
    """`python -m tests.small_model FOLDER`: build, leaving FAILED (and the traceback on stderr) on failure."""
    folder = Path(argv[0])
    try:
        build(folder)
    except BaseException:
        (folder / FAILED).touch()
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
