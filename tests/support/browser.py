"""Headless Chromium for browser tests: Debian's `chromium`, driven by Playwright.

Never `playwright install` (no browser downloads here): the fixture installs the Debian
package when it is missing, as `LocalPostgres` installs PostgreSQL, so a fresh machine works.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


def ensure_chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError("chromium is missing and apt-get is not available to install it")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, apt, "update", "-qq"], check=True, env=env)
    subprocess.run([*prefix, apt, "install", "-y", "-qq", "chromium"], check=True, env=env)
    if not CHROMIUM.exists():
        raise RuntimeError(f"installed chromium, but {CHROMIUM} is not there")
    return CHROMIUM


def artifact(name: str) -> Path:
    """Where a kept test artifact (screenshot) goes; the folder is gitignored."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
