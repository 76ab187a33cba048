"""Run the command-line entry points in the test process, as a subprocess would see them.

`run_cli(["-m", "classifier", "predict", ...], models_dir, stdin)` calls that package's `cli.main(argv)` with
standard input, output and error replaced by byte streams, the environment's `HTA_MODELS_DIR` pointed at
`models_dir` and the working directory at `cwd`, and returns what a `subprocess.run` would: the exit code
and the decoded output. Each run costs milliseconds instead of an interpreter start and the imports
(about 0.6 s a command); the process-level behaviour (signals, the console scripts, `python -m` itself)
is tested with real subprocesses in the slow tier (tests/test_faults_process.py, tests/test_install.py).
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from classifier.config import PROJECT_ROOT

# The entry point of each `python -m PACKAGE` command (what PACKAGE/__main__.py calls).
ENTRY_POINTS = {"classifier": "classifier.cli", "training": "training.cli"}


@dataclass
class Completed:
    """What a finished command left: its exit code and its decoded standard output and error."""

    returncode: int
    stdout: str
    stderr: str


def _text_stream(data: bytes = b"") -> io.TextIOWrapper:
    """A text stream over bytes, with a `.buffer` like the real standard streams (UTF-8, no newline changes)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="", write_through=True)


def run_cli(args: list[str], models_dir: Path, stdin: str = "", cwd: Path = PROJECT_ROOT) -> Completed:
    """Run `["-m", PACKAGE, *argv]` in-process; returns its exit code, stdout and stderr."""
    if args[:1] != ["-m"] or args[1] not in ENTRY_POINTS:
        raise ValueError(f"expected ['-m', one of {sorted(ENTRY_POINTS)}, ...], got {args!r}")
    main = importlib.import_module(ENTRY_POINTS[args[1]]).main
    streams = {"stdin": _text_stream(stdin.encode("utf-8")), "stdout": _text_stream(), "stderr": _text_stream()}
    environment = mock.patch.dict(os.environ, {"HTA_MODELS_DIR": str(models_dir)})
    with environment, mock.patch.multiple(sys, **streams), chdir(cwd):
        try:
            code = main(args[2:])
        except SystemExit as exc:  # argparse's usage errors, and `SystemExit(n)` from the commands
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)

    def text(name: str) -> str:
        streams[name].flush()
        return streams[name].buffer.getvalue().decode("utf-8")

    return Completed(code, text("stdout"), text("stderr"))
