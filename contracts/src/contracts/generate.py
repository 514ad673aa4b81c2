"""Generates the published contract files from the event models and the topic list.

`python -m contracts.generate` writes `schemas/*.schema.json`, `examples/*.json` and
`asyncapi.yaml` under `contracts/`; `--check` writes nothing and exits 1 on any drift.
The models are the single source of truth: the files exist for other languages, tools and
reviewers, and a test keeps them from drifting.

`asyncapi.yaml` is written as JSON (JSON is valid YAML) because this package depends on
pydantic and cloudevents only; no YAML library is pulled in for one file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts import deadletter
from contracts.base import EventModel
from contracts.envelope import CORRELATION_ATTR, JSON_CONTENT_TYPE, encode, schema_uri
from contracts.registry import EVENT_MODELS, TOPIC_EVENT_TYPES
from contracts.topics import TopicSpec, declared_topics, dlq_topic, domain_topics

JSON = dict[str, Any]

# contracts/src/contracts/generate.py -> contracts/
CONTRACTS_DIR = Path(__file__).resolve().parents[2]
SCHEMAS_DIR = "schemas"
EXAMPLES_DIR = "examples"
ASYNCAPI_FILE = "asyncapi.yaml"

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_VERSION = "3.0.0"
# Version of the AsyncAPI document itself; bump it when channels or messages change.
DOCUMENT_VERSION = "0.1.0"
KAFKA_BINDING_VERSION = "0.5.0"
LOCAL_SERVER = "127.0.0.1:9092"
CE_SPECVERSION = "1.0"

HEADERS_SCHEMA = "CloudEventHeaders"
DEAD_LETTER = "DeadLetter"
DEAD_LETTER_HEADERS = "DeadLetterHeaders"
DEAD_LETTER_PAYLOAD = "DeadLetterPayload"

# Example envelopes need fixed ids and times, or every run would differ.
_EXAMPLE_EVENT_ID = "00000000-0000-4000-8000-000000000001"
_EXAMPLE_CORRELATION_ID = "00000000-0000-4000-8000-000000000002"
_EXAMPLE_TIME = datetime(2026, 11, 2, 8, 15, 1, tzinfo=UTC)

# AsyncAPI 3 restricts component, channel and operation keys to these characters.
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_PLACEHOLDER = re.compile(r"\\\{\w+\\\}")
_EXAMPLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


# --- JSON Schemas and examples -------------------------------------------------------------


def json_schemas() -> dict[str, JSON]:
    """`<ce_type>.schema.json` -> a standalone JSON Schema (draft 2020-12) of the payload."""
    return {
        f"{ce_type}.schema.json": _standalone_schema(model)
        for ce_type, model in sorted(EVENT_MODELS.items())
    }


def examples() -> dict[str, JSON]:
    """`<ce_type>.json` -> the model's synthetic example payload, as it travels in JSON, and
    `<ce_type>/<name>.json` -> each further named example (`EventModel.examples()`)."""
    found: dict[str, JSON] = {}
    for ce_type, model in sorted(EVENT_MODELS.items()):
        found[f"{ce_type}.json"] = example_of(model).model_dump(mode="json")
        for name, example in named_examples(model).items():
            if name != "example":
                found[f"{ce_type}/{name}.json"] = example.model_dump(mode="json")
    return found


def named_examples(model: type[EventModel]) -> dict[str, EventModel]:
    """Every named example of the model, `example` (its `example()`) first."""
    found = dict(model.examples())
    for name, example in found.items():
        if not isinstance(example, model) or not _EXAMPLE_NAME.fullmatch(name):
            raise TypeError(f"{model.__name__}.examples()[{name!r}] is not a {model.__name__}")
    return found


def example_of(model: type[EventModel]) -> EventModel:
    """The model's `example()`; every published event type must have one."""
    factory = getattr(model, "example", None)
    if factory is None:
        raise TypeError(f"{model.__name__} ({model.ce_type}) has no example() classmethod")
    example = factory()
    if not isinstance(example, model):
        raise TypeError(f"{model.__name__}.example() returned {type(example).__name__}")
    return example


def _standalone_schema(model: type[EventModel]) -> JSON:
    schema = model.model_json_schema()
    header = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_uri(model.ce_type),
        "title": schema.pop("title", model.__name__),
    }
    return header | schema


# --- which events travel where -------------------------------------------------------------


