"""`lienganh status`: per consumer group and partition, committed offset, end offset, lag.

Read with kafka-python's admin client (groups, their members' subscriptions, committed
offsets) and a group-less consumer (earliest and end offsets). A partition the group has
not committed yet counts as lag from its earliest offset — Kafka's own tool prints "-".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from rich.table import Table

from chassis.lag import partition_lag


@dataclass(frozen=True)
class PartitionStatus:
    group: str
    topic: str
    partition: int
    committed: int | None  # the next offset the group will read; None: no commit yet
    end: int
    earliest: int

    @property
    def lag(self) -> int:
        return partition_lag(self.end, self.committed, self.earliest)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"lag": self.lag}


def consumer_status(
    bootstrap_servers: str, groups: Sequence[str] = (), **client: Any
) -> list[PartitionStatus]:
    """Every partition of every topic each group subscribes to or has committed on.

    `groups` empty: every consumer group the broker knows. `client`: extra kafka-python
    options (security)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, **client)
    try:
        names = list(groups) or sorted(group["group_id"] for group in admin.list_groups())
        if not names:
            return []
        committed = admin.list_group_offsets(dict.fromkeys(names))
        described = admin.describe_groups(names)
    finally:
        admin.close()
    topics_of = {
        group: {tp.topic for tp in committed.get(group, {})}
        | _subscribed_topics(described.get(group, {}))
        for group in names
    }
    offsets = KafkaConsumer(bootstrap_servers=bootstrap_servers, **client)
    try:
        all_topics = set().union(*topics_of.values())
        partitions = {
            TopicPartition(topic, number)
            for topic in all_topics
            for number in offsets.partitions_for_topic(topic) or ()
        }
        ends = offsets.end_offsets(list(partitions)) if partitions else {}
        earliest = offsets.beginning_offsets(list(partitions)) if partitions else {}
    finally:
        offsets.close()
    rows = []
    for group in names:
        group_committed = committed.get(group, {})
        for tp in sorted(partitions, key=lambda tp: (tp.topic, tp.partition)):
            if tp.topic not in topics_of[group]:
                continue
            commit = group_committed.get(tp)
            offset = commit.offset if commit is not None and commit.offset >= 0 else None
            rows.append(
                PartitionStatus(group, tp.topic, tp.partition, offset, ends[tp], earliest[tp])
            )
    return rows


def _subscribed_topics(description: dict[str, Any]) -> set[str]:
    topics: set[str] = set()
    for member in description.get("members", []):
        metadata = member.get("member_metadata")
        if isinstance(metadata, dict):
            topics.update(metadata.get("topics", []))
    return topics


def status_table(rows: Sequence[PartitionStatus]) -> Table:
    table = Table()
    for name in ("group", "topic"):
        table.add_column(name, overflow="fold")  # a cut-off name is no use to an operator
    for name in ("partition", "committed", "end", "lag"):
        table.add_column(name, justify="right")
    for row in rows:
        committed = "none" if row.committed is None else str(row.committed)
        lag = f"[bold red]{row.lag}[/]" if row.lag else "0"
        table.add_row(row.group, row.topic, str(row.partition), committed, str(row.end), lag)
    return table
