"""The project's settings, defined once: `HTA_*` environment variables read by the library, the CLIs and
the training code (the service reads them too, and adds its own keys, the retrain job's among them, in
`service.config`).

`SETTINGS` maps a key to ``(default, type, help)``; the variable is ``HTA_<KEY>``. A default may be a
function of the settings read so far (paths under `HOME`). `setting(key)` reads one at call time
(tests and services change the environment); `service.config.load_config` adds the service's own
keys to the same table and reads them the same way.

Where things live:

- the **bundled** default model (`models/` of the checkout, or the copy installed with the package) and
  the bundled corpus are read-only: nothing this project runs writes there;
- **user state** — the versions a user trains or the service promotes, the current-version pointer and
  its history, and the feedback database — lives in `HTA_HOME`, by default
  ``$XDG_DATA_HOME/hybrid-threat-alerts`` (``~/.local/share/hybrid-threat-alerts``): it is data the
  user made (feedback cannot be regenerated), so it belongs in the XDG data directory, outside any
  checkout, shared by every copy of the tool the user runs.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
PUNKT_DIR = RESOURCES_DIR / "punkt"
# An installed wheel carries the bundled model and corpus inside the package (pyproject.toml maps them
# there); a checkout or an editable install finds them at the top of the project.
INSTALLED_BUNDLE = PACKAGE_DIR / "bundled"
APP_NAME = "hybrid-threat-alerts"

DEFAULT_LABELS = ("hybrid_threat_warning", "sabotage_mention", "support_statement")

# Passages longer than this are cut at whitespace so evidence stays local and scoring stays linear.
MAX_PASSAGE_CHARS = 2000


def _bundled(installed: str, checkout: str) -> Path:
    """A bundled, read-only resource: the installed copy if this is an installed package, else the checkout's."""
    copy = INSTALLED_BUNDLE / installed
    return copy if copy.exists() else PROJECT_ROOT / checkout


BUNDLED_MODELS_DIR = _bundled("models", "models")
CORPUS_PATH = _bundled("corpus", "data/corpus") / "corpus.jsonl"


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/hybrid-threat-alerts``, or ``~/.local/share/hybrid-threat-alerts``."""
    environ = os.environ if environ is None else environ
    xdg = environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / APP_NAME


Default = object | Callable[[dict], object]


class positive_float(float):  # named like `float`: it is used as a setting's type
    """A setting's type: a finite number above 0 (plain `float` values come out)."""

    description = "a number > 0"

    def __new__(cls, value):
        number = float(value)
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{value!r} is not a number > 0")
        return number


# key: (default, type, help). Path defaults that are functions see the values read before them.
SETTINGS: dict[str, tuple[Default, type, str]] = {
    "HOME": (lambda s: default_home(), Path, "user data directory: trained versions, CURRENT, the service's database"),
    "MODELS_DIR": (lambda s: s["HOME"] / "models", Path, "writable models directory (default $HTA_HOME/models)"),
    "BUNDLED_MODELS_DIR": (
        BUNDLED_MODELS_DIR,
        Path,
        "read-only directory of the bundled default model, served when MODELS_DIR has no CURRENT (empty: none)",
    ),
    "FEEDBACK_WEIGHT": (
        3.0,
        positive_float,
        "sample weight of each feedback row in retraining, corpus rows weighing 1 (retrain jobs and the default "
        "of python -m training train --extra-weight)",
    ),
    "SOURCE_THRESHOLD_LABELS": (
        0,
        int,
        "positives of a label a named source's feedback needs for that source's own threshold of the label "
        "(tuned on cross-validated feedback predictions, used when a prediction names the source); 0: off (the "
        "default: at 10 it did not pay, docs/adaptation.md)",
    ),
    "MIN_LANGUAGE_ROWS": (
        200,
        int,
        "rows of a language the training data needs for a model to support it (score its passages); passages in "
        "other languages are flagged unsupported",
    ),
    "SCORE_UNSUPPORTED": (
        False,
        bool,
        "score passages in languages the model was not trained on anyway (still marked supported: false) instead "
        "of leaving their scores and alerts null",
    ),
}

# Settings renamed: old key -> new key. The old variable is still read (when the new one is not set), with a
# warning naming the new one. (The library's keys have kept their names; see `service.config.RENAMED`.)
RENAMED: dict[str, str] = {}

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
NOT_SET = object()


class SettingError(ValueError):
    """An `HTA_*` variable holds a value of the wrong type."""


def coerce(key: str, value, kind: type):
    """`value` (a default, an environment string or an override) as `kind`; "" means unset for paths and text."""
    if value is None or (isinstance(value, kind) and not (kind is int and isinstance(value, bool))):
        return value
    if kind is bool:
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise SettingError(f"HTA_{key}: expected true/false, got {value!r}")
    if kind in (str, Path) and str(value) == "":
        return None
    if kind is Path:
        return Path(os.path.expanduser(str(value)))
    try:
        return kind(value)
    except (TypeError, ValueError):
        expected = getattr(kind, "description", kind.__name__)
        raise SettingError(f"HTA_{key}: expected {expected}, got {value!r}") from None


def read_settings(
    table: Mapping[str, tuple[Default, type, str]],
    overrides: Mapping | None = None,
    environ: Mapping[str, str] | None = None,
    renamed: Mapping[str, str] = RENAMED,
) -> dict:
    """Every key of `table`: its default, then ``HTA_<KEY>`` of `environ` (or of its old name in `renamed`,
    old key -> new key, with a warning), then `overrides` (tests)."""
    environ = os.environ if environ is None else environ
    result: dict = {}
    for key, (default, kind, _help) in table.items():
        value = default(result) if callable(default) else default
        old = next((old for old, new in renamed.items() if new == key), None)
        if old and f"HTA_{old}" in environ:
            if f"HTA_{key}" in environ:
                warnings.warn(f"HTA_{old} is ignored: HTA_{key} is set", FutureWarning, stacklevel=2)
            else:
                warnings.warn(f"HTA_{old} is deprecated: set HTA_{key} instead", FutureWarning, stacklevel=2)
                value = environ[f"HTA_{old}"]
        if f"HTA_{key}" in environ:
            value = environ[f"HTA_{key}"]
        if overrides and key in overrides:
            value = overrides[key]
        result[key] = coerce(key, value, kind)
    return result


def settings(overrides: Mapping | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """The library's settings now: defaults, then the environment, then `overrides`."""
    return read_settings(SETTINGS, overrides, environ)


def setting(key: str):
    """One library setting, read from the environment at call time."""
    return settings()[key]


def models_dir() -> Path:
    """The writable models directory in force now (`HTA_MODELS_DIR`, else `$HTA_HOME/models`)."""
    return setting("MODELS_DIR")


def bundled_models_dir() -> Path | None:
    """The read-only directory of the bundled default model (`HTA_BUNDLED_MODELS_DIR`), or None."""
    return setting("BUNDLED_MODELS_DIR")
