"""The web inbox's session store on SQLite and PostgreSQL: a hash of the id as key, the token
sealed, logout deletes, expiry no later than the token's."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from chassis.auth import LocalIssuer
from chassis.db import create_db_engine, create_tables, transaction
from notifications.adapters.inbox_sessions import (
    end_session,
    find_session,
    open_session,
    token_expiry,
)
from notifications.adapters.tables import InboxSession, utc_now

HOUR = 3600


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    create_tables(engine, [InboxSession])
    yield engine
    engine.dispose()


@pytest.fixture
def issuer(tmp_path: Path) -> LocalIssuer:
    return LocalIssuer(tmp_path / "keys")


def open_for(engine: Engine, token: str, *, max_age_s: int = 8 * HOUR, now=None):
    return open_session(
        engine,
        token=token,
        subject="police-inspector-hn-01",
        agency="police",
        now=now or utc_now(),
        max_age_s=max_age_s,
    )


def rows(engine: Engine) -> list[InboxSession]:
    with Session(engine) as session:
        return list(session.exec(select(InboxSession)))


def test_the_table_keeps_a_hash_of_the_id_and_a_sealed_token_never_either_itself(engine, issuer):
    token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
    new = open_for(engine, token)
    [row] = rows(engine)
    assert row.id_hash == hashlib.sha256(new.session_id.encode()).hexdigest()
    stored = " ".join(str(value) for value in row.model_dump().values())
    assert new.session_id not in stored
    assert token not in stored and token.split(".")[1] not in stored
    found = find_session(engine, new.session_id, now=utc_now())
    assert found is not None
    assert (found.token, found.subject, found.agency) == (token, "police-inspector-hn-01", "police")
    assert found.csrf_token == new.csrf_token and len(new.csrf_token) >= 43


def test_ids_are_random_and_only_the_exact_id_opens_a_session(engine, issuer):
    token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
    first, second = open_for(engine, token), open_for(engine, token)
    assert first.session_id != second.session_id and first.csrf_token != second.csrf_token
    assert find_session(engine, first.session_id[:-1], now=utc_now()) is None
    assert find_session(engine, "", now=utc_now()) is None


def test_ending_a_session_deletes_it_so_its_id_opens_nothing(engine, issuer):
    token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
    ended, kept = open_for(engine, token), open_for(engine, token)
    end_session(engine, ended.session_id)
    assert find_session(engine, ended.session_id, now=utc_now()) is None
    assert find_session(engine, kept.session_id, now=utc_now()) is not None
    assert len(rows(engine)) == 1


def test_a_session_ends_with_its_token_or_its_maximum_age_whichever_is_first(engine, issuer):
    now = utc_now()
    short_token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"], HOUR)
    long_token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"], 24 * HOUR)
    by_token = open_for(engine, short_token, now=now)
    by_age = open_for(engine, long_token, now=now)
    assert by_token.expires_at == token_expiry(short_token)
    assert abs(by_token.expires_at - (now + timedelta(hours=1))) < timedelta(seconds=5)
    assert by_age.expires_at == now + timedelta(hours=8)

    later = now + timedelta(hours=1, seconds=5)
    assert find_session(engine, by_token.session_id, now=later) is None
    assert find_session(engine, by_age.session_id, now=later) is not None
    assert find_session(engine, by_age.session_id, now=now + timedelta(hours=8)) is None
    assert rows(engine) == []  # an expired session found is deleted


def test_opening_a_session_clears_expired_ones(engine, issuer):
    token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
    open_for(engine, token, max_age_s=60, now=utc_now() - timedelta(minutes=5))
    fresh = open_for(engine, token)
    assert [row.csrf_token for row in rows(engine)] == [fresh.csrf_token]


def test_a_sealed_token_copied_to_another_session_opens_nothing(engine, issuer):
    token = issuer.mint("police-inspector-hn-01", "police", ["inspector"], ["01"])
    victim = open_for(engine, token)
    other = issuer.mint("police-inspector-hcm-01", "police", ["inspector"], ["79"])
    attacker = open_for(engine, other)
    victim_hash = hashlib.sha256(victim.session_id.encode()).hexdigest()
    attacker_hash = hashlib.sha256(attacker.session_id.encode()).hexdigest()
    with transaction(engine) as session:
        sealed = session.get(InboxSession, victim_hash).sealed_token
        session.get(InboxSession, attacker_hash).sealed_token = sealed
    assert find_session(engine, attacker.session_id, now=utc_now()) is None


def test_a_token_without_a_readable_expiry_is_not_given_a_session(engine):
    with pytest.raises(ValueError, match="exp"):
        open_for(engine, "not-a-token")
    assert rows(engine) == []
