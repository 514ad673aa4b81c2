"""A real single-node Apache Kafka (KRaft) from Maven Central jars, on loopback.

`make run`, the test suite and the benchmarks all start their broker through `LocalBroker`:
jars fetched once with Maven (cached by the pom's hash), storage formatted once, the broker
started with a small heap and waited for until it answers — never a fixed sleep.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from xml.etree import ElementTree

from kafka.admin import KafkaAdminClient

from localrun.ports import free_port
from localrun.process_env import process_env

logger = logging.getLogger(__name__)

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
# A 16 MiB young generation: the broker's live heap is ~40 MiB, and with the default (a third
# of the heap) every collection cycle touched ~110 MiB; peak RSS 202 → 187 MiB under the
# pipeline benchmark, its limits (ProducerPerformance, ConsumerPerformance) unchanged.
DEFAULT_HEAP = "-Xms32m -Xmx128m -Xmn16m"
# Small-footprint JVM for a 2-core machine: one GC thread, and the C1 compiler only. C2's
# compiling took ~4 % of a core for minutes after each start and ~45 MiB of RSS; on this
# broker's load C1 code was as fast (ProducerPerformance 10.7-11.1k against 5.4-7.3k
# records/s of 5 KB with C2 still compiling, same day).
JVM_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:MaxMetaspaceSize=128m",
    "-Djava.awt.headless=true",
)
CLASS_ARCHIVE = "kafka-classes.jsa"


class PrerequisiteMissing(RuntimeError):
    """Java 17+ or Maven is not installed; the message says what to install."""


def kafka_dir() -> Path:
    """deploy/local/kafka, where pom.xml, the log config and the cached jars live."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "deploy" / "local" / "kafka"
        if (candidate / "pom.xml").exists():
            return candidate
    raise FileNotFoundError("deploy/local/kafka/pom.xml not found above " + __file__)


def check_prerequisites() -> None:
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteMissing(
            "Java 17+ is needed to run Apache Kafka: install it (e.g. `apt-get install "
            "openjdk-17-jre-headless`) and make sure `java` is on PATH."
        )
    version = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', version)
    if match is None or int(match.group(1)) < 17:
        raise PrerequisiteMissing(f"Java 17+ is needed to run Apache Kafka; found: {version!r}")
    if shutil.which("mvn") is None:
        raise PrerequisiteMissing(
            "Maven is needed to fetch Apache Kafka from Maven Central: install it "
            "(e.g. `apt-get install maven`) and make sure `mvn` is on PATH."
        )


def pom_file() -> Path:
    return kafka_dir() / "pom.xml"


def kafka_version() -> str:
    """The project's one Kafka version (the pom's `kafka.version`): the local jars, compose's
    image and Strimzi's `spec.kafka.version` all come from it."""
    return _pom_property("kafka.version")


def kafka_metadata_version() -> str:
    """The KRaft metadata version `kafka_version()` writes by default (`4.3-IV0`): Strimzi's
    `metadataVersion`, and where `kafka-features.sh upgrade` takes an upgraded cluster."""
    return _pom_property("kafka.metadata.version")


def _pom_property(name: str) -> str:
    namespace = "{http://maven.apache.org/POM/4.0.0}"
    root = ElementTree.parse(pom_file()).getroot()  # noqa: S314 - the repository's own pom
    value = root.findtext(f"{namespace}properties/{namespace}{name}")
    if not value or not value.strip():
        raise ValueError(f"{pom_file()} declares no <{name}> property")
    return value.strip()


