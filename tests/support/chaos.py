"""Chaos: the whole system under its restarting supervisor, faults injected while a seeded
load runs, and the invariants checked from the services' databases and the topics themselves.

Used by `benchmarks/chaos.py` (short and long runs). The system is
what `make run` runs: the broker is one of the supervised processes, and a thread calls
`Supervisor.watch()` like `lienganh run` does, so a killed process is restarted by the same
code (`CHAOS_POLICY`: a budget no chaos run exhausts, short backoff).

What the load does (all seeded):
- intake: synthetic reports (`cases.synthetic`, consent given, Hà Nội) POSTed at a steady
  rate, each under its own token subject (`reported_by`), retried until it gets 201. A failed
  POST is counted by kind: `connect` (never reached the API: safe to retry) or `ambiguous`
  (the connection broke after the request was sent: the case may exist; the retry's subject
  is the same, so a duplicate shows up as two cases with one `reported_by`);
- agency actions: officers list their inbox and acknowledge, accept, reject, transfer, start
  or complete a referral; every action answered 200 must reach the referrals service.

Each fault is followed by a probe case that has to flow through the killed process; its
recovery time is from the signal until the process answers ready again and the probe arrived.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import sqlite3
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from chassis.auth import LocalIssuer
from contracts.topics import CASES_EVENTS, DEFAULT_AGENCIES, agency_referrals_topic, declared_topics
from localrun.kafka import LocalBroker, ensure_kafka_jars
from localrun.supervisor import ProcessSpec, RestartPolicy, Supervisor
from localrun.system import Layout, Ports, broker_process, system_processes
from localrun.topics import create_topics
from tests.support.system import RunningSystem

logger = logging.getLogger(__name__)

# Restarts are what a chaos run is about: no budget it could exhaust, and a short backoff so a
# process killed again soon after is not kept down for 30 s (`make run` uses the defaults).
CHAOS_POLICY = RestartPolicy(
    max_restarts=1_000_000, window_s=30, backoff_initial_s=0.5, backoff_max_s=4, metrics_port=0
)
BROKER = "kafka"
MAIL_SINK = "mail-sink"
INTAKE_AGENCY = "hotline_111"
# Which case type reaches an agency: a probe after a fault must pass through that agency.
PROBE_SHAPE: dict[str, dict[str, Any]] = {
    "police": {"case_type": "child_trafficking", "circumstances": {}},
    "labour_inspection": {
        "case_type": "hazardous_child_labour",
        "circumstances": {"employer_identified": True, "signs_of_forced_labour": True},
    },
    "dolisa": {"case_type": "at_risk", "circumstances": {}},
    "education": {"case_type": "at_risk", "circumstances": {}},
}
ACTION_STATE = {
    "acknowledge": "received",
    "accept": "accepted",
    "reject": "rejected",
    "transfer": "rejected",
    "start": "in-progress",
    "complete": "completed",
}


# --- the system under its restarting supervisor -------------------------------------------


@dataclass
class ChaosSystem:
    running: RunningSystem
    broker: LocalBroker
    agencies: tuple[str, ...]
    _stop: threading.Event = field(default_factory=threading.Event)
    _watcher: threading.Thread | None = None
    failure: BaseException | None = None

    @property
    def supervisor(self) -> Supervisor:
        return self.running.supervisor

    @property
    def data_dir(self) -> Path:
        return self.running.data_dir

    def process_names(self) -> list[str]:
        """Every project process (APIs, workers or both in one), not the broker or the mail
        sink."""
        return [s.name for s in self.supervisor.specs if s.name not in (BROKER, MAIL_SINK)]

    def watch_forever(self) -> None:
        """What `lienganh run` does every second, every 0.2 s here."""

        def loop() -> None:
            while not self._stop.wait(0.2):
                try:
                    self.supervisor.watch()
                except Exception as error:  # a process the supervisor gave up on
                    self.failure = error
                    logger.error("supervisor failed: %s", error)
                    return

        self._watcher = threading.Thread(target=loop, name="supervisor-watch", daemon=True)
        self._watcher.start()

    def signal(self, name: str, sig: signal.Signals) -> int:
        """Send `sig` to the process `name` (not its group: a kill -9 of that one process);
        its pid."""
        pid = self.supervisor.pids()[name]
        os.kill(pid, sig)
        return pid

    def is_ready(self, name: str, not_pid: int | None = None) -> bool:
        """Running (as a new process, when `not_pid`) and answering ready."""
        pid = self.supervisor.pids().get(name)
        if pid is None or pid == not_pid:
            return False
        spec = _spec(self.supervisor, name)
        if spec.ready_check is not None:
            return spec.ready_check()
        try:
            return httpx.get(spec.ready_url or "", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
        self.supervisor.stop()


def _spec(supervisor: Supervisor, name: str) -> ProcessSpec:
    return next(spec for spec in supervisor.specs if spec.name == name)


def start_chaos_system(
    data_dir: Path,
    agencies: Sequence[str] = DEFAULT_AGENCIES,
    policy: RestartPolicy = CHAOS_POLICY,
    layout: Layout = "separate",
) -> ChaosSystem:
    """Broker and every service under one restarting supervisor, as `lienganh run` starts
    them (free ports, so it runs beside a developer's `make run`)."""
    ensure_kafka_jars()
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker(data_dir / "kafka")
    kafka = broker_process(broker)
    issuer = LocalIssuer(data_dir / "keys")
    issuer.public_key_pem()
    ports = Ports.free(agencies)
    services = system_processes(
        data_dir=data_dir,
        bootstrap_servers=broker.bootstrap_servers,
        ports=ports,
        agencies=agencies,
        extra_env={"PYTHONUNBUFFERED": "1"},
        layout=layout,
    )
    reports = data_dir / "supervisor.log"

    def report(message: str) -> None:
        with reports.open("a") as out:
            out.write(f"{datetime.now():%H:%M:%S} {message}\n")

    supervisor = Supervisor([kafka, *services], data_dir / "logs", policy=policy, report=report)
    running = RunningSystem(broker.bootstrap_servers, data_dir, ports, issuer, supervisor, layout)
    system = ChaosSystem(running, broker, tuple(agencies))
    try:
        supervisor.start([kafka.name])
        supervisor.wait_ready(timeout_s=240, names=[kafka.name], restart=True)
        create_topics(broker.bootstrap_servers, declared_topics(tuple(agencies)))
        names = [spec.name for spec in services]
        supervisor.start(names)
        supervisor.wait_ready(timeout_s=300, names=names, restart=True)
        system.watch_forever()
    except BaseException:
        system.close()
        raise
    return system


# --- the load ----------------------------------------------------------------------------


@dataclass
class Intake:
    subject: str
    phase: str
    case_id: str | None = None
    failures: Counter[str] = field(default_factory=Counter)


@dataclass
class Action:
    agency: str
    referral_id: str
    case_id: str
    action: str
    transferred_to: str | None = None


class Load:
    """Seeded intake and agency actions against a running system; thread-safe."""

    def __init__(self, system: RunningSystem, agencies: Sequence[str], seed: int) -> None:
        from cases.synthetic import generate_reports

        self.system = system
        self.agencies = list(agencies)
        self.rng = random.Random(seed)
        self._reports: Iterator[dict] = generate_reports(
            1_000_000, seed=seed, duplicate_rate=0, provinces=("01",)
        )
        self._lock = threading.Lock()
        self._sequence = 0
        self.intakes: list[Intake] = []
        self.actions: list[Action] = []
        self.action_outcomes: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="intake")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # intake
    def next_body(self, shape: dict[str, Any] | None = None) -> dict:
        with self._lock:
            body = next(self._reports)
        body = {**body, "consent": {"child_consented": True, "guardian_consented": True}}
        return {**body, **(shape or {})}

    def submit(self, phase: str, body: dict | None = None, timeout_s: float = 900) -> Intake:
        """POST until 201 (the client's job when the API is down); the intake, with its id."""
        with self._lock:
            self._sequence += 1
            intake = Intake(f"chaos-{phase}-{self._sequence:06d}", phase)
            self.intakes.append(intake)
        body = body or self.next_body()
        token = self.system.token(intake.subject, INTAKE_AGENCY, ["intake"], ["01"])
        url = self.system.url("cases", "/cases")
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + timeout_s
        delay = 0.2
        while True:
            try:
                answer = httpx.post(url, json=body, headers=headers, timeout=30)
                if answer.status_code == 201:
                    intake.case_id = str(answer.json()["case_id"])
                    return intake
                if answer.status_code < 500:
                    raise AssertionError(f"intake refused: {answer.status_code} {answer.text}")
                intake.failures[f"http {answer.status_code}"] += 1
            except (httpx.ConnectError, httpx.ConnectTimeout):
                intake.failures["connect"] += 1
            except httpx.TransportError as error:  # sent, then the connection broke
                intake.failures["ambiguous"] += 1
                logger.info("intake %s: %r", intake.subject, error)
            if time.monotonic() > deadline:
                raise TimeoutError(f"intake {intake.subject} not accepted in {timeout_s:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def submit_later(self, phase: str, body: dict | None = None) -> Future[Intake]:
        return self._pool.submit(self.submit, phase, body)

    def run_intake(self, phase: str, rate_per_s: float, stop: threading.Event) -> list[Future]:
        """Intake at a steady rate until `stop` (each POST on its own thread: a retrying one
        does not slow the rest)."""
        futures: list[Future] = []
        started = time.monotonic()
        while not stop.is_set():
            futures.append(self.submit_later(phase))
            next_at = started + len(futures) / rate_per_s
            stop.wait(max(0.0, next_at - time.monotonic()))
        return futures

    # agency actions
    def act_once(self) -> None:
        with self._lock:
            agency = self.rng.choice(self.agencies)
            pick = self.rng.random()
        token = self.system.token(
            f"{agency}-officer-chaos", agency, ["inspector", "case_worker"], ["01"]
        )
        try:
            inbox = self.system.get(f"agency-{agency}", "/referrals", token, limit=500)
        except httpx.HTTPError:
            self.action_outcomes["inbox unavailable"] += 1
            return
        if inbox.status_code != 200:
            self.action_outcomes[f"inbox {inbox.status_code}"] += 1
            return
        open_items = [
            item
            for item in inbox.json()
            if item["state"] in ("requested", "received", "accepted", "in-progress")
        ]
        if not open_items:
            return
        # A state first, then a referral in it: new requests, always the most numerous, do
        # not crowd out accepting, starting and completing.
        states = sorted({item["state"] for item in open_items})
        state = states[int(pick * len(states))]
        in_state = [item for item in open_items if item["state"] == state]
        item = in_state[int(pick * len(states) % 1 * len(in_state))]
        action, body = self._next_step(agency, item)
        path = f"/referrals/{item['id']}/{action}"
        try:
            answer = self.system.post(f"agency-{agency}", path, token, body)
        except httpx.HTTPError:
            self.action_outcomes[f"{action}: unavailable"] += 1
            return
        if answer.status_code == 200:
            self.action_outcomes[f"{action}: 200"] += 1
            with self._lock:
                self.actions.append(
                    Action(agency, item["id"], item["case_id"], action, body.get("to_agency"))
                )
        else:
            self.action_outcomes[f"{action}: {answer.status_code}"] += 1

    def _next_step(self, agency: str, item: dict) -> tuple[str, dict]:
        version = {"version": item["version"]}
        with self._lock:
            roll = self.rng.random()
            others = [a for a in self.agencies if a != agency]
            target = self.rng.choice(others)
        if item["state"] == "requested":
            return "acknowledge", version
        if item["state"] == "received":
            if roll < 0.7:
                return "accept", version
            if roll < 0.85:
                return "reject", {**version, "reason": "Ngoài thẩm quyền (chaos)"}
            return "transfer", {**version, "to_agency": target, "reason": "Chuyển (chaos)"}
        if item["state"] == "accepted":
            return "start", version
        return "complete", {**version, "outcome": {"note": "Hoàn thành (chaos)"}}

    def run_actions(self, rate_per_s: float, stop: threading.Event) -> None:
        while not stop.wait(1 / rate_per_s):
            try:
                self.act_once()
            except Exception:  # an officer's click failing is no reason to stop the run
                logger.exception("agency action failed")
                self.action_outcomes["driver error"] += 1

    def close(self) -> None:
        self._pool.shutdown(wait=True)


# --- faults ------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    process: str
    ready_s: float | None = None
    recovered_s: float | None = None
    probe_case: str | None = None


def fault_kind(process: str, sig: signal.Signals) -> str:
    if process == BROKER:
        return "broker SIGTERM" if sig == signal.SIGTERM else "broker kill -9"
    if process.endswith("-api"):
        return "API kill -9"
    return "worker kill -9" if process.endswith("-worker") else "API and worker kill -9"


def runs(process: str, instance: str) -> bool:
    """`process` is the instance's API, its worker, or both in one (`combined` layout)."""
    return process == instance or process in (f"{instance}-api", f"{instance}-worker")


def probe_agency(process: str, agencies: Sequence[str]) -> str | None:
    return next((agency for agency in agencies if runs(process, f"agency-{agency}")), None)


def inject(
    system: ChaosSystem, load: Load, process: str, sig: signal.Signals, timeout_s: float = 300
) -> Fault:
    """Signal one process, then wait until it is ready again (a new process) and a probe case
    posted right after the signal has flowed through it."""
    fault = Fault(fault_kind(process, sig), process)
    agency = probe_agency(process, system.agencies)
    body = load.next_body(PROBE_SHAPE[agency or "dolisa"])
    old_pid = system.signal(process, sig)
    killed_at = time.monotonic()
    probe = load.submit_later("probe", body)
    deadline = killed_at + timeout_s
    while not system.is_ready(process, not_pid=old_pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process} not ready {timeout_s:.0f}s after {fault.kind}")
        time.sleep(0.1)
    fault.ready_s = time.monotonic() - killed_at
    case_id = probe.result(timeout=max(1.0, deadline - time.monotonic())).case_id
    assert case_id is not None
    fault.probe_case = case_id
    while not probe_flowed(system.data_dir, case_id, process, agency):
        if time.monotonic() > deadline:
            raise TimeoutError(f"probe {case_id} did not flow after {fault.kind} of {process}")
        time.sleep(0.1)
    fault.recovered_s = time.monotonic() - killed_at
    return fault


def fault_plan(
    rng: random.Random, names: Sequence[str], kills: int, broker_restarts: int
) -> list[tuple[str, signal.Signals]]:
    """`kills` kill -9s spread over every process (each at least once when there are enough),
    broker restarts alternating SIGTERM and kill -9, in a seeded order."""
    targets = list(names) * (kills // len(names)) + rng.sample(list(names), kills % len(names))
    plan = [(name, signal.SIGKILL) for name in targets]
    plan += [
        (BROKER, signal.SIGTERM if i % 2 == 0 else signal.SIGKILL) for i in range(broker_restarts)
    ]
    rng.shuffle(plan)
    return plan


# --- reading what happened, not asking the APIs ---------------------------------------------


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        yield db


def _exists(path: Path, sql: str, *args: object) -> bool:
    if not path.exists():
        return False
    try:
        with read_only(path) as db:
            return db.execute(sql, args).fetchone() is not None
    except sqlite3.OperationalError:  # table not created yet, or locked past the timeout
        return False


def probe_flowed(data_dir: Path, case_id: str, process: str, agency: str | None) -> bool:
    """The probe case reached what the process does: a notification (cases → referrals →
    notifications), plus the agency's inbox or the reporting facts when it is one of those."""
    if agency is not None and not _exists(
        data_dir / f"agencies-{agency}.db",
        "SELECT 1 FROM inbox_referrals WHERE case_id = ?",
        case_id,
    ):
        return False
    if runs(process, "reporting") and not _exists(
        data_dir / "reporting.db",
        "SELECT 1 FROM case_facts WHERE case_id = ? AND case_type IS NOT NULL",
        case_id,
    ):
        return False
    return _exists(
        data_dir / "notifications.db", "SELECT 1 FROM notifications WHERE case_id = ?", case_id
    )


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic`, from its start, without a consumer group."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        records = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def dead_letter_count(bootstrap: str) -> dict[str, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        topics = [t for t in consumer.topics() if t.endswith(".dlq")]
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)
        ]
        ends = consumer.end_offsets(partitions) if partitions else {}
        starts = consumer.beginning_offsets(partitions) if partitions else {}
    finally:
        consumer.close()
    counts: Counter[str] = Counter()
    for tp in partitions:
        counts[tp.topic] += ends[tp] - starts[tp]
    return {topic: n for topic, n in counts.items() if n}


def consumer_lag(bootstrap: str) -> dict[str, int]:
    from localrun.status import consumer_status

    lag: Counter[str] = Counter()
    for row in consumer_status(bootstrap):
        lag[f"{row.group} {row.topic}"] += row.lag
    return {name: n for name, n in lag.items() if n}


def unpublished_outbox(data_dir: Path) -> dict[str, int]:
    found = {}
    for path in sorted(data_dir.glob("*.db")):
        with read_only(path) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "outbox" in tables:
                n = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
                if n[0]:
                    found[path.stem] = n[0]
    return found


def undelivered_notifications(data_dir: Path) -> int:
    with read_only(data_dir / "notifications.db") as db:
        row = db.execute("SELECT count(*) FROM notifications WHERE status = 'pending'").fetchone()
        return int(row[0])


def wait_drained(system: ChaosSystem, timeout_s: float = 900) -> float:
    """Until every group has lag 0, every outbox is published and no notification waits;
    the seconds it took (a liveness bound, not a speed assertion)."""
    started = time.monotonic()
    while True:
        try:
            lag = consumer_lag(system.running.bootstrap)
            outbox = unpublished_outbox(system.data_dir)
            pending = undelivered_notifications(system.data_dir)
            if not lag and not outbox and not pending:
                # Settled twice, a few seconds apart: a relay may be between batches.
                time.sleep(3)
                if not consumer_lag(system.running.bootstrap) and not unpublished_outbox(
                    system.data_dir
                ):
                    return time.monotonic() - started
        except Exception as error:  # the broker may still be coming back
            logger.info("not drained yet: %r", error)
            lag, outbox, pending = {"?": 1}, {}, -1
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not drained: lag {lag}, outbox {outbox}, pending {pending}")
        time.sleep(1)


@dataclass
class Check:
    name: str
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost and not self.duplicated and not self.problems


def check_invariants(
    data_dir: Path,
    bootstrap: str,
    intakes: Sequence[Intake],
    actions: Sequence[Action],
    agencies: Sequence[str],
) -> list[Check]:
    """Every invariant, from the databases' files and the topics (not the APIs)."""
    from contracts.cases.v1 import CaseReceived
    from referrals.adapters.policy_file import default_policy_path, load_policy
    from referrals.domain.routing import CaseProfile, route

    checks: list[Check] = []
    with read_only(data_dir / "cases.db") as db:
        cases = db.execute("SELECT id, reported_by FROM cases").fetchall()
    case_ids = {case_id for case_id, _ in cases}
    by_subject = Counter(subject for _, subject in cases)
    stored = Check("every accepted case (201) stored exactly once")
    for intake in intakes:
        if intake.case_id is None:
            stored.problems.append(f"{intake.subject} never accepted")
        elif intake.case_id not in case_ids:
            stored.lost += 1
        stored.duplicated += max(0, by_subject[intake.subject] - 1)
    checks.append(stored)

    published = Check("every case published once on cases.events (CaseReceived)")
    received: dict[str, CaseReceived] = {}
    for record in read_topic(bootstrap, CASES_EVENTS):
        headers = dict(record.headers)
        if headers.get("ce_type", b"").decode().endswith("case.received.v1"):
            event = CaseReceived.model_validate_json(record.value)
            received[event.case_id] = event
    published.lost = len(case_ids - set(received))
    published.problems += [f"stray CaseReceived {c}" for c in set(received) - case_ids]
    checks.append(published)

    with read_only(data_dir / "referrals.db") as db:
        referrals = db.execute("SELECT id, case_id, agency, state, version FROM referrals")
        referral_rows = {r[0]: r[1:] for r in referrals.fetchall()}
        transitions = db.execute(
            "SELECT t.referral_id, t.to_state, t.transferred_to, r.case_id "
            "FROM referral_transitions t JOIN referrals r ON r.id = t.referral_id"
        ).fetchall()
    routed = Check("referrals exactly where the routing policy puts them (case x agency)")
    policy = load_policy(default_policy_path(), list(agencies))
    have = Counter((case_id, agency) for case_id, agency, _, _ in referral_rows.values())
    expected: Counter[tuple[str, str]] = Counter()
    for case_id, event in received.items():
        for decision in route(policy, CaseProfile.of(event)):
            expected[(case_id, decision.agency)] += 1
    for _, _, transferred_to, case_id in transitions:
        if transferred_to:
            expected[(case_id, transferred_to)] += 1
    for key in expected.keys() | have.keys():
        routed.lost += max(0, expected[key] - have[key])
        routed.duplicated += max(0, have[key] - expected[key])
    checks.append(routed)

    inboxes = Check("each agency's inbox and topic hold exactly its referrals")
    for agency in agencies:
        mine = {rid for rid, (_, a, _, _) in referral_rows.items() if a == agency}
        with read_only(data_dir / f"agencies-{agency}.db") as db:
            inbox = {row[0] for row in db.execute("SELECT id FROM inbox_referrals")}
        on_topic = {
            json.loads(record.value).get("referral_id")
            for record in read_topic(bootstrap, agency_referrals_topic(agency))
        }
        inboxes.lost += len(mine - inbox) + len(mine - on_topic)
        inboxes.problems += [f"{agency}: stray inbox referral {r}" for r in inbox - mine]
    checks.append(inboxes)

    acted = Check("every agency action answered 200 reached the referrals service")
    done = {(rid, state) for rid, state, _, _ in transitions}
    moved = {(rid, to) for rid, _, to, _ in transitions if to}
    for action in actions:
        reached = (action.referral_id, ACTION_STATE[action.action]) in done
        if action.transferred_to:
            reached = reached and (action.referral_id, action.transferred_to) in moved
        acted.lost += not reached
    checks.append(acted)

    with read_only(data_dir / "notifications.db") as db:
        repeated = db.execute(
            "SELECT count(*) - count(DISTINCT source_event_id || '|' || recipient_id || '|' "
            "|| channel) FROM notifications"
        ).fetchone()[0]
        email_ids = {
            row[0] for row in db.execute("SELECT id FROM notifications WHERE channel = 'email'")
        }
        pending = db.execute("SELECT count(*) FROM notifications WHERE status = 'pending'")
        still_pending = pending.fetchone()[0]
    notified = Check("notifications unique per event x recipient x channel, all delivered")
    notified.duplicated = repeated
    notified.lost = still_pending
    checks.append(notified)

    mails = Check("each e-mail notification sent once (mail sink, by Message-ID)")
    sent = Counter(_mail_notification_ids(data_dir / "mail"))
    mails.duplicated = sum(n - 1 for n in sent.values() if n > 1)
    mails.lost = len(email_ids - set(sent))
    checks.append(mails)

    facts = Check("reporting facts equal the source databases")
    with read_only(data_dir / "reporting.db") as db:
        case_facts = {
            r[0] for r in db.execute("SELECT case_id FROM case_facts WHERE case_type IS NOT NULL")
        }
        referral_facts = {
            r[0]: (r[1], r[2])
            for r in db.execute("SELECT referral_id, state, version FROM referral_facts")
        }
    facts.lost = len(case_ids - case_facts) + len(set(referral_rows) - set(referral_facts))
    facts.problems += [f"case fact without a case: {c}" for c in case_facts - case_ids]
    for rid, (_, _, state, version) in referral_rows.items():
        if rid in referral_facts and referral_facts[rid] != (state, version):
            facts.problems.append(f"referral {rid}: {referral_facts[rid]} ≠ {(state, version)}")
    checks.append(facts)

    outbox = Check("outboxes drained")
    outbox.problems = [f"{db}: {n} unpublished" for db, n in unpublished_outbox(data_dir).items()]
    checks.append(outbox)
    dead = Check("no dead letters")
    dead.problems = [f"{t}: {n}" for t, n in dead_letter_count(bootstrap).items()]
    checks.append(dead)
    lag = Check("consumer lag 0 (lienganh status)")
    lag.problems = [f"{name}: {n}" for name, n in consumer_lag(bootstrap).items()]
    checks.append(lag)
    return checks


def _mail_notification_ids(directory: Path) -> Iterator[str]:
    from email import message_from_bytes, policy

    for path in directory.glob("*.eml"):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        message_id = str(mail.get("Message-ID", ""))
        # make_msgid(idstring=<notification id>): <time.pid.random.<id>@lienganh.local>
        yield message_id.strip("<>").split("@")[0].rsplit(".", 1)[-1]


# --- figures -----------------------------------------------------------------------------


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def first_notification_latencies(data_dir: Path, case_ids: set[str]) -> list[float]:
    """Seconds from a case's `received_at` to its first notification's `created_at`."""
    with read_only(data_dir / "cases.db") as db:
        received = dict(db.execute("SELECT id, received_at FROM cases").fetchall())
    with read_only(data_dir / "notifications.db") as db:
        first = dict(
            db.execute("SELECT case_id, min(created_at) FROM notifications GROUP BY case_id")
        )
    return [_ts(first[c]) - _ts(received[c]) for c in case_ids if c in first and c in received]


def percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary_lines(checks: Sequence[Check]) -> list[str]:
    lines = []
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        detail = f"lost {check.lost}, duplicated {check.duplicated}"
        problems = f"; {'; '.join(check.problems[:5])}" if check.problems else ""
        lines.append(f"  {mark} {check.name}: {detail}{problems}")
    return lines
