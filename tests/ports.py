"""Loopback ports for the tests that start servers (the service, Label Studio)."""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    """A free loopback port: from HTA_TEST_PORTS ("first-last") when set, else one the system picks."""
    first, _, last = os.environ.get("HTA_TEST_PORTS", "0-0").partition("-")
    for port in range(int(first), int(last) + 1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port in HTA_TEST_PORTS={os.environ['HTA_TEST_PORTS']}")