def event_types_for(topic: str) -> tuple[type[EventModel], ...]:
    """The event models that may appear on `topic`, resolving `{agency}` style patterns."""
    if topic in TOPIC_EVENT_TYPES:
        return TOPIC_EVENT_TYPES[topic]
    for pattern, models in TOPIC_EVENT_TYPES.items():
        if _pattern_regex(pattern).fullmatch(topic):
            return models
    return ()


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    # A placeholder stands for one dot-free name segment, e.g. the agency code.
    return re.compile(_PLACEHOLDER.sub("[^.]+", re.escape(pattern)))


def dead_letter_topics() -> set[str]:
    return {dlq_topic(topic.name) for topic in domain_topics() if topic.consumers}


def _topics_carrying(model: type[EventModel]) -> list[TopicSpec]:
    return [topic for topic in _sorted_topics() if model in event_types_for(topic.name)]


def _sorted_topics() -> list[TopicSpec]:
    return sorted(declared_topics(), key=lambda topic: topic.name)


# --- AsyncAPI ------------------------------------------------------------------------------


def asyncapi_document() -> JSON:
    """The AsyncAPI 3.0 document of every declared topic, self-contained (no external refs)."""
    topics = _sorted_topics()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Liên Ngành events",
            "version": DOCUMENT_VERSION,
            "description": (
                "Kafka topics of the Liên Ngành referral network. Every event is a CloudEvent "
                "1.0 in Kafka binary mode: attributes in `ce_*` headers, the JSON payload as "
                "the record value, the partition key as the record key. Generated from the "
                "`contracts` package by `python -m contracts.generate`; do not edit by hand."
            ),
        },
        "servers": {
            "local": {
                "host": LOCAL_SERVER,
                "protocol": "kafka",
                "description": "The single local broker started by `make run`.",
            }
        },
        "defaultContentType": JSON_CONTENT_TYPE,
        "channels": {_safe_id(topic.name): _channel(topic) for topic in topics},
        "operations": _operations(topics),
        "components": {"schemas": _component_schemas(), "messages": _component_messages()},
    }


def _channel(topic: TopicSpec) -> JSON:
    message_ids = _message_ids(topic)
    consumers = ", ".join(topic.consumers) or "none yet"
    contract = "" if message_ids else " No event contract is declared for this topic yet."
    return {
        "address": topic.name,
        "title": topic.name,
        "description": (
            f"{topic.description} Record key: {topic.key}. "
            f"Producer: {_role(topic.producer)}. Consumers: {consumers}.{contract}"
        ),
        "messages": {
            message_id: {"$ref": _pointer("components", "messages", message_id)}
            for message_id in message_ids
        },
        "bindings": {
            "kafka": {
                "partitions": topic.partitions,
                "topicConfiguration": {
                    "cleanup.policy": [topic.cleanup_policy.value],
                    "retention.ms": topic.retention_ms,
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _message_ids(topic: TopicSpec) -> list[str]:
    if topic.name in dead_letter_topics():
        return [DEAD_LETTER]
    return sorted(model.ce_type for model in event_types_for(topic.name))


def _operations(topics: Iterable[TopicSpec]) -> JSON:
    operations: JSON = {}
    for topic in topics:
        roles = [("send", topic.producer)] + [("receive", name) for name in topic.consumers]
        for action, service in roles:
            operation_id = f"{_safe_id(service)}_{action}_{_safe_id(topic.name)}"
            if operation_id in operations:
                raise ValueError(f"duplicate AsyncAPI operation id {operation_id!r}")
            operations[operation_id] = _operation(topic, action, service)
    return dict(sorted(operations.items()))


def _operation(topic: TopicSpec, action: str, service: str) -> JSON:
    channel_id = _safe_id(topic.name)
    verb = "writes to" if action == "send" else "reads"
    return {
        "action": action,
        "channel": {"$ref": _pointer("channels", channel_id)},
        "summary": f"{_role(service)} {verb} {topic.name}.",
        "messages": [
            {"$ref": _pointer("channels", channel_id, "messages", message_id)}
            for message_id in _message_ids(topic)
        ],
    }


def _component_schemas() -> JSON:
    schemas: JSON = {
        HEADERS_SCHEMA: _cloud_event_headers(),
        DEAD_LETTER_HEADERS: _dead_letter_headers(),
        DEAD_LETTER_PAYLOAD: {
            "description": (
                "The original record value, byte for byte: usually the JSON data of a "
                "CloudEvent, but anything at all when the reason is `malformed`."
            )
        },
    }
    for ce_type, model in sorted(EVENT_MODELS.items()):
        payload, definitions = _split_definitions(model.model_json_schema())
        for name, definition in definitions.items():
            _add_schema(schemas, name, definition)
        _add_schema(schemas, ce_type, payload)
    return dict(sorted(schemas.items()))


def _split_definitions(schema: JSON) -> tuple[JSON, JSON]:
    """Lift pydantic's `$defs` into components, pointing every `$ref` at its new home."""
    rewritten = _rewrite_refs(schema)
    definitions = rewritten.pop("$defs", {})
    return rewritten, definitions


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/$defs/", "#/components/schemas/", 1)
                if key == "$ref" and isinstance(value, str)
                else _rewrite_refs(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item) for item in node]
    return node


def _add_schema(schemas: JSON, name: str, schema: JSON) -> None:
    # Shared enums (CaseType, RiskLevel...) appear in many models; one copy is enough, but
    # two different schemas under one name would silently change a contract.
    if name in schemas and schemas[name] != schema:
        raise ValueError(
            f"two different schemas named {name!r}: give the nested model a distinct name"
        )
    schemas[name] = schema


def _component_messages() -> JSON:
    messages = {ce_type: _event_message(model) for ce_type, model in EVENT_MODELS.items()}
    messages[DEAD_LETTER] = _dead_letter_message()
    return dict(sorted(messages.items()))


def _event_message(model: type[EventModel]) -> JSON:
    ce_type = model.ce_type
    return {
        "name": model.__name__,
        "title": f"{model.__name__} ({ce_type})",
        "summary": _summary(model),
        "contentType": JSON_CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": _pointer("components", "schemas", HEADERS_SCHEMA)},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"type": "string", "const": ce_type},
                        "ce_dataschema": {"type": "string", "const": schema_uri(ce_type)},
                    },
                },
            ]
        },
        "payload": {"$ref": _pointer("components", "schemas", ce_type)},
        "correlationId": {
            "description": "Ties every event caused by one request together.",
            "location": f"$message.header#/ce_{CORRELATION_ATTR}",
        },
        "bindings": {"kafka": {"key": _key_schema(model), "bindingVersion": KAFKA_BINDING_VERSION}},
        "examples": [
            _message_example(model, name, example)
            for name, example in named_examples(model).items()
        ],
    }


