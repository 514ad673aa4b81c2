"""deploy/k8s/ builds, validates and says what the architecture says, without a cluster."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

from chassis.pacing import PATH_SERVICES, BulkPacing
from contracts.topics import DEFAULT_AGENCIES, declared_topics
from deploy.k8s.kubegen import kafka as strimzi
from localrun.kafka import kafka_metadata_version, kafka_version
from localrun.manifest import load_manifest
from localrun.system import Ports, system_processes
from tests.deploy.custom_kinds import CUSTOM_KINDS, missing_fields
from tests.deploy.support import K8S, LOCAL_STAND_INS, OVERLAYS, REPO

Manifests = dict[str, list[dict[str, Any]]]
KUBERNETES_VERSION = "1.37.0"  # the newest schema set kubernetes-validate ships


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def by_name(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in of_kind(documents, kind)}


# --- generated base: drift ----------------------------------------------------------------


def test_the_committed_base_is_what_the_generator_renders(generator: ModuleType) -> None:
    assert generator.drifted() == [], "run: .venv/bin/python deploy/k8s/generate.py"


def test_a_hand_edit_of_the_base_counts_as_drift(generator: ModuleType, tmp_path: Path) -> None:
    for name, text in generator.render().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert generator.drifted(tmp_path) == []
    topics = tmp_path / "kafka" / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 6", "partitions: 3", 1))
    (tmp_path / "stray.yaml").write_text("kind: ConfigMap\n")
    assert generator.drifted(tmp_path) == ["kafka/topics.yaml", "stray.yaml"]


# --- Kafka: topics, replication, users and ACLs ----------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_declared_topic_is_a_kafka_topic_as_declared(
    overlays: Manifests, overlay: str
) -> None:
    topics = {
        doc["spec"]["topicName"]: doc["spec"] for doc in of_kind(overlays[overlay], "KafkaTopic")
    }
    declared = {topic.name: topic for topic in declared_topics()}
    assert set(topics) == set(declared)
    for name, spec in topics.items():
        assert spec["partitions"] == declared[name].partitions, name
        assert spec["config"] == declared[name].configs(), name


def test_prod_keeps_three_copies_and_needs_two_in_sync(overlays: Manifests) -> None:
    prod = overlays["prod"]
    assert [pool["spec"]["replicas"] for pool in of_kind(prod, "KafkaNodePool")] == [3]
    config = of_kind(prod, "Kafka")[0]["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert {topic["spec"]["replicas"] for topic in of_kind(prod, "KafkaTopic")} == {3}


def test_dev_runs_one_broker_and_one_copy(overlays: Manifests) -> None:
    dev = overlays["dev"]
    assert [pool["spec"]["replicas"] for pool in of_kind(dev, "KafkaNodePool")] == [1]
    assert of_kind(dev, "Kafka")[0]["spec"]["kafka"]["config"]["min.insync.replicas"] == 1
    assert {topic["spec"]["replicas"] for topic in of_kind(dev, "KafkaTopic")} == {1}


def _grants(user: dict[str, Any]) -> dict[str, set[str]]:
    """`Read` / `Write` → topic names; `group` → consumer groups the user may join;
    `describe group` → groups it may only look at."""
    grants: dict[str, set[str]] = {
        "Read": set(),
        "Write": set(),
        "group": set(),
        "describe group": set(),
    }
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        assert resource["patternType"] == "literal", "no prefix ACLs: each name is explicit"
        if resource["type"] == "group":
            joins = "Read" in acl["operations"]
            grants["group" if joins else "describe group"].add(resource["name"])
            continue
        for operation in acl["operations"]:
            if operation in ("Read", "Write"):
                grants[operation].add(resource["name"])
            else:
                assert operation == "Describe", f"unexpected {operation} on {resource['name']}"
    return grants


# ARCHITECTURE.md §4, written out by hand so the generator's reading of the topic list is
# checked against the table rather than against itself.
EXPECTED_CORE_ACLS = {
    "cases": {
        "Read": {"referrals.events.v1", *(f"agency.{a}.updates.v1" for a in DEFAULT_AGENCIES)},
        "Write": {"cases.events.v1", "audit.events.v1"},
    },
    "referrals": {
        "Read": {"cases.events.v1", *(f"agency.{a}.updates.v1" for a in DEFAULT_AGENCIES)},
        "Write": {
            "referrals.events.v1",
            "audit.events.v1",
            *(f"agency.{a}.referrals.v1" for a in DEFAULT_AGENCIES),
        },
    },
    "notifications": {
        "Read": {"cases.events.v1", "referrals.events.v1"},
        "Write": {"notifications.events.v1", "audit.events.v1"},
    },
    "reporting": {
        "Read": {"cases.events.v1", "referrals.events.v1", "notifications.events.v1"},
        "Write": {"audit.events.v1"},
    },
}


def test_core_services_read_and_write_exactly_the_topics_of_the_architecture(
    overlays: Manifests,
) -> None:
    users = by_name(overlays["prod"], "KafkaUser")
    for name, expected in EXPECTED_CORE_ACLS.items():
        grants = _grants(users[name])
        assert grants["Read"] == expected["Read"], name
        dead_letters = {f"{topic}.dlq" for topic in expected["Read"]}
        assert grants["Write"] == expected["Write"] | dead_letters, name
        assert grants["group"] == {f"lienganh-{name}"}, name


def test_only_the_bulk_lanes_relay_may_describe_the_urgent_paths_groups_and_their_topics(
    overlays: Manifests,
) -> None:
    """The cases worker paces imports on the lag of the groups an urgent case passes
    (chassis.pacing): it may describe those, and the topics they read, and nothing else."""
    users = by_name(overlays["prod"], "KafkaUser")
    path = set(BulkPacing().groups)
    joined = set().union(*(_grants(user)["group"] for user in users.values()))
    assert path <= joined  # the groups the gate looks for are the ones the workers join
    for name, user in users.items():
        described_groups = _grants(user)["describe group"]
        described_topics = {
            acl["resource"]["name"]
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == "topic" and acl["operations"] == ["Describe"]
        }
        if name == "cases":
            assert described_groups == path
            read_on_the_path = {
                topic for service in PATH_SERVICES for topic in _grants(users[service])["Read"]
            }
            assert described_topics == read_on_the_path
        else:
            assert described_groups == set() and described_topics == set(), name


@pytest.mark.parametrize("agency", DEFAULT_AGENCIES)
def test_an_agency_reads_only_its_referrals_and_writes_only_its_updates(
    overlays: Manifests, agency: str
) -> None:
    user = by_name(overlays["prod"], "KafkaUser")[f"agency-{agency.replace('_', '-')}"]
    grants = _grants(user)
    assert grants["Read"] == {f"agency.{agency}.referrals.v1"}
    assert grants["Write"] == {
        f"agency.{agency}.updates.v1",
        f"agency.{agency}.referrals.v1.dlq",  # what its worker could not process
        "audit.events.v1",
    }
    assert grants["group"] == {f"lienganh-agencies-{agency}"}
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"


def test_the_only_listener_authenticates_and_acls_are_enforced(overlays: Manifests) -> None:
    kafka = of_kind(overlays["prod"], "Kafka")[0]["spec"]["kafka"]
    assert kafka["authorization"]["type"] == "simple"
    for listener in kafka["listeners"]:
        assert listener["tls"] is True
        assert listener["authentication"]["type"] == "scram-sha-512"


# --- schemas: core kinds by kubernetes-validate, custom kinds by their required fields ------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_kinds_pass_the_kubernetes_schemas(overlays: Manifests, overlay: str) -> None:
    core = [doc for doc in overlays[overlay] if doc["kind"] not in CUSTOM_KINDS]
    assert {doc["kind"] for doc in core} >= {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "NetworkPolicy", "ConfigMap", "Namespace",
    }  # fmt: skip
    errors = []
    for doc in core:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")
    assert errors == []


def test_kubernetes_validate_catches_a_malformed_deployment(overlays: Manifests) -> None:
    deployment = yaml.safe_load(yaml.safe_dump(of_kind(overlays["dev"], "Deployment")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_kinds_have_their_required_fields(overlays: Manifests, overlay: str) -> None:
    custom = [doc for doc in overlays[overlay] if doc["kind"] in CUSTOM_KINDS]
    assert {doc["kind"] for doc in custom} >= {
        "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster", "ServiceMonitor",
    }  # fmt: skip
    problems = {f"{doc['kind']}/{doc['metadata']['name']}": missing_fields(doc) for doc in custom}
    assert {name: found for name, found in problems.items() if found} == {}


# --- the processes -----------------------------------------------------------------------------


def _k8s_process_names() -> set[str]:
    specs = system_processes(
        data_dir=Path("/data"), bootstrap_servers="kafka:9092", ports=Ports.fixed(DEFAULT_AGENCIES)
    )
    return {spec.name.replace("_", "-") for spec in specs if spec.name not in LOCAL_STAND_INS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_of_the_local_system_is_a_deployment(
    overlays: Manifests, overlay: str
) -> None:
    assert set(by_name(overlays[overlay], "Deployment")) == _k8s_process_names()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_is_probed_bounded_and_unprivileged(
    overlays: Manifests, overlay: str
) -> None:
    for deployment in of_kind(overlays[overlay], "Deployment"):
        name = deployment["metadata"]["name"]
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        for container in pod["containers"]:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
            writable = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert {"/tmp", "/var/lib/lienganh"} <= writable, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_service_an_autoscaler_and_a_disruption_budget(
    overlays: Manifests, overlay: str
) -> None:
    documents = overlays[overlay]
    deployments = by_name(documents, "Deployment")
    autoscalers = by_name(documents, "HorizontalPodAutoscaler")
    budgets = by_name(documents, "PodDisruptionBudget")
    services = by_name(documents, "Service")
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert autoscalers[name]["spec"]["scaleTargetRef"]["name"] == name
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert services[name]["spec"]["selector"].items() <= labels.items()


def test_workers_never_outnumber_partitions(overlays: Manifests) -> None:
    most_partitions = max(topic.partitions for topic in declared_topics())
    for name, autoscaler in by_name(overlays["prod"], "HorizontalPodAutoscaler").items():
        if name.endswith("-worker"):
            assert autoscaler["spec"]["maxReplicas"] <= most_partitions, name
            assert autoscaler["spec"]["minReplicas"] >= 2, name


def test_services_get_the_shipped_routing_policy_and_recipients(overlays: Manifests) -> None:
    config_maps = by_name(overlays["prod"], "ConfigMap")
    policy = REPO / "services/referrals/src/referrals/policy/routing.v1.yaml"
    recipients = REPO / "services/notifications/src/notifications/directory/recipients.seed.yaml"
    assert config_maps["referrals-routing-policy"]["data"]["routing.v1.yaml"] == policy.read_text()
    assert (
        config_maps["notifications-recipients"]["data"]["recipients.yaml"] == recipients.read_text()
    )
    env = config_maps["referrals-env"]["data"]
    assert env["REFERRALS_POLICY_FILE"] == "/etc/lienganh/policy/routing.v1.yaml"


# --- keys: who holds which half -------------------------------------------------------------


def _settings(documents: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    name = container["envFrom"][0]["configMapRef"]["name"]
    data: dict[str, str] = by_name(documents, "ConfigMap")[name]["data"]
    return data


def _source_of(deployment: dict[str, Any], path: str) -> tuple[str, str, str]:
    """(Secret | ConfigMap, its name, its key) that the file `path` of the pod comes from."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for mount in pod["containers"][0]["volumeMounts"]:
        if path.startswith(f"{mount['mountPath']}/"):
            key = path.removeprefix(f"{mount['mountPath']}/")
            volume = volumes[mount["name"]]
            assert "subPath" not in mount, "a subPath mount never sees a rotated key"
            if "secret" in volume:
                return "Secret", volume["secret"]["secretName"], key
            if "configMap" in volume:
                return "ConfigMap", volume["configMap"]["name"], key
    raise AssertionError(f"{deployment['metadata']['name']}: {path} is mounted from nothing")


