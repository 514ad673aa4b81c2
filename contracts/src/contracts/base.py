"""The base every event payload stands on: strict when produced, tolerant when read.

Three ways in, three strictnesses:

- `Model(...)`, the constructor, is how a producer builds an event: unknown fields are
  refused and the producer-only rules run too (e.g. the field policy on sealed views), so a
  typo or an overshared field never reaches a topic;
- `Model.read(data)` is how a consumer reads one (`contracts.registry.read_event`): fields
  its version of the contract does not know are ignored, at every level, so a producer may
  add an optional field before every consumer has upgraded (`contracts.compatibility` says
  which additions are safe); every field it knows is validated as strictly as ever;
- `Model.model_validate(data)`, plain pydantic: unknown fields refused, producer-only rules
  not run (a stored or received payload is checked, not re-produced).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

READING = "contracts.reading"
"""Validation context key: set (to True) when a consumer reads a payload; see `read()`."""
PRODUCING = "contracts.producing"
"""Validation context key: set (to True) when a producer builds an event (the constructor)."""


def reading(info: ValidationInfo) -> bool:
    """Whether this validation reads a received payload (unknown fields ignored)."""
    context = info.context
    return isinstance(context, Mapping) and bool(context.get(READING))


def producing(info: ValidationInfo) -> bool:
    """Whether this validation builds an event to publish (producer-only rules apply)."""
    context = info.context
    return isinstance(context, Mapping) and bool(context.get(PRODUCING))


class EventModel(BaseModel):
    """An event payload: immutable, strict about unknown fields, typed by `ce_type`.

    `ce_type` is the CloudEvents `type`; a breaking change gets a new `.vN` type beside the
    old one. `partition_key` keeps all events of one case on one partition, in order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    ce_type: ClassVar[str]

    def __init__(self, /, **data: Any) -> None:
        # Building an event is producing it: the same validation, with the producer's rules.
        __tracebackhide__ = True
        self.__pydantic_validator__.validate_python(
            data, self_instance=self, context={PRODUCING: True}
        )

    # Pydantic routes `model_validate` through a custom `__init__` (so reading would become
    # producing); marked as its own base `__init__`, it is used by the constructor only.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def read(cls, data: Any) -> Self:
        """Validate a received payload as a tolerant reader: unknown fields (here and in
        nested models) are ignored; every known field is validated as strictly as ever."""
        return cls.model_validate(data, context={READING: True})

    @model_validator(mode="before")
    @classmethod
    def _ignore_unknown_fields_when_reading(cls, data: Any, info: ValidationInfo) -> Any:
        if not reading(info) or not isinstance(data, Mapping):
            return data
        known = {field.alias or name for name, field in cls.model_fields.items()}
        return {key: value for key, value in data.items() if key in known}

    def partition_key(self) -> str:
        key = getattr(self, "case_id", None)
        if not isinstance(key, str):
            raise TypeError(f"{type(self).__name__} must define partition_key()")
        return key

    def subject(self) -> str:
        """The CloudEvents `subject`: the thing the event is about."""
        return self.partition_key()

    @classmethod
    def example(cls) -> Self:
        """A synthetic instance for schemas, docs and tests; every event type defines one."""
        raise NotImplementedError(f"{cls.__name__} has no example()")

    @classmethod
    def example_with(cls, **changes: Any) -> Self:
        """`example()` with some fields changed, validated like any new event."""
        return cls(**(cls.example().model_dump() | changes))

    @classmethod
    def more_examples(cls) -> dict[str, Self]:
        """Further named synthetic instances (other scenarios, optional fields filled)."""
        return {}

    @classmethod
    def examples(cls) -> dict[str, Self]:
        """Every published example by name: `example` (the one `example()` gives),
        `minimal` (the same with every optional field left out) and `more_examples()`."""
        typical = cls.example()
        required = {name for name, field in cls.model_fields.items() if field.is_required()}
        minimal = cls(**typical.model_dump(include=required))
        found = {"example": typical}
        if minimal != typical:
            found["minimal"] = minimal
        for name, example in cls.more_examples().items():
            if name in found:
                raise ValueError(f"{cls.__name__}: example name {name!r} used twice")
            found[name] = example
        return found