def _summary(model: type[EventModel]) -> str:
    doc = (model.__doc__ or model.__name__).strip()
    return doc.splitlines()[0]


def _key_schema(model: type[EventModel]) -> JSON:
    keys = sorted({topic.key for topic in _topics_carrying(model)})
    held = " or ".join(keys) or "the partition key"
    return {
        "type": "string",
        "description": f"The partition key ({held}): events of one key stay in order.",
    }


def _message_example(model: type[EventModel], name: str, example: EventModel) -> JSON:
    topics = _topics_carrying(model)
    producer = topics[0].producer if topics else "example"
    record = encode(
        example,
        topic=topics[0].name if topics else "example",
        source="/" + producer.replace(":", "/"),
        correlation_id=_EXAMPLE_CORRELATION_ID,
        event_id=_EXAMPLE_EVENT_ID,
        time=_EXAMPLE_TIME,
    )
    headers = {name: value.decode("utf-8") for name, value in record.headers}
    return {
        "name": name,
        "summary": "Synthetic data only.",
        "headers": dict(sorted(headers.items())),
        "payload": example.model_dump(mode="json"),
    }


def _cloud_event_headers() -> JSON:
    def text(description: str, **extra: str) -> JSON:
        return {"type": "string", "description": description, **extra}

    return {
        "type": "object",
        "description": (
            "CloudEvents 1.0 attributes in Kafka binary mode: one `ce_*` header each, "
            "UTF-8 text. Other headers (tracing, dlq-*) may be present."
        ),
        "required": [
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_specversion",
            "ce_time",
            "ce_subject",
            "ce_dataschema",
            "content-type",
        ],
        "properties": {
            "ce_id": text("Unique event id (UUID); consumers deduplicate on it."),
            "ce_source": text(
                "The producing service, e.g. /cases or /agencies/police.",
                format="uri-reference",
            ),
            "ce_type": text("The event type, e.g. vn.lienganh.case.received.v1."),
            "ce_specversion": {**text("CloudEvents version."), "const": CE_SPECVERSION},
            "ce_time": text("When the event was produced (RFC 3339, UTC).", format="date-time"),
            "ce_subject": text("What the event is about: its partition key."),
            "ce_dataschema": text("urn:lienganh:schema:<type>, the payload's JSON Schema $id."),
            f"ce_{CORRELATION_ATTR}": text(
                "Correlation id of the request that caused the event (optional)."
            ),
            "ce_traceparent": text(
                "W3C trace context of the span that staged the event (CloudEvents "
                "distributed-tracing extension; optional)."
            ),
            "ce_causationid": text(
                "ce_id of the event this one was caused by, or of the first copy when the "
                "same event is published to a second topic (optional)."
            ),
            "ce_lane": {
                **text(
                    "Relay priority of the work that produced it: urgent (a child in immediate "
                    "danger) or bulk (an import); absent for normal. A consumer stages what the "
                    "event causes in the same lane (optional)."
                ),
                "enum": ["urgent", "bulk"],
            },
            "content-type": {**text("Media type of the value."), "const": JSON_CONTENT_TYPE},
        },
    }


