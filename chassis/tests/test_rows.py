"""Rows as plain values (`chassis.rows`): new ones with the model's defaults, never changed,
inserted as the ORM would insert them; rows read to be changed and upserted back whole."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, create_engine
from sqlmodel import Field, Session, SQLModel, select

from chassis.rows import insert_values, kept_row, plain_row, read_rows, values_of
from chassis.upsert import upsert_values
from tests.support.statements import tables_read


class Parcel(SQLModel, table=True):
    __tablename__ = "test_rows_parcels"

    id: str = Field(primary_key=True)
    weight: int
    label: str | None = None
    fragile: bool = False
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    sent_at: datetime | None = None


class Serial(SQLModel, table=True):
    __tablename__ = "test_rows_serials"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    notes: dict[str, str] = Field(default={}, sa_type=JSON)


def test_a_plain_row_has_the_values_model_construct_gives() -> None:
    sent = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    plain = plain_row(Parcel, id="p-1", weight=3, sent_at=sent)
    constructed = Parcel.model_construct(id="p-1", weight=3, sent_at=sent)

    assert values_of(plain) == values_of(constructed)
    assert (plain.id, plain.weight, plain.label, plain.fragile) == ("p-1", 3, None, False)


def test_a_plain_row_cannot_be_changed_or_read_beyond_its_fields() -> None:
    row = plain_row(Parcel, id="p-1", weight=3)

    with pytest.raises(AttributeError, match="cannot change"):
        row.weight = 4
    with pytest.raises(AttributeError):
        _ = row.colour  # type: ignore[attr-defined]
    assert row.weight == 3


def test_a_missing_required_field_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"Parcel needs \['weight'\]"):
        plain_row(Parcel, id="p-1")


def test_mutable_defaults_are_a_rows_own() -> None:
    first, second = plain_row(Parcel, id="a", weight=1), plain_row(Parcel, id="b", weight=1)
    assert first.tags is not second.tags
    one, other = plain_row(Serial, name="x"), plain_row(Serial, name="y")
    assert one.notes == {} and one.notes is not other.notes


def test_plain_rows_are_inserted_as_the_orm_would_insert_them() -> None:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[Parcel.__table__, Serial.__table__])  # type: ignore[attr-defined]
    sent = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    with Session(engine) as session:
        insert_values(
            session,
            [values_of(plain_row(Parcel, id="p-1", weight=3, label="box", sent_at=sent))],
        )
        session.add(Parcel(id="p-2", weight=3, label="box", sent_at=sent))
        insert_values(session, [values_of(plain_row(Serial, name="first"))])
        session.commit()

        plain, orm = (session.get(Parcel, key) for key in ("p-1", "p-2"))
        assert plain is not None and orm is not None
        assert plain.model_dump(exclude={"id"}) == orm.model_dump(exclude={"id"})
        assert session.exec(select(Serial.id, Serial.name)).all() == [(1, "first")]


def test_rows_read_to_change_are_the_orms_values_and_take_only_their_columns() -> None:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[Parcel.__table__])  # type: ignore[attr-defined]
    sent = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    with Session(engine) as session:
        session.add(Parcel(id="p-1", weight=3, tags=["glass"], sent_at=sent))
        session.add(Parcel(id="p-2", weight=5))
        session.commit()

        read = read_rows(session, Parcel, ["p-1", "p-3"])
        assert list(read) == ["p-1"]  # a key with no row is simply absent
        row = read["p-1"]
        assert values_of(row) == values_of(session.get(Parcel, "p-1"))  # type: ignore[arg-type]
        with pytest.raises(AttributeError, match="no column colour"):
            row.colour = "red"  # type: ignore[attr-defined]

        row.weight, row.label = 4, "fragile"
        upsert_values(session, [(*values_of(row), True)])
        upsert_values(session, [(*values_of(kept_row(Parcel, id="p-3", weight=1)), True)])
        session.commit()
        session.expire_all()
        stored = session.exec(select(Parcel.id, Parcel.weight, Parcel.label, Parcel.sent_at))
        assert sorted(stored.all()) == [
            ("p-1", 4, "fragile", sent),
            ("p-2", 5, None, None),
            ("p-3", 1, None, None),
        ]


def test_rows_are_read_in_one_query_a_few_hundred_keys() -> None:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[Parcel.__table__])  # type: ignore[attr-defined]
    keys = [f"p-{number}" for number in range(1_200)]
    with Session(engine) as session:
        insert_values(session, [values_of(plain_row(Parcel, id=key, weight=1)) for key in keys])
        with tables_read(engine) as reads:
            found = read_rows(session, Parcel, keys)
    assert sorted(found) == sorted(keys)
    assert reads == ["test_rows_parcels"] * 3
