"""The committed schemas, examples and AsyncAPI document are exactly what the models generate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from contracts import generate
from contracts.envelope import decode, encode, schema_uri
from contracts.registry import EVENT_MODELS
from contracts.topics import declared_topics, dlq_topic, domain_topics

ROOT = generate.CONTRACTS_DIR
REGENERATE = "run `.venv/bin/python -m contracts.generate` and commit the result"
TYPES = sorted(EVENT_MODELS)


def _load(relative: str) -> Any:
    return json.loads((ROOT / relative).read_text(encoding="utf-8"))


def _schema(ce_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = _load(f"schemas/{ce_type}.schema.json")
    return schema


def _example(ce_type: str) -> dict[str, Any]:
    example: dict[str, Any] = _load(f"examples/{ce_type}.json")
    return example


def test_committed_files_match_the_models() -> None:
    problems = generate.drift(ROOT)
    assert not problems, "generated contract files drifted from the models:\n" + "\n".join(
        [*problems, REGENERATE]
    )


def test_the_check_command_passes_on_the_committed_files() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "contracts.generate", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr + REGENERATE


def test_check_lists_every_drifted_file_and_generate_repairs_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate.main(["--root", str(tmp_path)]) == 0
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0
    first = f"examples/{TYPES[0]}.json"
    (tmp_path / first).write_text("{}\n", encoding="utf-8")
    (tmp_path / f"schemas/{TYPES[1]}.schema.json").unlink()
    (tmp_path / "schemas/vn.lienganh.case.removed.v1.schema.json").write_text("{}")
    (tmp_path / "schemas/released").mkdir()
    (tmp_path / "schemas/released/kept.schema.json").write_text("{}")
    capsys.readouterr()

    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"differs: {first}" in out
    assert f"missing: schemas/{TYPES[1]}.schema.json" in out
    assert "extra: schemas/vn.lienganh.case.removed.v1.schema.json" in out
    assert "released" not in out
    assert "python -m contracts.generate" in out
    assert (tmp_path / first).read_text() == "{}\n", "--check must write nothing"

    assert generate.main(["--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"updated: {first}" in out
    assert "deleted: schemas/vn.lienganh.case.removed.v1.schema.json" in out
    assert generate.drift(tmp_path) == []
    assert (tmp_path / "schemas/released/kept.schema.json").exists()


def test_generation_is_deterministic() -> None:
    assert generate.render_files() == generate.render_files()


@pytest.mark.parametrize("ce_type", TYPES)
def test_schema_is_a_valid_draft_2020_12_schema_named_by_its_type(ce_type: str) -> None:
    schema = _schema(ce_type)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_uri(ce_type)
    assert schema["title"] == EVENT_MODELS[ce_type].__name__


@pytest.mark.parametrize("ce_type", TYPES)
def test_example_validates_against_its_committed_schema(ce_type: str) -> None:
    validator = Draft202012Validator(
        _schema(ce_type), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [error.message for error in validator.iter_errors(_example(ce_type))]
    assert not errors


def _example_files() -> list[tuple[str, str]]:
    """(ce_type, path relative to contracts/) of every committed example."""
    found = []
    for ce_type in TYPES:
        found.append((ce_type, f"examples/{ce_type}.json"))
        for path in sorted((ROOT / "examples" / ce_type).glob("*.json")):
            found.append((ce_type, path.relative_to(ROOT).as_posix()))
    return found


@pytest.mark.parametrize("ce_type", TYPES)
def test_every_type_has_several_examples(ce_type: str) -> None:
    files = [path for of_type, path in _example_files() if of_type == ce_type]
    assert len(files) >= 2, files
    payloads = [_load(path) for path in files]
    assert all(payloads.count(payload) == 1 for payload in payloads), "examples must differ"


@pytest.mark.parametrize(("ce_type", "path"), _example_files(), ids=lambda v: v)
def test_every_example_validates_against_its_schema_and_its_model(ce_type: str, path: str) -> None:
    validator = Draft202012Validator(
        _schema(ce_type), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    payload = _load(path)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(payload)]
    assert not errors
    # Strictly, as a producer builds it: no unknown field, the field policy kept.
    assert EVENT_MODELS[ce_type](**payload).model_dump(mode="json") == payload


def test_examples_cover_optional_fields_present_and_absent() -> None:
    for ce_type in TYPES:
        schema = _schema(ce_type)
        optional = set(schema["properties"]) - set(schema["required"])
        if not optional:
            continue
        payloads = [_load(path) for of_type, path in _example_files() if of_type == ce_type]
        default = {name: schema["properties"][name].get("default") for name in optional}
        filled = {name for p in payloads for name in optional if p.get(name) != default[name]}
        assert filled, f"{ce_type}: no example fills an optional field"
        assert any(all(p.get(n) == default[n] for n in optional) for p in payloads) or (
            len(payloads) >= 3
        ), f"{ce_type}: no example leaves the optional fields out"


@pytest.mark.parametrize("ce_type", TYPES)
def test_the_schema_refuses_what_the_model_refuses(ce_type: str) -> None:
    validator = Draft202012Validator(_schema(ce_type))
    assert not validator.is_valid(_example(ce_type) | {"unexpected": 1})
    required = _schema(ce_type)["required"]
    assert not validator.is_valid({k: v for k, v in _example(ce_type).items() if k != required[0]})


@pytest.mark.parametrize("ce_type", TYPES)
def test_committed_example_round_trips_through_the_envelope(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    event = model.model_validate(_example(ce_type))
    envelope = decode(encode(event, topic="t.v1", source="/tests"))
    assert envelope.type == ce_type
    again = model.model_validate(envelope.data)
    assert again == event
    assert again.model_dump(mode="json") == _example(ce_type)


# --- the AsyncAPI document -----------------------------------------------------------------


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = _load("asyncapi.yaml")
    return document


def test_asyncapi_describes_every_declared_topic(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["title"] == "Liên Ngành events"
    assert asyncapi["servers"]["local"] == {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "description": asyncapi["servers"]["local"]["description"],
    }
    channels = asyncapi["channels"]
    assert {channel["address"] for channel in channels.values()} == {
        topic.name for topic in declared_topics()
    }
    for topic in declared_topics():
        kafka = channels[topic.name]["bindings"]["kafka"]
        assert kafka["partitions"] == topic.partitions
        assert kafka["topicConfiguration"] == {
            "cleanup.policy": [topic.configs()["cleanup.policy"]],
            "retention.ms": int(topic.configs()["retention.ms"]),
        }


def test_dead_letter_channels_carry_dead_letters(asyncapi: dict[str, Any]) -> None:
    for topic in domain_topics():
        if topic.consumers:
            messages = asyncapi["channels"][dlq_topic(topic.name)]["messages"]
            assert list(messages) == [generate.DEAD_LETTER]


def test_one_send_per_producer_and_one_receive_per_consumer(asyncapi: dict[str, Any]) -> None:
    operations = asyncapi["operations"].values()
    for topic in declared_topics():
        ref = f"#/channels/{topic.name}"
        actions = sorted(op["action"] for op in operations if op["channel"]["$ref"] == ref)
        assert actions == sorted(["send"] + ["receive"] * len(topic.consumers)), topic.name


def test_every_event_type_has_a_message(asyncapi: dict[str, Any]) -> None:
    messages = asyncapi["components"]["messages"]
    assert set(messages) == set(EVENT_MODELS) | {generate.DEAD_LETTER}
    for ce_type in EVENT_MODELS:
        assert messages[ce_type]["payload"] == {"$ref": f"#/components/schemas/{ce_type}"}


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_document_is_self_contained(asyncapi: dict[str, Any]) -> None:
    refs = _refs(asyncapi)
    assert refs
    assert all(ref.startswith("#/") for ref in refs), "only local references"
    assert not [ref for ref in refs if "$defs" in ref]
    for ref in refs:
        _resolve(asyncapi, ref)  # a KeyError names the dangling reference


@pytest.mark.parametrize("ce_type", TYPES)
def test_message_examples_match_their_payload_and_header_schemas(
    asyncapi: dict[str, Any], ce_type: str
) -> None:
    # The parser does not check AsyncAPI 3 message examples, so check them here. The whole
    # document is the root schema, which makes its #/components/... references resolve.
    message = asyncapi["components"]["messages"][ce_type]
    for example in message["examples"]:
        for part in ("payload", "headers"):
            validator = Draft202012Validator(
                asyncapi | message[part], format_checker=Draft202012Validator.FORMAT_CHECKER
            )
            errors = [error.message for error in validator.iter_errors(example[part])]
            assert not errors, (part, errors)
        wrong_type = example["headers"] | {"ce_type": "vn.lienganh.other.thing.v1"}
        assert not Draft202012Validator(asyncapi | message["headers"]).is_valid(wrong_type)
