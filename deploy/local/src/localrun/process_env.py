"""The environment every local process starts with: the caller's, on a leaner malloc.

glibc gives each thread that allocates its own malloc arena (up to eight a core) and keeps
what was freed in it. A worker runs ~18 threads (its executor, the Kafka client, the outbox
relay), the cases API up to 8: under the pipeline benchmark the busiest workers peaked
10-15 MiB higher each than on two arenas (whole system 2,040 → 1,996 MiB), for the same
throughput. The container image sets the same (Dockerfile).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

LEAN_MALLOC = {"MALLOC_ARENA_MAX": "2"}


def process_env(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child, `LEAN_MALLOC` unless the environment says
    otherwise, then `overrides`."""
    return {**LEAN_MALLOC, **os.environ, **(overrides or {})}
