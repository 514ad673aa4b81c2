"""Dead letters that hold nothing in clear.

A consumer that gives up on a record writes it to `<topic>.dlq` with the reason in `dlq-*`
headers. A rejected record may be anything a producer sent, identity in clear included, so
its value is sealed to the operators' dead-letter public key (HPKE) before it leaves the
consumer: only whoever holds the private key — the operators' replay tool — can open it. The
key and original headers stay as they were (ids and types, never identity), so records can be
listed by reason and put back on their topic after a fix.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from chassis.keypairs import Reloading, load_or_create_keypair, load_sealer, public_path_for
from chassis.sealing import PublicSealer

SEALED_MARK = "pk1"


def value_context(topic: str, partition: int, offset: int) -> str:
    """What a dead letter's sealed value is bound to: the place it was read from."""
    return f"dead-letter:{topic}:{partition}:{offset}"


def seal_value(
    sealer: PublicSealer, value: bytes, topic: str, partition: int, offset: int
) -> bytes:
    return sealer.seal_bytes(value, context=value_context(topic, partition, offset)).encode()


def default_private_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "dead-letters.private.json"


def dead_letter_sealer(data_dir: Path, public_key_file: Path | None) -> Callable[[], PublicSealer]:
    """The operators' public key as a worker uses it: the configured file (deployment), or
    a local pair under data_dir/keys made on first use (development)."""
    if public_key_file is None:
        private = default_private_path(data_dir)
        load_or_create_keypair(private)
        public_key_file = public_path_for(private)
    return Reloading(public_key_file, load_sealer).current
