"""A lean AWS Query-protocol client for bulk seeding.

Seeding 5,000 users means ~8,000 IAM calls; boto3 spends ~4 ms of CPU on each
(validation, serialisation, parsing), which on a 2-core box is the bottleneck.
This client sends the same wire requests an SDK sends - ``POST /`` with a
form-encoded ``Action=...&Version=2010-05-08`` body, SigV4-signed - over a
kept-alive connection per thread, and reads the few response fields the seeder
needs. Errors raise :class:`QueryError` with the AWS error code.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import re
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

_ERROR_CODE_RE = re.compile(r"<Code>([^<]*)</Code>")
_ERROR_MESSAGE_RE = re.compile(r"<Message>([^<]*)</Message>")


class QueryError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class QueryClient:
    """Thread-safe: each thread keeps its own HTTP connection."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        service: str,
        version: str,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
    ) -> None:
        parts = urlsplit(endpoint_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._netloc = parts.netloc
        self._service = service
        self._version = version
        self._region = region
        self._key = access_key_id
        self._secret = secret_access_key
        self._token = session_token
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
            self._local.conn = conn
        return conn

    def call(self, action: str, params: dict[str, Any] | None = None) -> str:
        """Send one request; return the response XML text."""
        fields = {"Action": action, "Version": self._version}
        for key, value in (params or {}).items():
            if value is None:
                continue
            fields[key] = str(value).lower() if isinstance(value, bool) else str(value)
        body = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(fields.items())
        )
        headers = self._sign(body)
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request("POST", "/", body=body.encode(), headers=headers)
                resp = conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        if resp.status >= 300:
            code = _ERROR_CODE_RE.search(text)
            message = _ERROR_MESSAGE_RE.search(text)
            raise QueryError(
                resp.status,
                code.group(1) if code else str(resp.status),
                message.group(1) if message else text[:200],
            )
        return text

    def _sign(self, body: str) -> dict[str, str]:
        """SigV4 headers (the lab does not verify them; they are there to be faithful)."""
        now = datetime.now(UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date = amz_date[:8]
        payload_hash = hashlib.sha256(body.encode()).hexdigest()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "Host": self._netloc,
            "X-Amz-Date": amz_date,
        }
        if self._token:
            headers["X-Amz-Security-Token"] = self._token
        signed = sorted(h.lower() for h in headers)
        canonical_headers = "".join(
            f"{name}:{headers[next(h for h in headers if h.lower() == name)].strip()}\n"
            for name in signed
        )
        canonical = "\n".join(["POST", "/", "", canonical_headers, ";".join(signed), payload_hash])
        scope = f"{date}/{self._region}/{self._service}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = ("AWS4" + self._secret).encode()
        for part in (date, self._region, self._service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self._key}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        return headers

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def xml_value(text: str, tag: str) -> str | None:
    m = re.search(f"<{tag}>([^<]*)</{tag}>", text)
    return m.group(1) if m else None