def _dead_letter_headers() -> JSON:
    names = deadletter.HEADERS
    return {
        "type": "object",
        "description": (
            "The original record's headers (its `ce_*` headers when it had them) plus "
            "these `dlq-*` headers."
        ),
        "required": list(names),
        "properties": {
            name: {"type": "string", "description": description}
            for name, description in names.items()
        },
    }


def _dead_letter_message() -> JSON:
    return {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A record a consumer could not process, parked with the reason.",
        "description": (
            "The original record unchanged (same key, value and headers) plus `dlq-*` "
            "headers. Its value may be any event of the original topic, or not JSON at all."
        ),
        "headers": {"$ref": _pointer("components", "schemas", DEAD_LETTER_HEADERS)},
        "payload": {"$ref": _pointer("components", "schemas", DEAD_LETTER_PAYLOAD)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original record key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _role(service: str) -> str:
    # The audit topic's producer is declared as "*": every service writes to it.
    return "any service" if service == "*" else service


def _safe_id(text: str) -> str:
    return _UNSAFE_ID_CHARS.sub("_", text).strip("_") or "any"


def _pointer(*parts: str) -> str:
    """A local JSON Pointer reference, escaping `~` and `/` as RFC 6901 says."""
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


# --- files ---------------------------------------------------------------------------------


def render_files() -> dict[str, str]:
    """Relative path (POSIX) -> exact file text of every generated file."""
    files = {f"{SCHEMAS_DIR}/{name}": _dump(body) for name, body in json_schemas().items()}
    files |= {f"{EXAMPLES_DIR}/{name}": _dump(body) for name, body in examples().items()}
    files[ASYNCAPI_FILE] = _dump(asyncapi_document())
    return files


def _dump(document: JSON) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def drift(root: Path = CONTRACTS_DIR) -> list[str]:
    """`missing|differs|extra: <path>` for every file that does not match the models."""
    expected = render_files()
    problems = []
    for relative, text in sorted(expected.items()):
        path = root / relative
        if not path.is_file():
            problems.append(f"missing: {relative}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"differs: {relative}")
    problems.extend(f"extra: {relative}" for relative in _extra_files(root, expected))
    return problems


def _extra_files(root: Path, expected: dict[str, str]) -> list[str]:
    # The top level of the generated folders and one folder of named examples per type:
    # other subfolders (e.g. schemas/released/) are not ours.
    patterns = [(SCHEMAS_DIR, "*.json"), (EXAMPLES_DIR, "*.json"), (EXAMPLES_DIR, "vn.*/*.json")]
    found = [
        path.relative_to(root).as_posix()
        for folder, pattern in patterns
        for path in (root / folder).glob(pattern)
        if path.is_file()
    ]
    return sorted(relative for relative in found if relative not in expected)


_DONE = {"missing": "created", "differs": "updated", "extra": "deleted"}


def write(root: Path = CONTRACTS_DIR) -> list[str]:
    """Write every generated file and delete stale ones; return `created|updated|deleted: path`."""
    changes = [change.split(": ", 1) for change in drift(root)]
    for relative, text in render_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8", newline="\n")
    for kind, relative in changes:
        if kind == "extra":
            (root / relative).unlink()
    return [f"{_DONE[kind]}: {relative}" for kind, relative in changes]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.generate",
        description="Generate JSON Schemas, examples and asyncapi.yaml from the event models.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file drifted"
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=CONTRACTS_DIR,
        help="the contracts folder (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.check:
        problems = drift(args.root)
        for problem in problems:
            print(problem)
        if problems:
            print("generated contract files drifted: run `python -m contracts.generate`")
            return 1
        print(f"contract files are up to date in {args.root}")
        return 0
    changes = write(args.root)
    for change in changes:
        print(change)
    print(f"{len(changes)} file(s) changed in {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
