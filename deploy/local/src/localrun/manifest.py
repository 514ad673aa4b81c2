"""The process manifest, `deploy/processes.yaml`: every service's processes, ports, settings
and files, written once and read by the three views of the system.

- `localrun.system` builds `make run`'s and the end-to-end tests' processes from it;
- `localrun.compose` renders `docker-compose.yml` from it;
- `deploy/k8s/generate.py` renders the Kubernetes base from it.

`load_manifest()` validates the file (unknown keys, missing files, placeholders a target
cannot fill, env names outside the service's prefix) so a mistake fails at load, not in a
container. `Manifest.topology(agencies)` expands it for a set of agencies: one `Instance` per
service, agencies once per agency. Each view then asks `Topology.env()` for an instance's
settings, filling the placeholders through its own `Addresses`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MANIFEST_FILE = Path(__file__).resolve().parents[3] / "processes.yaml"  # deploy/processes.yaml

Target = Literal["local", "compose", "kubernetes"]
TARGETS: tuple[Target, ...] = get_args(Target)
Process = Literal["api", "worker"]
PROCESSES: tuple[Process, ...] = get_args(Process)

_PLACEHOLDER = re.compile(r"\{(\w+)(?::([\w-]+))?\}")
# What each target can fill in; `agency` is filled when a per-agency service is expanded.
_FILLED_BY: dict[str, tuple[Target, ...]] = {
    "data_dir": TARGETS,
    "kafka_bootstrap": TARGETS,
    "worker_port": TARGETS,
    "api": TARGETS,
    "host_api": ("local", "compose"),
    "agency_api_urls": TARGETS,
    "smtp_port": ("local",),
    "agency": TARGETS,
}
_WITH_ARGUMENT = {"api", "host_api"}


class ManifestError(ValueError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class PerTarget(_Model):
    """One value per target; `containers` stands for compose and kubernetes alike."""

    local: str | None = None
    compose: str | None = None
    kubernetes: str | None = None
    containers: str | None = None

    def value(self, target: Target) -> str | None:
        own: str | None = getattr(self, target)
        return own if own is not None or target == "local" else self.containers


Setting = str | PerTarget


def setting_value(setting: Setting, target: Target) -> str | None:
    """The text of a setting in `target`, or None where the target leaves it unset."""
    return setting if isinstance(setting, str) else setting.value(target)


class ProcessSpec(_Model):
    container_port: int = Field(ge=1, le=65535, description="Port inside a container.")
    port_name: str = Field(description="Name of that port (Kubernetes Services, probes).")
    live: str = Field(description="Liveness path.")
    ready: str = Field(description="Readiness path.")


class Containers(_Model):
    data_dir: str = Field(description="The writable data folder of every container.")


class KubernetesFile(_Model):
    """A ConfigMap or Secret mounted whole at `dir`; the process reads `dir/key`."""

    config_map: str | None = None
    secret: str | None = None
    key: str
    dir: str
    from_file: str | None = Field(
        default=None, alias="from", description="Repository file the generator puts in it."
    )

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesFile:
        if (self.config_map is None) == (self.secret is None):
            raise ValueError("name exactly one of config_map and secret")
        if self.from_file is not None and self.secret is not None:
            raise ValueError("`from` fills a ConfigMap; Secrets never come from the repository")
        return self

    @property
    def source_name(self) -> str:
        return self.config_map or self.secret or ""

    @property
    def path(self) -> str:
        return f"{self.dir}/{self.key}"


class MountedFile(_Model):
    about: str = Field(description="What the file holds.")
    setting: str = Field(pattern=r"^[A-Z][A-Z0-9_]*_FILE$", description="Setting, no prefix.")
    local: str | None = Field(default=None, description="Path under `make run`.")
    compose: str | None = Field(default=None, description="Path inside the compose container.")
    kubernetes: KubernetesFile | None = None

    def path(self, target: Target) -> str | None:
        if target == "kubernetes":
            return self.kubernetes.path if self.kubernetes else None
        return self.local if target == "local" else self.compose


class LocalPorts(_Model):
    api: int = Field(ge=1024, le=65535)
    worker: int = Field(ge=1024, le=65535)


class ServiceSpec(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9{}-]*$")
    module: str = Field(description="`python -m <module> api|worker`.")
    env_prefix: str = Field(pattern=r"^[A-Z][A-Z0-9]*$")
    per_agency: bool = Field(default=False, description="Run once per agency code.")
    kafka_principal: str = Field(description="Producer/consumer name in contracts/topics.py.")
    consumer_group: str = Field(description="The worker's Kafka consumer group.")
    paces_bulk: bool = Field(
        default=False,
        description="Its outbox takes imports, released as the urgent path drains: it reads "
        "those groups' lag (chassis.pacing), so it may describe them and the topics they read.",
    )
    urgent_path: bool = Field(
        default=False,
        description="Its worker stands between a hotline report and the inspector's first "
        "notification: the bulk lane's gate counts its group's lag (chassis.pacing).",
    )
    database: str = Field(pattern=r"^[a-z][a-z0-9_{}]*$")
    local_ports: LocalPorts
    files: tuple[str, ...] = ()
    env: dict[str, Setting] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _agency_fields(self) -> ServiceSpec:
        fields = (self.name, self.kafka_principal, self.consumer_group, self.database)
        templated = ["{agency}" in field for field in fields]
        if self.per_agency and not all(templated):
            raise ValueError(f"{self.name}: per_agency names need {{agency}} in each of {fields}")
        if not self.per_agency and any(templated):
            raise ValueError(f"{self.name}: {{agency}} in a service that is not per_agency")
        for name in self.env:
            if name != self.env_prefix and not name.startswith(f"{self.env_prefix}_"):
                raise ValueError(f"{self.name}: {name} is outside its prefix {self.env_prefix}_")
        return self


class StandIn(_Model):
    about: str
    module: str
    local_ports: dict[str, int]
    compose: str = Field(description="The compose service doing the same job.")
    kubernetes: str = Field(description="The cluster's host name doing the same job.")


class Manifest(_Model):
    processes: dict[Process, ProcessSpec]
    containers: Containers
    env: dict[str, Setting]
    common_files: tuple[str, ...]
    files: dict[str, MountedFile]
    services: tuple[ServiceSpec, ...]
    stand_ins: dict[str, StandIn]

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if set(self.processes) != set(PROCESSES):
            raise ValueError(f"processes must be exactly {PROCESSES}")
        names = [service.name for service in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names repeat: {names}")
        ports = [p for s in self.services for p in (s.local_ports.api, s.local_ports.worker)]
        if len(set(ports)) != len(ports):
            raise ValueError(f"local ports repeat: {ports}")
        for service in self.services:
            for file in (*self.common_files, *service.files):
                if file not in self.files:
                    raise ValueError(f"{service.name}: no file {file!r} under `files`")
        plain = {service.name for service in self.services if not service.per_agency}
        for where, text, target, per_agency in self._texts():
            for name, argument in _PLACEHOLDER.findall(text):
                if name == "agency" and not per_agency:
                    raise ValueError(f"{where}: {{agency}} outside a per_agency service's env")
                _check_placeholder(where, name, argument, target, plain)
        return self

    def _texts(self) -> Iterator[tuple[str, str, Target, bool]]:
        """Every setting and file path that takes placeholders, per target, and whether it
        belongs to a per-agency service."""
        for target in TARGETS:
            for name, setting in self.env.items():
                yield f"env.{name}", setting_value(setting, target) or "", target, False
            for service in self.services:
                for name, setting in service.env.items():
                    text = setting_value(setting, target) or ""
                    yield f"{service.name}.{name}", text, target, service.per_agency
            for name, file in self.files.items():
                yield f"files.{name}", file.path(target) or "", target, False

    def topology(self, agencies: Sequence[str]) -> Topology:
        """The instances of every service for these agencies, in manifest order."""
        instances: list[Instance] = []
        for service in self.services:
            if not service.per_agency:
                instances.append(Instance(service, None, service.local_ports))
                continue
            for index, agency in enumerate(agencies):
                ports = LocalPorts(
                    api=service.local_ports.api + index, worker=service.local_ports.worker + index
                )
                instances.append(Instance(service, agency, ports))
        taken = [p for i in instances for p in (i.local_ports.api, i.local_ports.worker)]
        taken += [p for stand_in in self.stand_ins.values() for p in stand_in.local_ports.values()]
        if len(set(taken)) != len(taken):
            raise ManifestError(f"{len(agencies)} agencies: local ports collide ({sorted(taken)})")
        return Topology(self, tuple(instances))


def _check_placeholder(
    where: str, name: str, argument: str, target: Target, services: set[str]
) -> None:
    if name not in _FILLED_BY:
        raise ValueError(f"{where}: unknown placeholder {{{name}}}")
    if target not in _FILLED_BY[name]:
        raise ValueError(f"{where}: {target} cannot fill {{{name}}}")
    if (name in _WITH_ARGUMENT) != bool(argument):
        raise ValueError(f"{where}: {{{name}}} with a service name only for {_WITH_ARGUMENT}")
    if argument and argument not in services:
        raise ValueError(f"{where}: {{{name}:{argument}}} names no (single) service")


@dataclass(frozen=True)
class Instance:
    """One running copy of a service: `cases`, or `agencies` for one agency; it runs one
    process of each kind (`<name>-api`, `<name>-worker`)."""

    service: ServiceSpec
    agency: str | None
    local_ports: LocalPorts

    def _fill(self, text: str) -> str:
        return text.replace("{agency}", self.agency) if self.agency is not None else text

    @property
    def name(self) -> str:
        """As `make run` and compose name it: agency-labour_inspection."""
        return self._fill(self.service.name)

    @property
    def k8s_name(self) -> str:
        """A DNS-1123 name, as Kubernetes (and compose volumes) name it."""
        return self.name.replace("_", "-").lower()

    @property
    def module(self) -> str:
        return self.service.module

    @property
    def env_prefix(self) -> str:
        return self.service.env_prefix

    @property
    def kafka_principal(self) -> str:
        return self._fill(self.service.kafka_principal)

    @property
    def consumer_group(self) -> str:
        return self._fill(self.service.consumer_group)

    @property
    def database(self) -> str:
        return self._fill(self.service.database)

    def process_names(self) -> list[str]:
        return [f"{self.name}-{process}" for process in PROCESSES]


class Addresses:
    """How one target fills the placeholders; each view subclasses it."""

    target: Target

    def api_url(self, instance: Instance) -> str:
        raise NotImplementedError

    def host_api_url(self, instance: Instance) -> str:
        raise ManifestError(f"{self.target} has no host address for {instance.name}")

    def worker_port(self, instance: Instance) -> int:
        raise NotImplementedError

    def value(self, name: str) -> str:
        """data_dir, kafka_bootstrap, smtp_port."""
        raise ManifestError(f"{self.target} cannot fill {{{name}}}")


@dataclass(frozen=True)
class Topology:
    """The manifest expanded for one set of agencies."""

    manifest: Manifest
    instances: tuple[Instance, ...]

    def instance(self, name: str) -> Instance:
        found = next((i for i in self.instances if i.name == name), None)
        if found is None:
            raise ManifestError(f"no instance {name!r}")
        return found

    def process_names(self) -> list[str]:
        return [name for instance in self.instances for name in instance.process_names()]

    def files(self, instance: Instance) -> list[tuple[str, MountedFile]]:
        """(name, file) of what the instance reads: the common files, then its own."""
        names = (*self.manifest.common_files, *instance.service.files)
        return [(name, self.manifest.files[name]) for name in names]

    def env(self, instance: Instance, where: Addresses) -> dict[str, str]:
        """The settings of an instance's processes in one target: its own, the common ones
        (prefixed), then the paths of its files."""
        prefix = instance.env_prefix
        entries: list[tuple[str, str | None]] = [
            (name, setting_value(setting, where.target))
            for name, setting in instance.service.env.items()
        ]
        entries += [
            (f"{prefix}_{name}", setting_value(setting, where.target))
            for name, setting in self.manifest.env.items()
        ]
        entries += [
            (f"{prefix}_{file.setting}", file.path(where.target))
            for _, file in self.files(instance)
        ]
        return {
            name: self._fill(text, instance, where) for name, text in entries if text is not None
        }

    def _fill(self, text: str, instance: Instance, where: Addresses) -> str:
        def one(match: re.Match[str]) -> str:
            name, argument = match[1], match[2]
            if name == "agency":
                return instance.agency or ""
            if name == "api":
                return where.api_url(self.instance(argument))
            if name == "host_api":
                return where.host_api_url(self.instance(argument))
            if name == "worker_port":
                return str(where.worker_port(instance))
            if name == "agency_api_urls":
                agencies = [i for i in self.instances if i.agency is not None]
                return json.dumps({i.agency: where.api_url(i) for i in agencies})
            return where.value(name)

        return _PLACEHOLDER.sub(one, text)


def load_manifest(path: Path = MANIFEST_FILE) -> Manifest:
    """Read and validate the manifest; ManifestError names the file and what is wrong."""
    try:
        data = yaml.safe_load(path.read_text())
        return Manifest.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise ManifestError(f"{path}: {error}") from error


def stand_in_names(manifest: Manifest) -> Mapping[str, str]:
    """Local process name → the compose service doing its job (mail-sink → mailpit)."""
    return {name: stand_in.compose for name, stand_in in manifest.stand_ins.items()}


@dataclass(frozen=True)
class ContainerAddresses(Addresses):
    """Compose and Kubernetes: each process is its own container, reached by its host name
    (`<instance>-api`; Kubernetes uses the DNS-1123 form) on the ports of `processes`."""

    manifest: Manifest
    target: Target
    kafka_bootstrap: str

    def host(self, instance: Instance, process: Process) -> str:
        name = instance.k8s_name if self.target == "kubernetes" else instance.name
        return f"{name}-{process}"

    def api_url(self, instance: Instance) -> str:
        port = self.manifest.processes["api"].container_port
        return f"http://{self.host(instance, 'api')}:{port}"

    def host_api_url(self, instance: Instance) -> str:
        if self.target != "compose":
            return super().host_api_url(instance)
        return f"http://127.0.0.1:{instance.local_ports.api}"  # compose publishes it there

    def worker_port(self, instance: Instance) -> int:
        return self.manifest.processes["worker"].container_port

    def value(self, name: str) -> str:
        if name == "data_dir":
            return self.manifest.containers.data_dir
        if name == "kafka_bootstrap":
            return self.kafka_bootstrap
        return super().value(name)
