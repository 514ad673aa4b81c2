"""A wake-up when another connection commits outbox rows to PostgreSQL (LISTEN/NOTIFY).

PostgreSQL's counterpart of `chassis.file_watch`. There is no WAL file of the service's own
to watch there, and an idle relay that looked ten times a second cost each process 2.7 % of
a core and its server backend as much again: the whole idle system 39 % of a core, against
9 % on SQLite. So whoever adds outbox rows says so (`notify_outbox`, a `NOTIFY` in the same
transaction: delivered at commit, never for a rollback, one a transaction), and the relay
listens on a connection of its own (`NotifyWatch`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL
from sqlmodel import Session

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

CHANNEL = "lienganh_outbox"
_NOTIFIED = "lienganh_outbox_notified"  # session.info: the transaction that notified


def notify_outbox(session: Session) -> None:
    """Tell the relays listening on this database that the current transaction adds outbox
    rows. PostgreSQL only, once a transaction (elsewhere nothing listens)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    connection = session.connection()  # begins the session's transaction if need be
    transaction = session.get_transaction()
    if session.info.get(_NOTIFIED) is transaction:
        return
    connection.exec_driver_sql(f"NOTIFY {CHANNEL}")
    session.info[_NOTIFIED] = transaction


class NotifyWatch:
    """Calls `on_change` on the loop it is attached to when a transaction that added outbox
    rows commits: once, then not again before the next `arm()` (as `FileWatch` does; what
    is committed meanwhile waits in the connection and is reported when it listens again).

    Without its connection (the server restarted or is away) it is not armed: `arm()`
    connects again, at most once every `retry_s`, and the caller polls meanwhile. A watch
    that becomes armed calls `on_change` once, since what was committed before went unheard.
    """

    def __init__(self, url: URL, retry_s: float = 5.0) -> None:
        self._connect_args: dict[str, Any] = {
            **url.translate_connect_args(username="user", database="dbname"),
            **url.query,
        }
        self._retry_s = retry_s
        self._connection: psycopg.Connection | None = None
        self._tried_at = float("-inf")
        self._on_change: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening: int | None = None  # the socket it reads, while it does

    def attach(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[], None]) -> None:
        self._loop, self._on_change = loop, on_change

    def arm(self) -> bool:
        """Listen if not listening yet; whether it listens now."""
        if self._connection is None and time.monotonic() - self._tried_at >= self._retry_s:
            self._tried_at = time.monotonic()
            if self._connect():
                self._on_change()
        if self._connection is not None:
            self._listen()
        return self._connection is not None

    def close(self) -> None:
        self._disconnect()

    def _connect(self) -> bool:
        import psycopg

        try:
            connection = psycopg.connect(**self._connect_args, autocommit=True, connect_timeout=2)
            connection.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as error:
            logger.warning("cannot listen for outbox commits (%s): polling", error)
            return False
        self._connection = connection
        return True

    def _listen(self) -> None:
        if self._listening is None and self._loop is not None and self._connection is not None:
            self._listening = self._connection.fileno()
            self._loop.add_reader(self._listening, self._read)

    def _stop_listening(self) -> None:
        if self._listening is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._listening)
        self._listening = None

    def _read(self) -> None:
        import psycopg

        assert self._connection is not None
        pgconn = self._connection.pgconn
        heard = False
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                heard = True
        except psycopg.Error:
            # The server went away (it says so first, then closes): look now, then poll
            # until `arm()` connects again.
            self._disconnect()
            self._on_change()
            return
        if heard:
            self._stop_listening()  # until the next `arm()`
            self._on_change()

    def _disconnect(self) -> None:
        self._stop_listening()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
