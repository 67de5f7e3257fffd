"""The simulator's HTTP side: requests with retries, and the numbers a run reports.

The load goes out through aiohttp with multipart bodies assembled here: the simulator
shares the machine with the server it measures, and httpx's per-request cost made the
simulator, not the server, the first thing to saturate a core. The read-back after the
run uses httpx (`Client.http`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx

RETRYABLE = {429, 500, 502, 503, 504}
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class SentChunk:
    """A chunk the server acknowledged, and the SHA-256 of the bytes that were sent."""

    session_id: int
    kind: str
    stream: str
    chunk_index: int
    sha256: str


@dataclass
class Traffic:
    sent: Counter[str] = field(default_factory=Counter)
    acked: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # time.monotonic() at which each latency's request went out, in the same order
    sent_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    rejections: Counter[str] = field(default_factory=Counter)
    bytes_acked: int = 0
    chunks: list[SentChunk] = field(default_factory=list)
    offered: set[str] = field(default_factory=set)  # SHA-256 of every chunk ever sent

    def percentile(self, endpoint: str, q: float, since: float | None = None) -> float:
        """The q-quantile of the endpoint's latencies; with `since`, of the requests sent
        from that moment (time.monotonic()) on."""
        values = self.latencies.get(endpoint, [])
        if since is not None:
            moments = self.sent_at.get(endpoint, [])
            values = [v for v, moment in zip(values, moments, strict=True) if moment >= since]
        values = sorted(values)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


FileField = tuple[str, bytes] | tuple[str, bytes, str]


def encode_body(
    *,
    json_body: Any = None,
    data: dict[str, str] | None = None,
    files: dict[str, FileField] | None = None,
) -> tuple[bytes, str | None]:
    """The request body and its Content-Type: JSON, a urlencoded form, or multipart with
    the `data` fields first and then the `files`, in the order given."""
    if json_body is not None:
        return json.dumps(json_body).encode(), "application/json"
    if not files:
        return urlencode(data or {}).encode(), "application/x-www-form-urlencoded"
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in (data or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, content, *mime) in files.items():
        kind = mime[0] if mime else "application/octet-stream"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'
        )
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One shared connection pool; every call retries transport errors and 5xx with backoff."""

    def __init__(self, base_url: str, traffic: Traffic, *, connections: int = 200) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=httpx.Timeout(60.0, connect=10.0)
        )
        self.base_url = base_url.rstrip("/")
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        self.traffic = traffic

    async def close(self) -> None:
        await self.http.aclose()
        if self._session is not None:
            await self._session.close()

    def _load(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                # Under uvicorn's 5 s keep-alive: a connection the server is about to
                # close is not reused (that would fail, and count as a retry).
                connector=aiohttp.TCPConnector(limit=self.connections, keepalive_timeout=3.0),
                timeout=aiohttp.ClientTimeout(total=60.0, connect=10.0),
            )
        return self._session

    async def call(
        self,
        endpoint: str,
        method: str,
        url: str,
        *,
        size: int = 0,
        headers: dict[str, str] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        files: dict[str, FileField] | None = None,
    ) -> Answer | None:
        """The final answer (2xx or 4xx), or None when every attempt failed."""
        body, content_type = encode_body(json_body=json, data=data, files=files)
        request_headers = dict(headers or {})
        if content_type and (json is not None or data or files):
            request_headers["Content-Type"] = content_type
        self.traffic.sent[endpoint] += 1
        for attempt in range(MAX_ATTEMPTS):
            started = time.monotonic()
            answer: Answer | None
            try:
                async with self._load().request(
                    method, self.base_url + url, data=body, headers=request_headers
                ) as response:
                    answer = Answer(response.status, await response.read())
            except (TimeoutError, aiohttp.ClientError):
                answer = None
            if answer is not None and answer.status_code not in RETRYABLE:
                self.traffic.latencies[endpoint].append(time.monotonic() - started)
                self.traffic.sent_at[endpoint].append(started)
                if answer.is_success:
                    self.traffic.acked[endpoint] += 1
                    self.traffic.bytes_acked += size
                else:
                    self.traffic.rejected[endpoint] += 1
                    self.traffic.rejections[f"{endpoint} {answer.status_code}"] += 1
                return answer
            if attempt + 1 < MAX_ATTEMPTS:
                self.traffic.retried[endpoint] += 1
                await asyncio.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
        self.traffic.failed[endpoint] += 1
        return None
