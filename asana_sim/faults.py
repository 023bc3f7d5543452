"""Asana's limits and injected faults, decided per request from the live config.

Everything reads ``SimConfig`` at request time, so benchmarks can turn a knob on a
running simulator. Randomness comes from an RNG seeded by the config seed.
"""
from __future__ import annotations

import math
import random
import threading
import time
from collections import defaultdict, deque
from typing import Callable

from .config import SimConfig
from .errors import ApiError


class Drop(Exception):
    """Close the connection without answering, like a reset mid-request."""


class Faults:
    """Rate limit windows, the concurrency gate and the fault dice."""

    def __init__(self, cfg: SimConfig, clock: Callable[[], float]) -> None:
        self.cfg = cfg
        self.clock = clock
        self._lock = threading.Lock()
        self._rng = random.Random(cfg.seed * 7919 + 17)
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._in_flight = 0
        self._seen = 0

    def _roll(self) -> float:
        with self._lock:
            return self._rng.random()

    def before(self, token: str, method: str, path: str = "") -> bool:
        """Apply faults and limits; returns True when a GET slot was taken (release it).

        Order: drop, quota (rejected requests still count, as on Asana), concurrency,
        random 5xx. Latency is applied by the caller after this, inside the slot.
        """
        cfg = self.cfg
        with self._lock:
            self._seen += 1
            seen = self._seen
        burst_at = cfg.throttle_burst_at
        stalled = cfg.throttle_path_prefix is not None and path.startswith(cfg.throttle_path_prefix)
        if stalled or (burst_at is not None and burst_at <= seen < burst_at + cfg.throttle_burst_length):
            raise ApiError(429, "You have made too many requests recently. Please, be chill.",
                           headers={"Retry-After": "1"})
        if cfg.drop_rate and self._roll() < cfg.drop_rate:
            raise Drop()
        if cfg.quota_per_minute is not None:
            self._quota(token, cfg.quota_per_minute)
        took = False
        if method == "GET" and cfg.max_concurrent is not None:
            with self._lock:
                if self._in_flight >= cfg.max_concurrent:
                    raise ApiError(429, "You have made too many requests recently. "
                                   "Please, be chill.", headers={"Retry-After": "1"})
                self._in_flight += 1
                took = True
        try:
            if cfg.error_rate and self._roll() < cfg.error_rate:
                status = 500 if self._roll() < 0.5 else 503
                raise ApiError(status, "Server Error" if status == 500 else "Service Unavailable",
                               phrase="6 sad squid snuggle softly" if status == 500 else None)
        except ApiError:
            if took:
                self.release()
            raise
        return took

    def before_batch(self, token: str, actions: list[tuple[str, str]]) -> int:
        """``before`` for a batch's actions (method, path): each counts against the quota and the
        concurrency gate, and any limit they would exceed answers the whole batch 429, as on
        Asana; drops and 5xx are rolled once, for the HTTP request. Returns GET slots taken."""
        cfg = self.cfg
        with self._lock:
            first = self._seen + 1
            self._seen += len(actions)
        burst_at = cfg.throttle_burst_at
        prefix = cfg.throttle_path_prefix
        in_burst = burst_at is not None and any(
            burst_at <= first + i < burst_at + cfg.throttle_burst_length for i in range(len(actions)))
        if in_burst or (prefix is not None and any(path.startswith(prefix) for _, path in actions)):
            raise ApiError(429, "You have made too many requests recently. Please, be chill.",
                           headers={"Retry-After": "1"})
        if cfg.drop_rate and self._roll() < cfg.drop_rate:
            raise Drop()
        if cfg.quota_per_minute is not None and actions:
            self._quota(token, cfg.quota_per_minute, len(actions))
        gets = sum(1 for method, _ in actions if method == "GET") if cfg.max_concurrent is not None else 0
        if gets:
            with self._lock:
                if self._in_flight + gets > cfg.max_concurrent:  # type: ignore[operator]
                    raise ApiError(429, "You have made too many requests recently. "
                                   "Please, be chill.", headers={"Retry-After": "1"})
                self._in_flight += gets
        if cfg.error_rate and self._roll() < cfg.error_rate:
            if gets:
                self.release(gets)
            status = 500 if self._roll() < 0.5 else 503
            raise ApiError(status, "Server Error" if status == 500 else "Service Unavailable")
        return gets

    def _quota(self, token: str, quota: int, cost: int = 1) -> None:
        now = self.clock()
        with self._lock:
            window = self._windows[token]
            while window and window[0] <= now - 60.0:
                window.popleft()
            over = len(window) + cost > quota
            window.extend([now] * cost)
            if over:
                # The cost fits once all but quota-cost of the logged requests have aged out.
                index = min(len(window) - 1, max(0, len(window) - quota + cost - 1))
                frees_at = window[index] + 60.0
                retry = max(1, math.ceil(frees_at - now))
        if over:
            raise ApiError(429, "You have made too many requests recently. Please, be chill.",
                           headers={"Retry-After": str(retry)})

    def search_quota(self, token: str) -> None:
        """Search's own per-token window (Asana: 60/min), beside the general quota."""
        if self.cfg.search_quota_per_minute is not None:
            self._quota(f"{token}#search", self.cfg.search_quota_per_minute)

    def release(self, slots: int = 1) -> None:
        """Free GET slots taken by ``before`` (one) or ``before_batch``."""
        with self._lock:
            self._in_flight -= slots

    def latency(self) -> None:
        """Sleep in the handler thread so concurrent requests overlap, as real latency does."""
        cfg = self.cfg
        delay = cfg.latency_ms
        if cfg.jitter_ms:
            delay += self._roll() * cfg.jitter_ms
        if delay > 0:
            time.sleep(delay / 1000.0)
