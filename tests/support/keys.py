"""Key pairs for tests: the operators' dead-letter pair, sealing in consumers, opened here."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chassis.dead_letters import value_context
from chassis.keypairs import load_opener, load_or_create_keypair, load_sealer, public_path_for
from chassis.sealing import PrivateOpener, PublicSealer
from contracts.envelope import KafkaRecord


@dataclass(frozen=True)
class DeadLetterKeys:
    sealer: Callable[[], PublicSealer]
    opener: PrivateOpener

    def open(self, record: KafkaRecord) -> bytes:
        """A dead letter's original value (it is sealed to the operators' key)."""
        context = value_context(
            record.header("dlq-original-topic") or "",
            int(record.header("dlq-original-partition") or -1),
            int(record.header("dlq-original-offset") or -1),
        )
        return self.opener.open_bytes(record.value.decode(), context=context)


def make_dead_letter_keys(folder: Path) -> DeadLetterKeys:
    private = folder / "dead-letters.private.json"
    load_or_create_keypair(private)
    sealer = load_sealer(public_path_for(private))
    return DeadLetterKeys(sealer=lambda: sealer, opener=load_opener(private))


@cache
def throwaway_dead_letter_keys() -> DeadLetterKeys:
    """One pair per test process, for helpers that build processors outside fixtures."""
    return make_dead_letter_keys(Path(tempfile.mkdtemp(prefix="lienganh-dlq-keys-")))
