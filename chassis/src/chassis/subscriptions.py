"""A worker's handler map, checked against the declared topics before it consumes anything.

Each service declares one map, next to its handlers: topic → event type → handler. The
topics a service consumes are also declared in `contracts/topics.py`, and that list drives
the Kafka ACLs; the event types a topic carries are declared in `contracts/registry.py`. A
map that disagrees with either — a declared topic left unread, a topic the service has no
ACL for, a handler for an event that never travels on its topic — stops the worker at start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chassis.consumer import Handler, Preload
from chassis.unit_of_work import UnitOfWork
from contracts.base import EventModel
from contracts.registry import event_types_on
from contracts.topics import domain_topics

S = TypeVar("S")
Subscriptions = Mapping[str, Mapping[type[EventModel], Handler]]


class SubscriptionsDiffer(RuntimeError):
    """The worker's handler map and the contracts disagree: it must not consume."""


def declared_topics_of(consumer: str, agencies: Sequence[str]) -> frozenset[str]:
    """What `contracts/topics.py` says `consumer` (e.g. "cases", "agencies:police") reads."""
    return frozenset(t.name for t in domain_topics(tuple(agencies)) if consumer in t.consumers)


def check_subscriptions(
    consumer: str, subscriptions: Subscriptions, agencies: Sequence[str]
) -> None:
    declared = declared_topics_of(consumer, agencies)
    subscribed = frozenset(subscriptions)
    problems = []
    if missing := sorted(declared - subscribed):
        problems.append(f"declared for {consumer} but not subscribed: {missing}")
    if extra := sorted(subscribed - declared):
        problems.append(f"subscribed but not declared for {consumer}: {extra}")
    for topic, handlers in subscriptions.items():
        allowed = event_types_on(topic)
        if stray := sorted(m.__name__ for m in handlers if m not in allowed):
            problems.append(f"{topic} never carries {stray}")
        if not handlers:
            problems.append(f"{topic} is subscribed with no handler")
    if problems:
        raise SubscriptionsDiffer("; ".join(problems))


@dataclass(frozen=True)
class StoreHandler(Generic[S]):
    """A handler that works on a service's store, as the worker calls it: the store is built
    over the unit of work of each event (unit tests call the handler with an in-memory one).
    A store class with a `preload(session, events)` has it called once a batch, before its
    events are handled, to read in one query the rows they will look up."""

    store_of: Callable[[UnitOfWork], S]
    handler: Callable[[S, Any], None]

    def __call__(self, uow: UnitOfWork, event: Any) -> None:
        self.handler(self.store_of(uow), event)

    @property
    def preload(self) -> Preload | None:
        found: Preload | None = getattr(self.store_of, "preload", None)
        return found


def with_store(store_of: Callable[[UnitOfWork], S], handler: Callable[[S, Any], None]) -> Handler:
    return StoreHandler(store_of, handler)
