"""What a run tells the user as it goes: bad records (fatal or skipped) and a progress bar on stderr."""

from __future__ import annotations

import sys
import time

from classifier.io import dumps
from classifier.records import RecordError

ON_ERROR = ("fatal", "skip")


class ErrorReport:
    """Handles bad records in input order: raise (fatal) or report on stderr, count and log them (skip)."""

    def __init__(self, mode: str, handle=None, write=None):
        self.mode, self.handle, self.count = mode, handle, 0
        self.write = write or (lambda line: print(line, file=sys.stderr))

    def __call__(self, errors: list[RecordError]) -> None:
        for error in errors:
            if self.mode == "fatal":
                raise error
            self.count += 1
            self.write(str(error))
            if self.handle is not None:
                self.handle.write(dumps(error.to_dict()) + "\n")


class Progress:
    """A tqdm bar over input bytes (rate and ETA), with the record count and rate; off when not a TTY."""

    def __init__(self, total: int | None, quiet: bool):
        self.disabled = quiet or not sys.stderr.isatty()
        self.records, self.start = 0, time.monotonic()
        self.bar = None
        if not self.disabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                dynamic_ncols=True,
                desc="scoring",
            )

    def update(self, records: int, nbytes: int) -> None:
        """Count a scored chunk."""
        self.records += records
        if self.bar is not None:
            rate = self.records / max(time.monotonic() - self.start, 1e-9)
            self.bar.set_postfix_str(f"{self.records:,} records, {rate:,.0f} rec/s", refresh=False)
            self.bar.update(nbytes)

    def write(self, line: str) -> None:
        """Print a line on stderr without breaking the bar."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        """Remove the bar."""
        if self.bar is not None:
            self.bar.close()
