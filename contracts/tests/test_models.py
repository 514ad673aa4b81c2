"""The event registry: every contract registered once, well named, documented, with an example."""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
import typing
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

import contracts
from contracts.base import EventModel
from contracts.envelope import decode, encode
from contracts.generate import example_of
from contracts.registry import EVENT_MODELS, UnknownEventType, model_for

TYPE_NAME = re.compile(r"^vn\.lienganh\.[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*\.v(?P<n>[1-9]\d*)$")
MODELS = sorted(EVENT_MODELS.values(), key=lambda model: model.ce_type)


def _contract_classes() -> list[type[EventModel]]:
    """Every EventModel subclass with a ce_type defined anywhere in the contracts package."""
    for module in pkgutil.walk_packages(contracts.__path__, "contracts."):
        importlib.import_module(module.name)
    found: list[type[EventModel]] = []
    pending = list(EventModel.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        # Other test folders may subclass EventModel; only the contracts package counts.
        if cls.__module__.startswith("contracts.") and hasattr(cls, "ce_type"):
            found.append(cls)
    return found


def test_every_contract_class_is_registered_under_a_unique_type() -> None:
    classes = _contract_classes()
    types_seen = [cls.ce_type for cls in classes]
    duplicates = sorted({name for name in types_seen if types_seen.count(name) > 1})
    assert not duplicates, f"ce_type used by more than one model: {duplicates}"
    unregistered = sorted(cls.__name__ for cls in classes if EVENT_MODELS.get(cls.ce_type) != cls)
    assert not unregistered, f"models missing from registry.EVENT_MODELS: {unregistered}"
    assert set(EVENT_MODELS.values()) == set(classes)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.ce_type)
def test_type_name_follows_the_convention_and_the_module_version(model: type[EventModel]) -> None:
    match = TYPE_NAME.match(model.ce_type)
    assert match, f"{model.ce_type!r} is not vn.lienganh.<area>.<name>.v<N>"
    assert EVENT_MODELS[model.ce_type] is model
    # A vN type lives in a vN module, so a v2 can sit beside v1 without touching it.
    assert model.__module__.endswith(f".v{match['n']}"), model.__module__


def _nested_models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [nested for arg in typing.get_args(annotation) for nested in _nested_models(arg)]


def _undocumented_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    missing = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            missing.append(f"{model.__name__}.{name}")
        for nested in _nested_models(field.annotation):
            missing.extend(_undocumented_fields(nested, seen))
    return missing


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.ce_type)
def test_every_field_including_nested_ones_has_a_description(model: type[EventModel]) -> None:
    assert not _undocumented_fields(model, set())
    assert (model.__doc__ or "").strip(), f"{model.__name__} needs a docstring"


def test_the_description_walk_sees_nested_models() -> None:
    class Inner(BaseModel):
        bare: int

    class Outer(BaseModel):
        inner: list[Inner] | None = None

    assert _undocumented_fields(Outer, set()) == ["Outer.inner", "Inner.bare"]
    assert _nested_models(types.NoneType) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.ce_type)
def test_example_round_trips_through_the_envelope(model: type[EventModel]) -> None:
    example = example_of(model)
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    record = encode(
        example, topic="t.v1", source="/tests", correlation_id="corr-1", event_id="id-1", time=at
    )
    envelope = decode(record)
    assert (envelope.id, envelope.source, envelope.type) == ("id-1", "/tests", model.ce_type)
    assert (envelope.subject, envelope.time, envelope.correlation_id) == (
        example.subject(),
        at,
        "corr-1",
    )
    assert model_for(envelope.type).model_validate(envelope.data) == example


def test_unknown_type_has_no_model() -> None:
    with pytest.raises(UnknownEventType):
        model_for("vn.lienganh.case.kidnapped.v1")
