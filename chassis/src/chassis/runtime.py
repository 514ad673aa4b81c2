"""What every composition root assembles: database, API app, worker app.

Each service's `bootstrap.py` says only what is its own (tables, routers, subscriptions);
the wiring they share is here once.

An API process never imports Faust and a worker never imports FastAPI: each stack is
imported inside the function that builds it (and so in each bootstrap's `create_api` /
`create_worker`). That is ~10 MiB less per process (of ~120) and a faster start after a crash.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from chassis import store_version
from chassis.db import check_database, create_db_engine
from chassis.inbox import ProcessedEvent
from chassis.logs import configure_logging
from chassis.outbox import OutboxEvent
from chassis.settings import ServiceSettings
from chassis.waiting import wait_for_database
from contracts.topics import DEFAULT_AGENCIES

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from chassis.auth import TokenVerifier
    from chassis.pacing import BulkPacing
    from chassis.subscriptions import Subscriptions
    from chassis.worker import ScheduledJob, WorkerApp
    from contracts.access.policy import ServiceRules


def open_service(
    settings: ServiceSettings, service: str, tables: Sequence[type[SQLModel]]
) -> Engine:
    """Logging, then the service's own database with its tables plus outbox and inbox.

    A database that does not answer yet is waited for (logged, with backoff), never a reason
    to exit: see `chassis.waiting`."""
    configure_logging(service, settings.log_level)
    engine = create_db_engine(settings.database_url_for(service))
    wait_for_database(engine)
    store_tables: list[type[SQLModel]] = [*tables, OutboxEvent, ProcessedEvent]
    if not store_version.is_current(engine, store_tables):
        from chassis import migrations  # Alembic only for a store behind (~9 MiB)

        migrations.upgrade(engine, store_tables)
    return engine


def api_app(
    settings: ServiceSettings,
    *,
    service: str,
    title: str,
    engine: Engine,
    routers: Sequence[APIRouter],
    access_rules: ServiceRules | None = None,
) -> FastAPI:
    """The service's FastAPI app: ops routes, the access policy on every route (the
    service's own rules unless a deployment resolves them), token verification,
    `app.state.engine`."""
    from chassis.api import create_service_app
    from contracts.access.policy import access_policy

    app = create_service_app(
        service=service,
        title=title,
        routers=routers,
        access_rules=access_rules or access_policy().for_service(service),
        readiness_checks=[lambda: check_database(engine)],
    )
    app.state.token_verifier = load_token_verifier(settings)
    app.state.engine = engine
    return app


def worker_app(
    settings: ServiceSettings,
    *,
    service: str,
    consumer: str,
    agencies: Sequence[str] = DEFAULT_AGENCIES,
    engine: Engine,
    subscriptions: Subscriptions,
    unhurried: Collection[str] = (),
    relay_outbox: bool = True,
    jobs: Sequence[ScheduledJob] = (),
    bulk_pacing: BulkPacing | None = None,
) -> WorkerApp:
    """The service's worker: one idempotent processor per subscribed topic, plus the
    service's scheduled jobs. `consumer` is the service's name in `contracts/topics.py`; a
    handler map that differs from what the contracts declare for it stops the worker here.
    `unhurried`: its topics off the path to an officer's notification (see `batch_waits`)."""
    from chassis.consumer import EventProcessor
    from chassis.dead_letters import dead_letter_sealer
    from chassis.kafka_security import KafkaSecurity
    from chassis.subscriptions import check_subscriptions
    from chassis.worker import WorkerSpec, build_worker_app

    check_subscriptions(consumer, subscriptions, agencies)
    # Fails here, at start, when the operators' key is missing: never an unsealed dead letter.
    sealer = dead_letter_sealer(settings.data_dir, settings.dead_letter_public_key_file)
    processors = {
        topic: EventProcessor(
            service=service,
            consumer=f"{service}.{topic}",
            engine=engine,
            handlers=handlers,
            dead_letter_sealer=sealer,
        )
        for topic, handlers in subscriptions.items()
    }
    return build_worker_app(
        WorkerSpec(
            service=service,
            group_id=f"lienganh-{service}",
            bootstrap_servers=settings.kafka_bootstrap_servers,
            data_dir=settings.data_dir,
            engine=engine,
            processors=processors,
            web_host=settings.worker_web_host,
            web_port=settings.worker_web_port,
            relay_outbox=relay_outbox,
            outbox_poll_interval_s=settings.outbox_poll_interval_s,
            batch_wait_s=settings.consumer_batch_wait_s,
            batch_waits=batch_waits(settings, subscriptions, unhurried),
            jobs=jobs,
            kafka_security=KafkaSecurity.from_settings(settings),
            bulk_pacing=bulk_pacing,
        )
    )


def batch_waits(
    settings: ServiceSettings, subscriptions: Mapping[str, object], unhurried: Collection[str]
) -> dict[str, float]:
    """How long each unhurried topic's consumer waits to fill a batch. Nobody waits on what
    they write (a report, an agency's inbox, a case following its referrals), so a quarter
    second costs no one anything, and each batch's fixed cost (Faust's hand-over, a
    transaction, a commit) is paid for more events: it cut reporting's CPU a case by a fifth."""
    unknown = set(unhurried) - set(subscriptions)
    if unknown:
        raise ValueError(f"unhurried topics it does not consume: {sorted(unknown)}")
    return {topic: settings.consumer_unhurried_batch_wait_s for topic in unhurried}


def load_token_verifier(settings: ServiceSettings) -> TokenVerifier:
    from chassis.auth import TokenVerifier

    path = settings.public_key_path()
    if not path.exists():
        raise FileNotFoundError(
            f"no JWT public key at {path}: set {settings.model_config.get('env_prefix')}"
            "JWT_PUBLIC_KEY_FILE, or run `lienganh token` once to create the local issuer's keys"
        )
    return TokenVerifier(
        path.read_bytes(), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