def ensure_kafka_jars(libs_dir: Path | None = None, version: str | None = None) -> Path:
    """Copy Kafka's runtime jars into libs/ with Maven, unless already there for this pom.

    `version` fetches another Kafka release with the same pom (`-Dkafka.version=...`), by
    default into `.cache/kafka-<version>/` at the repository root: how the upgrade test gets
    the previous release. Maven keeps what it downloaded in ~/.m2, so a re-copy is local.
    """
    pom = pom_file()
    wanted = version or kafka_version()
    if libs_dir is not None:
        libs = libs_dir
    elif version is None or version == kafka_version():
        libs = Path(os.environ.get("LIENGANH_KAFKA_LIBS", kafka_dir() / "libs"))
    else:
        libs = kafka_dir().parents[2] / ".cache" / f"kafka-{version}"
    stamp = libs / ".pom.sha256"
    digest = hashlib.sha256(pom.read_bytes() + wanted.encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    check_prerequisites()
    logger.info("fetching Apache Kafka %s jars into %s", wanted, libs)
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    result = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={libs}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={wanted}",  # a command-line property wins over the pom's
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Maven could not fetch Kafka:\n{result.stdout}\n{result.stderr}")
    if not (libs / f"kafka_2.13-{wanted}.jar").exists():
        raise RuntimeError(f"Maven fetched no kafka_2.13-{wanted}.jar into {libs}")
    stamp.write_text(digest)
    return libs


def ensure_class_archive(libs: Path | None = None) -> Path | None:
    """Kafka's classes parsed and verified once, into a CDS archive beside the jars.

    Most of a broker's start is the JVM loading Kafka's and Scala's classes: ~5 s of CPU, and
    two to three times that on a busy machine, which is how long every client waits after a
    broker restart. Mapping an archive made by one training start (stopped cleanly, so the JVM
    writes it at exit) saves about a third. Made once per set of jars (a new set replaces
    `libs/`); without it, or when the JVM refuses it (`-Xshare:auto`), the broker starts as
    before. None when the training start failed.
    """
    libs = libs or ensure_kafka_jars()
    archive = libs / CLASS_ARCHIVE
    if archive.exists():
        return archive
    with tempfile.TemporaryDirectory(prefix="lienganh-kafka-cds-") as tmp:
        written = Path(tmp) / CLASS_ARCHIVE
        broker = LocalBroker(
            Path(tmp) / "broker",
            libs_dir=libs,
            jvm_flags=(f"-XX:ArchiveClassesAtExit={written}",),
        )
        try:
            broker.start()
        except (RuntimeError, TimeoutError):
            logger.warning("no class archive: the training broker did not start", exc_info=True)
            return None
        finally:
            broker.stop()
        if not written.exists():
            logger.warning("no class archive: the JVM wrote none at exit")
            return None
        # Copied next to its final name, then renamed: a concurrent start never maps half.
        partial = libs / f".{CLASS_ARCHIVE}.{uuid.uuid4().hex}"
        shutil.copyfile(written, partial)
        os.replace(partial, archive)
    return archive


class LocalBroker:
    """One KRaft node (broker + controller) in `data_dir`, restartable on the same ports."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = DEFAULT_HEAP,
        libs_dir: Path | None = None,
        scram_users: Mapping[str, str] | None = None,
        version: str | None = None,
        jvm_flags: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.jvm_flags = jvm_flags
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.heap = heap
        self.libs_dir = libs_dir
        # Another Kafka release than the pom's (`ensure_kafka_jars(version=...)`): the
        # upgrade test starts the previous one on the data directory it then upgrades.
        self.version = version
        # SCRAM-SHA-512 users (name → password) for a second, authenticating listener: how a
        # cluster's brokers are reached, so the clients' SASL settings are tested for real.
        self.scram_users = dict(scram_users or {})
        self.sasl_port = free_port() if self.scram_users else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap_servers(self) -> str:
        """The SCRAM-authenticating listener (only when `scram_users` were given)."""
        if self.sasl_port is None:
            raise RuntimeError("this broker has no SCRAM users, hence no SASL listener")
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def start(self, timeout_s: float = 120.0) -> None:
        command = self.command()
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=process_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._wait_until_ready(timeout_s)
        logger.info("Kafka ready on %s", self.bootstrap_servers)

    def command(self) -> list[str]:
        """The broker's command line, its config written and storage formatted: what `start`
        runs, and what a supervisor (`lienganh run`) starts and restarts itself."""
        libs = ensure_kafka_jars(self.libs_dir, self.version)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(libs, config)
        archive = libs / CLASS_ARCHIVE
        training = any(flag.startswith("-XX:ArchiveClassesAtExit") for flag in self.jvm_flags)
        sharing = [] if training or not archive.exists() else _class_sharing(archive)
        return [
            "java",
            *self.heap.split(),
            *JVM_FLAGS,
            *self.jvm_flags,
            *sharing,
            f"-Dlog4j2.configurationFile={kafka_dir() / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(config),
        ]

    def answers(self) -> bool:
        """True when the broker answers a cluster description (not only accepts a socket)."""
        if not _accepts_connections(self.port):  # cheap check first: no client backoff
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000
            )
        except Exception:
            return False
        try:
            admin.describe_cluster()
            return True
        except Exception as error:  # still electing its controller: try again
            logger.debug("Kafka not ready yet: %s", error)
            return False
        finally:
            admin.close()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Controlled shutdown (SIGTERM), then SIGKILL if it hangs. Idempotent."""
        self._signal_and_wait(signal.SIGTERM, timeout_s)

    def kill(self) -> None:
        """Crash the broker (SIGKILL), for fault-injection tests."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _signal_and_wait(self, sig: signal.Signals, timeout_s: float) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("Kafka did not stop in %.0fs; killing it", timeout_s)
            process.kill()
            process.wait()

    def _write_config(self) -> Path:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "6",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A broker restarted after kill -9 cannot register until its previous
            # incarnation's session ends (9 s by default): one node, no peers to wait for.
            "broker.session.timeout.ms": "3000",
            "broker.heartbeat.interval.ms": "750",
            # The controller's no-op record tells other nodes the quorum is alive: one node has
            # no peers to tell, and one every 500 ms (the default) was a third of its idle CPU.
            "metadata.max.idle.interval.ms": "5000",
            # The log cleaner (compacted topics: offsets, keyed state) takes this buffer from
            # the heap at start: 128 MiB by default, a third of the broker's RSS. 8 MiB still
            # dedupes ~350k keys a pass, far above a local node's compacted keys.
            "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
            "auto.create.topics.enable": "false",  # topics come from the declared list
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
        }
        if self.sasl_port is not None:
            sasl = f"SASL_PLAINTEXT://127.0.0.1:{self.sasl_port}"
            settings["listeners"] += f",{sasl}"
            settings["advertised.listeners"] += f",{sasl}"
            settings["listener.security.protocol.map"] += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
            settings["sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
            settings["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return path

    def _format(self, libs: Path, config: Path) -> None:
        cluster_id = _kafka_uuid()
        result = subprocess.run(
            [
                "java",
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id,
                "-c",
                str(config),
                *(
                    argument
                    for name, password in self.scram_users.items()
                    for argument in (
                        "--add-scram",
                        f"SCRAM-SHA-512=[name={name},password={password}]",
                    )
                ),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _wait_until_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"Kafka exited while starting:\n{self._log_tail()}")
            if self.answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Kafka not ready after {timeout_s:.0f}s:\n{self._log_tail()}")
            time.sleep(0.2)

    def _log_tail(self, lines: int = 30) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _class_sharing(archive: Path) -> list[str]:
    return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"]


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _kafka_uuid() -> str:
    """A cluster id as `StorageTool random-uuid` makes it: 16 random bytes, base64url.

    Like Kafka's own `Uuid.randomUuid`, never one that starts with "-": the storage tool
    would read it as an option and refuse to format (1 run in 64 failed before).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
