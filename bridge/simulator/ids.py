"""Identifiers shaped like Zoom's, and the webhook payloads each product family sends (rtms-protocol.md 3.4)."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from bridge.rtms.enums import Product
from bridge.rtms.webhooks import stream_payload


def zoom_uuid() -> str:
    """A meeting/webinar uuid or Video SDK session id: base64 of 16 bytes, so 22 characters and `==`.

    Real ones may hold `/` and `+`, which clients must not URL-decode before signing: keep them.
    """
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def _token(n_bytes: int) -> str:
    return secrets.token_urlsafe(n_bytes)


@dataclass(frozen=True)
class StreamIds:
    product: Product
    instance_id: str
    rtms_stream_id: str
    operator_id: str
    account_id: str
    numeric_id: int
    """meeting_id / webinar_id (the number people type)."""
    session_key: str | None = None
    """Video SDK sessions name a session key next to the id."""

    @classmethod
    def new(cls, product: Product, instance_id: str | None = None, rtms_stream_id: str | None = None) -> StreamIds:
        if instance_id is None:
            if product in (Product.MEETING, Product.WEBINAR, Product.SESSION):
                instance_id = zoom_uuid()
            elif product is Product.CONTACT_CENTER:
                instance_id = _token(16)
            else:
                instance_id = str(secrets.randbelow(9 * 10**18) + 10**18)
        return cls(
            product=product,
            instance_id=instance_id,
            rtms_stream_id=rtms_stream_id or uuid.uuid4().hex,
            operator_id=_token(16),
            account_id=_token(16),
            numeric_id=secrets.randbelow(9 * 10**10) + 10**10,
            session_key=_token(9) if product is Product.SESSION else None,
        )

    @property
    def id_key(self) -> str:
        return self.product.id_key

    def _base(self, **fields: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.session_key is not None:
            extra["session_key"] = self.session_key
        return stream_payload(self.product, self.instance_id, self.rtms_stream_id, **extra, **fields)

    def started_payload(self, server_urls: str) -> dict[str, Any]:
        """`*.rtms_started`: the OpenAPI fields plus those added in May 2026, per product."""
        if self.product is Product.MEETING:
            return self._base(
                server_urls=server_urls,
                operator_id=self.operator_id,
                account_id=self.account_id,
                is_original_host=True,
                meeting_id=self.numeric_id,
            )
        if self.product is Product.WEBINAR:
            return self._base(
                server_urls=server_urls,
                operator_id=self.operator_id,
                account_id=self.account_id,
                is_original_host=True,
                webinar_id=self.numeric_id,
            )
        if self.product is Product.SESSION:
            return self._base(server_urls=server_urls, account_id=self.account_id)
        return self._base(server_urls=server_urls)

    def stopped_payload(self, stop_reason: int) -> dict[str, Any]:
        return self._base(stop_reason=stop_reason)

    def interrupted_payload(self) -> dict[str, Any]:
        return self._base()
