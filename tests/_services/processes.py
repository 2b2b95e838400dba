"""What the test services share: a free loopback port, and children that die with the test process."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable

__all__ = ["die_with_parent", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``sig`` if the test process dies without stopping it (PR_SET_PDEATHSIG)."""

    def preexec() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, sig)
        except (OSError, AttributeError):
            pass

    return preexec
