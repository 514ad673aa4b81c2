"""The base every event payload stands on."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict


class EventModel(BaseModel):
    """An event payload: immutable, strict about unknown fields, typed by `ce_type`.

    `ce_type` is the CloudEvents `type`; a breaking change gets a new `.vN` type beside the
    old one. `partition_key` keeps all events of one case on one partition, in order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    ce_type: ClassVar[str]

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
