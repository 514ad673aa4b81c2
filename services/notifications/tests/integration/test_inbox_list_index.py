"""Revision 0002: an officer's in-app list is read in index order, never sorted whole."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlmodel import col, select

from chassis.db import create_db_engine
from chassis.migrations import upgrade
from notifications.adapters.tables import Notification
from notifications.migrations import TABLES


def test_the_in_app_list_reads_the_inbox_index_without_sorting(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'notifications.db'}")
    upgrade(engine, TABLES)
    query = (  # as GET /notifications and the web inbox ask it
        select(Notification)
        .where(Notification.recipient_id == "police-inspector-hn-01")
        .where(Notification.channel == "in_app")
        .order_by(col(Notification.created_at).desc())
        .limit(50)
    )
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        plan = " | ".join(
            row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        )
    engine.dispose()
    assert "USING INDEX ix_notifications_inbox" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
