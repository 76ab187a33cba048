"""Option types and deprecated option names shared by the command lines (`classifier.cli`, `training.cli`)."""

from __future__ import annotations

import argparse
import sys


def positive_int(value: str) -> int:
    """An argparse type: an integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def non_negative_int(value: str) -> int:
    """An argparse type: an integer of at least 0."""
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {number}")
    return number


class DeprecatedAlias(argparse.Action):
    """An old option name: stores its value as the new option does, after a warning on stderr."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        """Warn that `option_string` is deprecated, then store `values` under the new option's name."""
        print(
            f"warning: {option_string} is deprecated and will be removed in the next release; use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser, old: str, new: str, dest: str, **kwargs) -> None:
    """Accept `old` as a hidden, deprecated spelling of option `new` (which stores into `dest`)."""
    parser.add_argument(
        old, dest=dest, action=DeprecatedAlias, new=new, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs
    )
