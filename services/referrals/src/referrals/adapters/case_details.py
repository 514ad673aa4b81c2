"""Need-to-know referral details from the cases API (interface A), with retries.

The cases service applies the field policy; the referrals service only carries the result
to the agency. Identity never touches the referrals database: the details go straight into
the `ReferralRequested` event in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from chassis.consumer import RejectedEvent
from chassis.crypto import FieldCipher
from chassis.sealed_details import details_cipher, seal_details

logger = logging.getLogger(__name__)

DetailsSource = Callable[[str, str], dict[str, str]]


class SealedFor:
    """Wraps a details source: values leave it sealed for the recipient agency."""

    def __init__(self, source: DetailsSource, keys_dir: Path) -> None:
        self._source = source
        self._keys_dir = keys_dir
        self._ciphers: dict[str, FieldCipher] = {}

    def __call__(self, case_id: str, agency: str) -> dict[str, str]:
        details = self._source(case_id, agency)
        if not details:
            return {}
        if agency not in self._ciphers:
            self._ciphers[agency] = details_cipher(self._keys_dir, agency)
        # open_referral then keeps only the allowed fields (by name; values stay sealed).
        return seal_details(self._ciphers[agency], case_id=case_id, agency=agency, details=details)


def no_details(case_id: str, agency: str) -> dict[str, str]:
    """Used when no cases API is configured: referrals carry the case facts only."""
    return {}


def _transient(error: BaseException) -> bool:
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500 or error.response.status_code == 429
    return isinstance(error, httpx.TransportError)


class CasesApiDetails:
    """Calls `GET /cases/{id}/referral-details?agency=` with the service's bearer token."""

    def __init__(
        self,
        base_url: str,
        token_file: Path,
        *,
        attempts: int = 5,
        max_wait_s: float = 5.0,
        timeout_s: float = 5.0,
    ) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self._token_file = token_file
        self._retrying = Retrying(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=max_wait_s),
            reraise=True,
        )

    def __call__(self, case_id: str, agency: str) -> dict[str, str]:
        for attempt in self._retrying:
            with attempt:
                return self._fetch(case_id, agency)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _fetch(self, case_id: str, agency: str) -> dict[str, str]:
        # Read each time: the token file is rotated by whoever mints it.
        token = self._token_file.read_text(encoding="utf-8").strip()
        response = self._client.get(
            f"/cases/{case_id}/referral-details",
            params={"agency": agency},
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code == 404:
            # The case event came from the cases service's own topic, so the referral is
            # still made (facts only): a missing detail must never hold back help.
            logger.warning("cases API has no referral details for this case; sending facts only")
            return {}
        response.raise_for_status()
        body = response.json()
        if body.get("case_id") != case_id or body.get("agency") != agency:
            raise RejectedEvent("the cases service answered for another case or agency")
        details = body.get("details")
        if not isinstance(details, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in details.items()
        ):
            raise RejectedEvent("referral details from the cases service are not a string map")
        return details

    def close(self) -> None:
        self._client.close()
