"""Fixtures shared by every test folder: a real Kafka broker, PostgreSQL, the whole system.

Each is started once per test session on free loopback ports in a temporary folder, and
stopped at the end. No mock broker, no in-memory database.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Import the real packages before pytest's importlib mode names test modules after their
# folders (`chassis/tests/…` → `chassis.tests…`), which would shadow them.
import chassis  # noqa: F401
import contracts  # noqa: F401
from contracts.topics import DEFAULT_AGENCIES, declared_topics


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from localrun.kafka import LocalBroker, ensure_kafka_jars
    from localrun.topics import create_topics

    ensure_kafka_jars()
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        create_topics(broker.bootstrap_servers, declared_topics())
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def dead_letter_keys(tmp_path_factory: pytest.TempPathFactory) -> object:
    """The operators' dead-letter key pair: consumers seal dead letters to it, tests open."""
    from tests.support.keys import make_dead_letter_keys

    return make_dead_letter_keys(tmp_path_factory.mktemp("dead-letter-keys"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    from localrun.postgres import LocalPostgres

    # Not under pytest's basetemp: any other pytest session on the machine resets that
    # folder to mode 0700, and the `postgres` user could no longer reach its data.
    base_dir = Path(tempfile.mkdtemp(prefix="lienganh-postgres-"))
    server = LocalPostgres(base_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


def _fresh_database(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    url: str = server.create_database(name)
    request.addfinalizer(lambda: server.drop_database(name))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind the services support."""
    return _fresh_database(request.param, request, tmp_path)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_database(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """For a store's contract test: None for its in-memory fake, else a fresh database of
    each kind, so the fake and the real store are held to the same scenarios."""
    if request.param == "memory":
        return None
    return _fresh_database(request.param, request, tmp_path)


@pytest.fixture(scope="session")
def system(kafka_broker: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.support.system import start_system

    running = start_system(
        tmp_path_factory.mktemp("system"),
        kafka_broker.bootstrap_servers,  # type: ignore[attr-defined]
        DEFAULT_AGENCIES,
    )
    try:
        yield running
    finally:
        running.supervisor.stop()


@pytest.fixture(autouse=True)
def _shared_system_is_whole(request: pytest.FixtureRequest) -> None:
    """A process of the shared system that crashed fails the next test at once, with its
    log, instead of leaving every later test to time out on a pipeline missing a stage."""
    if "system" not in request.fixturenames:
        return
    supervisor = request.getfixturevalue("system").supervisor
    crashed = supervisor.first_exited()
    if crashed is not None:
        pytest.fail(
            f"the shared system's {crashed} has exited; its log ends:\n"
            f"{supervisor.log_tail(crashed)}",
            pytrace=False,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that start a whole system of their own (`pytest.mark.own_system`) before
    the first test that starts the shared one: the shared system lives until the session
    ends, and two whole systems on a two-core machine starve each other."""
    own = [item for item in items if item.get_closest_marker("own_system")]
    if not own:
        return
    rest = [item for item in items if not item.get_closest_marker("own_system")]
    first_shared = next(
        (i for i, item in enumerate(rest) if "system" in getattr(item, "fixturenames", ())),
        len(rest),
    )
    items[:] = rest[:first_shared] + own + rest[first_shared:]
