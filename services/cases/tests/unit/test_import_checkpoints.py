"""When an importing process checkpoints the WAL (`cases.bulk_import._Checkpoints`): after
its turn every few batches, beside the other's write, then once more at its next turn,
before writing, so that the WAL starts over."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cases import bulk_import


@dataclass
class _Noted:
    """Where the process was each time it checkpointed."""

    now: str = ""
    checkpoints: list[str] = field(default_factory=list)

    def checkpoint(self, _engine: object) -> None:
        self.checkpoints.append(self.now)


def _import(batches: int, every: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    noted = _Noted()
    monkeypatch.setattr(bulk_import, "checkpoint", noted.checkpoint)
    state = bulk_import._Checkpoints(engine=None, every=every)  # type: ignore[arg-type]
    for number in range(1, batches + 1):
        noted.now = f"in turn {number}"
        state.in_turn()
        noted.now = f"after turn {number}"
        state.after_turn()
    return noted.checkpoints


def test_every_few_batches_a_checkpoint_after_the_turn_then_one_in_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _import(5, 2, monkeypatch) == ["after turn 2", "in turn 3", "after turn 4", "in turn 5"]
    assert _import(7, 3, monkeypatch) == ["after turn 3", "in turn 4", "after turn 6", "in turn 7"]


def test_no_checkpoint_before_the_first_few_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _import(4, 5, monkeypatch) == []
