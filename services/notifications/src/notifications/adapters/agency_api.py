"""The agency inbox API (interface D), called with the signed-in officer's own token.

The web inbox holds no referral data of its own: every read and action goes to the agency's
service, which checks agency, province, role and version exactly as for any other client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class AgencyUnavailable(Exception):
    """No API is configured for the agency, or it did not answer."""


@dataclass(frozen=True)
class AgencyReply:
    status: int
    body: Any

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("message") or self.body.get("detail") or self.body)
        return str(self.body)


@dataclass(frozen=True)
class AgencyApi:
    base_urls: dict[str, str]
    timeout_s: float = 10.0

    def list_referrals(self, agency: str, token: str) -> AgencyReply:
        return self._call("GET", agency, "/referrals", token, params={"limit": 200})

    def read_referral(self, agency: str, token: str, referral_id: str) -> AgencyReply:
        return self._call("GET", agency, f"/referrals/{referral_id}", token)

    def act(
        self, agency: str, token: str, referral_id: str, action: str, body: dict[str, Any]
    ) -> AgencyReply:
        if action not in ("acknowledge", "accept", "reject"):
            raise ValueError(f"unknown action {action}")
        return self._call("POST", agency, f"/referrals/{referral_id}/{action}", token, json=body)

    def _call(self, method: str, agency: str, path: str, token: str, **kwargs: Any) -> AgencyReply:
        base = self.base_urls.get(agency)
        if not base:
            raise AgencyUnavailable(f"no API configured for agency {agency!r}")
        try:
            response = httpx.request(
                method,
                base.rstrip("/") + path,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout_s,
                **kwargs,
            )
        except httpx.HTTPError as error:
            raise AgencyUnavailable(
                f"agency {agency} did not answer: {type(error).__name__}"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return AgencyReply(response.status_code, body)
