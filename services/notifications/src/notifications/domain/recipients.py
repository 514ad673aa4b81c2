"""The recipients directory: officers, the channels they are reached on, their language."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["inspector", "case_worker", "supervisor", "coordinator", "admin"]
ChannelKind = Literal["in_app", "email", "sms", "webhook"]
Language = Literal["vi", "en"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?\d{9,15}$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


class ChannelAddress(BaseModel):
    """One way to reach an officer; in-app needs no address, the others do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ChannelKind = Field(description="in_app, email, sms or webhook.")
    address: str | None = Field(
        default=None, description="E-mail address, phone number (E.164) or webhook URL."
    )
    secret_ref: str | None = Field(
        default=None,
        description="Webhooks: name of the signing secret in the service's configuration.",
    )

    @model_validator(mode="after")
    def _address_fits_kind(self) -> Self:
        rules = {"email": _EMAIL, "sms": _PHONE, "webhook": _URL}
        pattern = rules.get(self.kind)
        if pattern is None:
            if self.address is not None:
                raise ValueError("in_app takes no address")
        elif self.address is None or not pattern.match(self.address):
            raise ValueError(f"address is not a valid {self.kind} address")
        if self.kind == "webhook" and not self.secret_ref:
            raise ValueError("a webhook needs secret_ref, the name of its signing secret")
        return self


class Officer(BaseModel):
    """A person who may be told of referrals and cases (synthetic in seeds and tests)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1, max_length=200)
    agency: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    role: Role
    provinces: tuple[str, ...] = Field(min_length=1)
    language: Language = "vi"
    channels: tuple[ChannelAddress, ...] = (ChannelAddress(kind="in_app"),)

    @model_validator(mode="after")
    def _valid_provinces_and_channels(self) -> Self:
        bad = [p for p in self.provinces if p != "*" and not re.fullmatch(r"\d{2}", p)]
        if bad:
            raise ValueError("provinces must be 2-digit province codes or '*'")
        kinds = [c.kind for c in self.channels]
        if len(kinds) != len(set(kinds)):
            raise ValueError("channels: one address per channel kind")
        return self

    def serves(self, province_code: str) -> bool:
        return "*" in self.provinces or province_code in self.provinces


class Directory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    officers: tuple[Officer, ...]
