"""Free loopback ports for processes that bind later.

A port found free now is bound by its process seconds later. Two things can take it in
between: this allocator handing it out twice, and the kernel giving it to an outgoing
connection as its ephemeral source port (a whole system opens hundreds). Ports are
therefore drawn below the kernel's ephemeral range and never handed out twice by one
process. A CI run lost a whole system's cases worker to exactly this
(`address already in use` on its Faust web port, readiness answered by whoever held it).
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 20000  # above well-known and common service ports
DEFAULT_EPHEMERAL_START = 32768  # Linux default, when the range cannot be read

_handed_out: set[int] = set()
_lock = threading.Lock()


def ephemeral_start(range_file: Path = EPHEMERAL_RANGE_FILE) -> int:
    try:
        return int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1", attempts: int = 200) -> int:
    """A port free on `host` now, outside the ephemeral range, not handed out before."""
    top = ephemeral_start()
    with _lock:
        if top - LOWEST_PORT > attempts:
            for _ in range(attempts):
                port = random.randrange(LOWEST_PORT, top)
                if port not in _handed_out and is_free(port, host):
                    _handed_out.add(port)
                    return port
        # A machine whose ephemeral range leaves no room below it: let the kernel choose.
        while True:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return int(port)
