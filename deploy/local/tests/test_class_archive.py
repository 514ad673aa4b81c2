"""The broker maps Kafka's classes from a CDS archive made once per set of jars."""

from __future__ import annotations

import subprocess
from pathlib import Path

from localrun.kafka import (
    CLASS_ARCHIVE,
    JVM_FLAGS,
    LocalBroker,
    ensure_class_archive,
    ensure_kafka_jars,
)


def test_the_archive_is_made_once_beside_the_jars_and_the_jvm_can_map_it():
    libs = ensure_kafka_jars()
    archive = ensure_class_archive(libs)
    assert archive == libs / CLASS_ARCHIVE
    assert ensure_class_archive(libs) == archive  # made once: the second call finds it
    # -Xshare:on fails instead of falling back: proof the JVM accepts this archive.
    mapped = subprocess.run(
        [
            "java",
            *JVM_FLAGS,
            f"-XX:SharedArchiveFile={archive}",
            "-Xshare:on",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            "--version",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mapped.returncode == 0, mapped.stderr


def test_every_broker_maps_it_except_the_training_one(tmp_path: Path):
    archive = ensure_class_archive()
    assert archive is not None
    command = LocalBroker(tmp_path / "broker").command()
    assert f"-XX:SharedArchiveFile={archive}" in command
    training = LocalBroker(
        tmp_path / "training", jvm_flags=(f"-XX:ArchiveClassesAtExit={tmp_path / 'a.jsa'}",)
    ).command()
    assert not any(flag.startswith("-XX:SharedArchiveFile") for flag in training)
