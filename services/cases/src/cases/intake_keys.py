"""The intake key pair: agencies seal case reports to its public half, only cases opens them.

Rotation adds a pair (agencies pick the new public key up from the file they are given);
retiring deletes the old private halves, after which the reports sealed to them on the
agencies' topics open nowhere — the last step of erasing a child whose case an agency
reported. Retiring while the cases worker still has reports to read would lose them, so it
is refused until the worker's group has consumed every agency updates topic to its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from chassis.keypairs import active_key_id, add_keypair, retire_keys
from contracts.topics import agency_updates_topic

CASES_GROUP = "lienganh-cases"


def rotate(private_path: Path) -> str:
    return add_keypair(private_path)


def unread_reports(bootstrap_servers: str, agencies: Sequence[str]) -> int:
    """Records on the agencies' updates topics the cases worker has not committed yet
    (a partition without a commit counts everything still in it)."""
    topics = [agency_updates_topic(agency) for agency in agencies]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        committed = admin.list_consumer_group_offsets(CASES_GROUP, partitions=partitions)
        unread = 0
        for tp in partitions:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            unread += max(0, ends[tp] - position)
        return unread
    finally:
        consumer.close()
        admin.close()


class ReportsStillUnread(Exception):
    pass


def retire(
    private_path: Path, *, bootstrap_servers: str, agencies: Sequence[str], force: bool = False
) -> tuple[str, list[str]]:
    """Delete every private key but the active one; (active id, retired ids)."""
    unread = 0 if force else unread_reports(bootstrap_servers, agencies)
    if unread:
        raise ReportsStillUnread(
            f"{unread} agency update(s) not yet read by the cases worker; retire once it has "
            "caught up (or --force, losing any report sealed to a retired key)"
        )
    return active_key_id(private_path), retire_keys(private_path)
