"""The simulator's HTTP side: requests with retries, and the numbers a run reports."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

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
    rejections: Counter[str] = field(default_factory=Counter)
    bytes_acked: int = 0
    chunks: list[SentChunk] = field(default_factory=list)
    offered: set[str] = field(default_factory=set)  # SHA-256 of every chunk ever sent

    def percentile(self, endpoint: str, q: float) -> float:
        values = sorted(self.latencies.get(endpoint, []))
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]


class Client:
    """One shared connection pool; every call retries transport errors and 5xx with backoff."""

    def __init__(self, base_url: str, traffic: Traffic, *, connections: int = 200) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=httpx.Timeout(60.0, connect=10.0)
        )
        self.traffic = traffic

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self, endpoint: str, method: str, url: str, *, size: int = 0, **request: Any
    ) -> httpx.Response | None:
        """The final answer (2xx or 4xx), or None when every attempt failed."""
        self.traffic.sent[endpoint] += 1
        for attempt in range(MAX_ATTEMPTS):
            started = time.perf_counter()
            try:
                answer = await self.http.request(method, url, **request)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code not in RETRYABLE:
                self.traffic.latencies[endpoint].append(time.perf_counter() - started)
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
