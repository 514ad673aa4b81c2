"""Ports handed to processes that bind later: never twice, never where the kernel puts
outgoing connections."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localrun import ports
from localrun.ports import ephemeral_start, free_port, is_free


def test_no_port_is_handed_out_twice_and_none_lies_in_the_ephemeral_range():
    handed = [free_port() for _ in range(300)]
    assert len(set(handed)) == len(handed)
    assert all(ports.LOWEST_PORT <= port < ephemeral_start() for port in handed)
    assert all(is_free(port) for port in handed)


def test_a_port_someone_holds_is_skipped(monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        draws = iter([taken, taken, 23456])
        monkeypatch.setattr(ports, "ephemeral_start", lambda: 60000)
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(draws))
        monkeypatch.setattr(ports, "_handed_out", set())
        if not is_free(23456):
            pytest.skip("port 23456 is busy on this machine")
        assert free_port() == 23456


def test_the_ephemeral_range_is_read_from_the_kernel(tmp_path: Path):
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("40000\t60999\n")
    assert ephemeral_start(range_file) == 40000
    assert ephemeral_start(tmp_path / "missing") == ports.DEFAULT_EPHEMERAL_START


def test_without_room_below_the_ephemeral_range_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(ports, "ephemeral_start", lambda: ports.LOWEST_PORT + 10)
    handed = {free_port() for _ in range(20)}
    assert len(handed) == 20
    assert all(is_free(port) for port in handed)