def _env_prefix(settings: dict[str, str]) -> str:
    return next(key for key in settings if key.endswith("_DATA_DIR")).removesuffix("_DATA_DIR")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_seals_dead_letters_to_the_operators_public_key(
    overlays: Manifests, overlay: str
) -> None:
    documents = overlays[overlay]
    deployments = by_name(documents, "Deployment")
    assert len(deployments) == len(load_manifest().topology(DEFAULT_AGENCIES).process_names())
    for name, deployment in deployments.items():
        settings = _settings(documents, deployment)
        path = settings[f"{_env_prefix(settings)}_DEAD_LETTER_PUBLIC_KEY_FILE"]
        assert _source_of(deployment, path) == (
            "ConfigMap",
            "dead-letter-public-key",
            "dead-letters.public.json",
        ), name


def test_no_pod_can_read_the_operators_dead_letter_private_key(overlays: Manifests) -> None:
    templates = _templates()
    assert "dead-letters.public.json" in templates["dead-letter-public-key"]["data"]
    for name, template in templates.items():
        keys = {**template.get("data", {}), **template.get("stringData", {})}
        assert not any("dead-letter" in key and "private" in key for key in keys), name
    for documents in overlays.values():
        for deployment in of_kind(documents, "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            secrets = _referenced(pod, "Secret")
            assert not any("dead-letter" in secret for secret in secrets), secrets
            settings = _settings(documents, deployment)
            assert not any("dead-letters.private" in value for value in settings.values())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_cases_pods_mount_the_intake_private_keys(
    overlays: Manifests, overlay: str
) -> None:
    documents = overlays[overlay]
    deployments = by_name(documents, "Deployment")
    holders = {
        name
        for name, deployment in deployments.items()
        if "cases-intake-keys" in _referenced(deployment["spec"]["template"]["spec"], "Secret")
    }
    assert holders == {"cases-api", "cases-worker"}
    for name in holders:
        path = _settings(documents, deployments[name])["CASES_INTAKE_KEYS_FILE"]
        assert _source_of(deployments[name], path) == (
            "Secret",
            "cases-intake-keys",
            "cases-intake.private.json",
        )
    assert _templates()["cases-intake-keys"]["kind"] == "Secret"
    assert "cases-intake.private.json" in _templates()["cases-intake-keys"]["stringData"]


@pytest.mark.parametrize("agency", DEFAULT_AGENCIES)
def test_an_agency_gets_the_cases_api_and_the_intake_public_key(
    overlays: Manifests, agency: str
) -> None:
    documents = overlays["prod"]
    deployments = by_name(documents, "Deployment")
    cases_api = by_name(documents, "Service")["cases-api"]
    assert {port["port"] for port in cases_api["spec"]["ports"]} == {8000}
    for process in ("api", "worker"):
        deployment = deployments[f"agency-{agency.replace('_', '-')}-{process}"]
        settings = _settings(documents, deployment)
        assert settings["AGENCY"] == agency
        assert settings["AGENCY_CASES_API_URL"] == "http://cases-api:8000"
        path = settings["AGENCY_CASES_INTAKE_PUBLIC_KEY_FILE"]
        assert _source_of(deployment, path) == (
            "ConfigMap",
            "cases-intake-public-key",
            "cases-intake.public.json",
        )
        assert "cases-intake-keys" not in _referenced(
            deployment["spec"]["template"]["spec"], "Secret"
        )


def test_referrals_no_longer_calls_the_cases_api_nor_holds_keys(overlays: Manifests) -> None:
    documents = overlays["prod"]
    settings = by_name(documents, "ConfigMap")["referrals-env"]["data"]
    assert not [key for key in settings if "CASES_API" in key or "DETAILS_KEYS" in key]
    made_by_operators = {"referrals", "referrals-db-app", "lienganh-cluster-ca-cert"}
    for process in ("api", "worker"):
        pod = by_name(documents, "Deployment")[f"referrals-{process}"]["spec"]["template"]["spec"]
        assert _referenced(pod, "Secret") <= made_by_operators, process
    templates = _templates()
    assert "referrals-service-token" not in templates
    assert "referral-details-keys" not in templates


# --- references, secrets, network ------------------------------------------------------------


def _referenced(pod: dict[str, Any], kind: str) -> set[str]:
    names = set()
    for volume in pod.get("volumes", []):
        if kind == "Secret" and "secret" in volume:
            names.add(volume["secret"]["secretName"])
        if kind == "ConfigMap" and "configMap" in volume:
            names.add(volume["configMap"]["name"])
    for container in pod["containers"]:
        for source in container.get("envFrom", []):
            ref = source.get("secretRef" if kind == "Secret" else "configMapRef")
            if ref:
                names.add(ref["name"])
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get(
                "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
            )
            if ref:
                names.add(ref["name"])
    return names


def _templates() -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc
        for path in sorted((K8S / "templates").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_secret_and_config_map_has_a_source(
    overlays: Manifests, overlay: str
) -> None:
    documents = overlays[overlay]
    # Operators write these: CloudNativePG `<cluster>-app`, Strimzi one Secret per KafkaUser
    # and the cluster CA's certificate.
    made_by_operators = (
        {f"{name}-app" for name in by_name(documents, "Cluster")}
        | set(by_name(documents, "KafkaUser"))
        | {f"{name}-cluster-ca-cert" for name in by_name(documents, "Kafka")}
    )
    templates = _templates()
    for kind, built in (("Secret", set()), ("ConfigMap", set(by_name(documents, "ConfigMap")))):
        for deployment in of_kind(documents, "Deployment"):
            for name in _referenced(deployment["spec"]["template"]["spec"], kind):
                source_found = (
                    name in built
                    or name in made_by_operators
                    or (name in templates and templates[name]["kind"] == kind)
                )
                assert source_found, f"{deployment['metadata']['name']} needs {kind} {name}"


def test_secret_templates_hold_no_values() -> None:
    templates = _templates()
    assert templates, "deploy/k8s/templates/ holds the Secret and key templates"
    for name, template in templates.items():
        values = {**template.get("data", {}), **template.get("stringData", {})}
        assert values and all(value == "" for value in values.values()), name


def test_no_secret_is_committed_in_the_manifests(overlays: Manifests) -> None:
    for documents in overlays.values():
        assert of_kind(documents, "Secret") == []


def test_our_pods_are_denied_by_default_and_each_database_opens_to_its_service_only(
    overlays: Manifests,
) -> None:
    policies = by_name(overlays["prod"], "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny and "egress" not in deny
    for cluster in by_name(overlays["prod"], "Cluster"):
        service = cluster.removesuffix("-db")
        ingress = policies[f"{service}-database-ingress"]["spec"]["ingress"]
        client_rule = next(rule for rule in ingress if rule.get("ports") == [{"port": 5432}])
        assert client_rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": service}}}
        ]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector, as the NetworkPolicy API reads it ({} selects all)."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        found = {
            "In": key in labels and labels[key] in (values or []),
            "NotIn": key not in labels or labels[key] not in (values or []),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not found:
            return False
    return True


def _lets(
    policies: list[dict[str, Any]], pod: dict[str, str], peer: dict[str, str], direction: str
) -> bool:
    """Whether the policies selecting `pod` let it talk to `peer` (same namespace) on the API
    port, for `direction` Egress (pod → peer) or Ingress (peer → pod)."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    isolating = [
        policy["spec"]
        for policy in policies
        if direction in policy["spec"]["policyTypes"]
        and _selects(policy["spec"]["podSelector"], pod)
    ]
    return not isolating or any(
        any(
            "podSelector" in entry
            and "namespaceSelector" not in entry
            and _selects(entry["podSelector"], peer)
            for entry in rule.get(peers_key, [])
        )
        and any(port["port"] in (8000, "http") for port in rule.get("ports", [{"port": 8000}]))
        for spec in isolating
        for rule in spec.get(rules_key, [])
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_agency_apis_and_only_they_reach_the_cases_api(
    overlays: Manifests, overlay: str
) -> None:
    documents = overlays[overlay]
    policies = of_kind(documents, "NetworkPolicy")
    pods = {
        name: deployment["spec"]["template"]["metadata"]["labels"]
        for name, deployment in by_name(documents, "Deployment").items()
    }
    cases_api = pods["cases-api"]
    agency_apis = {f"agency-{a.replace('_', '-')}-api" for a in DEFAULT_AGENCIES}
    reaching = {
        name
        for name, labels in pods.items()
        if _lets(policies, labels, cases_api, "Egress")
        and _lets(policies, cases_api, labels, "Ingress")
    }
    assert reaching == agency_apis
    assert "referrals-worker" not in reaching


def test_only_workers_may_reach_kafka(overlays: Manifests) -> None:
    for deployment in of_kind(overlays["prod"], "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        is_worker = deployment["metadata"]["name"].endswith("-worker")
        assert (labels.get("lienganh.vn/kafka-client") == "true") == is_worker


def test_each_worker_logs_in_to_kafka_as_its_own_user(overlays: Manifests) -> None:
    documents = overlays["prod"]
    config_maps = by_name(documents, "ConfigMap")
    users = set(by_name(documents, "KafkaUser"))
    for name, deployment in by_name(documents, "Deployment").items():
        if not name.endswith("-worker"):
            continue
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        settings = config_maps[container["envFrom"][0]["configMapRef"]["name"]]["data"]
        prefix = next(key for key in settings if key.endswith("_KAFKA_SASL_USERNAME"))
        prefix = prefix.removesuffix("_KAFKA_SASL_USERNAME")
        user = settings[f"{prefix}_KAFKA_SASL_USERNAME"]
        assert user == name.removesuffix("-worker") and user in users
        assert settings[f"{prefix}_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        password = next(e for e in container["env"] if e["name"] == f"{prefix}_KAFKA_SASL_PASSWORD")
        assert password["valueFrom"]["secretKeyRef"] == {"name": user, "key": "password"}


# --- monitoring ----------------------------------------------------------------------------------


def test_service_monitors_scrape_every_api_and_worker_service(overlays: Manifests) -> None:
    monitors = of_kind(overlays["prod"], "ServiceMonitor")
    for service in of_kind(overlays["prod"], "Service"):
        labels = service["metadata"]["labels"]
        ports = {port["name"] for port in service["spec"]["ports"]}
        scraped = [
            monitor
            for monitor in monitors
            if monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
            and any(endpoint["port"] in ports for endpoint in monitor["spec"]["endpoints"])
        ]
        assert scraped, f"no ServiceMonitor scrapes {service['metadata']['name']}"


def test_cluster_scrapes_carry_the_job_names_the_alert_rules_use(overlays: Manifests) -> None:
    compose_config = yaml.safe_load((REPO / "deploy/compose/prometheus/prometheus.yml").read_text())
    compose_jobs = {job["job_name"] for job in compose_config["scrape_configs"]}
    cluster_jobs = {
        relabel["replacement"]
        for monitor in of_kind(overlays["prod"], "ServiceMonitor")
        for endpoint in monitor["spec"]["endpoints"]
        for relabel in endpoint["relabelings"]
        if relabel["targetLabel"] == "job"
    }
    assert cluster_jobs == compose_jobs == {"lienganh-api", "lienganh-worker"}


def test_the_prometheus_rule_carries_every_rule_of_deploy_monitoring(
    generator: ModuleType, tmp_path: Path
) -> None:
    rules = {
        "groups": [
            {"name": "lienganh.sample", "rules": [{"alert": "DeadLetters", "expr": "up == 0"}]}
        ]
    }
    (tmp_path / "lienganh.rules.yml").write_text(yaml.safe_dump(rules))
    rendered = generator.render(rules_dir=tmp_path)
    (rule,) = yaml.safe_load_all(rendered["monitoring/prometheus-rule.yaml"])
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == rules["groups"]
    assert (
        "monitoring/prometheus-rule.yaml"
        in yaml.safe_load(rendered["kustomization.yaml"])["resources"]
    )
    assert "monitoring/prometheus-rule.yaml" not in generator.render(rules_dir=tmp_path / "none")


def test_the_cluster_gets_the_rules_now_in_deploy_monitoring(overlays: Manifests) -> None:
    rules_dir = REPO / "deploy/monitoring/prometheus/rules"
    groups = [
        group
        for path in sorted(rules_dir.glob("*.yml"))
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups", [])
    ]
    built = [
        group
        for rule in of_kind(overlays["prod"], "PrometheusRule")
        for group in rule["spec"]["groups"]
    ]
    assert built == groups


def test_dashboards_become_config_maps_for_the_grafana_sidecar(
    generator: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "referrals_overview.json").write_text('{"title": "Referrals"}')
    rendered = generator.render(dashboards_dir=tmp_path)
    (config_map,) = yaml.safe_load_all(rendered["monitoring/dashboards.yaml"])
    assert config_map["metadata"]["name"] == "grafana-dashboard-referrals-overview"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"] == {"referrals_overview.json": '{"title": "Referrals"}'}


def test_local_compose_and_strimzi_run_the_one_kafka_version_of_the_pom(
    overlays: Manifests,
) -> None:
    """deploy/local/kafka/pom.xml declares it; the generated files must say the same."""
    version, metadata = kafka_version(), kafka_metadata_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    assert metadata.startswith(".".join(version.split(".")[:2]) + "-IV"), metadata
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{version}"
    for name, documents in overlays.items():
        (kafka,) = of_kind(documents, "Kafka")
        assert kafka["spec"]["kafka"]["version"] == version, name
        assert kafka["spec"]["kafka"]["metadataVersion"] == metadata, name


def test_strimzi_runs_the_kafka_release_of_the_pom() -> None:
    """Strimzi refuses a Kafka it does not ship ("Unsupported Kafka.spec.kafka.version"):
    the generator refuses it first, and docs/deploy.md names the operator releases."""
    assert kafka_version() in strimzi.STRIMZI_KAFKA_VERSIONS
    deploy_doc = (REPO / "docs" / "deploy.md").read_text()
    assert f"Strimzi {strimzi.STRIMZI_VERSIONS}" in deploy_doc
    assert f"apache/kafka:{kafka_version()}" in deploy_doc


def test_the_generator_refuses_a_kafka_strimzi_does_not_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(strimzi, "VERSION", "4.1.1")  # Strimzi 1.1 dropped 4.1.x
    with pytest.raises(ValueError, match=r"Kafka 4\.1\.1 "):
        strimzi.cluster()


def test_the_custom_kind_checks_reject_what_an_operator_would() -> None:
    kafka = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "Kafka",
        "metadata": {"name": "lienganh"},
        "spec": {"kafka": {"version": kafka_version(), "replicas": 3}},
    }
    assert missing_fields(kafka) == [
        "apiVersion kafka.strimzi.io/v1beta2, expected kafka.strimzi.io/v1",
        "missing spec.kafka.listeners",
        "spec.kafka.replicas is gone in v1: replicas belong to KafkaNodePools",
    ]
    user = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": "cases", "labels": {}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [{"resource": {"type": "topic", "name": "t"}, "operation": "Read"}],
            },
        },
    }
    assert missing_fields(user) == [
        "missing metadata.labels.strimzi.io/cluster (the operator ignores it)",
        "acl `operation` was removed in v1: use `operations`",
        "acl operations []",
    ]
