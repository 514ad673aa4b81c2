"""The key of this agency's sealed view of a case, asked of the cases service when an
officer reads a referral (never per event: the views themselves came with the referral).

The officer's own token is relayed, so the cases service checks that officer — agency,
province, role, an active referral of this agency for the case — and audits the opening.
Nothing is cached: once a referral closes, or the child's identity is erased, the next read
opens nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

import httpx

from chassis.sealing import DataKey

Refusal = Literal["withheld", "erased", "unavailable"]


class ViewKeyRefused(Exception):
    """The cases service said no (or could not be asked); `status` says why, for the UI."""

    def __init__(self, status: Refusal, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ReleasedKey:
    key: DataKey
    fields: tuple[str, ...]


# 404: the cases service does not know this agency's referral yet (it learns of referrals
# from the referrals topic, a moment after the inbox does): try again shortly.
_REFUSALS: dict[int, Refusal] = {403: "withheld", 404: "unavailable", 410: "erased"}


class CasesViewKeys:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)

    def release(self, token: str, *, case_id: str, referral_id: str) -> ReleasedKey:
        try:
            response = self._client.post(
                f"/cases/{case_id}/view-key",
                json={"referral_id": referral_id},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise ViewKeyRefused(
                "unavailable", f"the cases service cannot be reached ({type(error).__name__})"
            ) from None
        if response.status_code != 200:
            status = _REFUSALS.get(response.status_code, "unavailable")
            raise ViewKeyRefused(status, _message(response))
        body = response.json()
        if body.get("case_id") != case_id or body.get("referral_id") != referral_id:
            raise ViewKeyRefused("unavailable", "the cases service answered for another case")
        key = base64.urlsafe_b64decode(str(body["key"]))
        return ReleasedKey(DataKey(key), tuple(str(f) for f in body.get("fields", ())))

    def close(self) -> None:
        self._client.close()


def _message(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or f"the cases service answered {response.status_code}")
