"""Process-wide rate limiting for the Asana API, plugged in at the HTTP transport.

dlt's retrying session wraps ``Session.send`` with tenacity, so every attempt (retries
included) ends up in ``HTTPAdapter.send``. Limiting there means a retry storm can never
bypass the quota, and one limiter can be shared by all extract threads of a run.
"""

import re
import threading
import time
from email.utils import mktime_tz, parsedate_tz
from typing import Any, Callable, Dict, Optional

import requests
from dlt.common import json
from requests.adapters import HTTPAdapter

_EPS = 1e-9  # float slack so a refill of 0.9999999 tokens counts as a whole token


class RateLimiter:
    """Token bucket + concurrency cap + shared 429 pause, safe to share across threads.

    Window design: Asana counts starts in a sliding 60 s window. A token bucket with
    capacity ``burst`` refilled at ``r`` tokens/s admits at most ``burst + 60 * r`` starts in
    ANY closed 60 s interval, so a bucket of capacity = quota refilled at quota/60 could send
    2x the quota in one window. We keep the burst small (default ``max(1, rpm // 60)``, one
    second's worth) and refill at ``(rpm - burst) / 60`` per second, which makes
    ``burst + 60 * r == rpm`` an exact bound with O(1) state (no timestamp log). The price is
    a sustained pace ~1.7% under quota (1475/min at 1500), cheaper than one 429.

    Backoff is AIMD: a 429 pauses every thread until ``Retry-After`` (rejected requests still
    count against the quota, so hammering only prolongs it), empties the bucket and halves the
    refill rate; each later success adds back ``recovery_step`` of the configured rate. 429s
    arriving while already paused (other in-flight requests of the same burst) do not halve
    again, or one burst of rejections would collapse the rate to the floor.

    A batch request (``POST /batch``, up to 10 actions) costs Asana one request per action against
    both limits, so ``acquire(cost)`` takes that many tokens and slots at once (all or none: a
    batch holding half its slots while waiting for the rest could starve the others), and the
    bucket holds at least ``max_cost`` tokens so a whole batch can ever start.

    Args:
        requests_per_minute: Server quota per token; ``None``/0 disables rate limiting.
        max_concurrency: Requests in flight at once (Asana allows 50 GETs); ``None``/0 = no cap.
        burst: Bucket capacity; defaults to one second's worth of quota.
        recovery_step: Fraction of the configured rate regained per successful response.
        default_retry_after: Pause used when a 429 lacks a usable ``Retry-After``.
        clock: Monotonic time source, injectable for deterministic tests.
        sleep: Sleep function, injectable so tests advance a fake clock instead of waiting.
        max_cost: The most actions one request carries (the source's `batch_size`).
    """

    def __init__(
        self,
        requests_per_minute: Optional[float] = 1500,
        max_concurrency: Optional[int] = 45,
        burst: Optional[int] = None,
        recovery_step: float = 0.02,
        default_retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_cost: int = 1,
    ) -> None:
        self.requests_per_minute = requests_per_minute or None
        self.max_concurrency = max_concurrency or None
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._slot_freed = threading.Condition(threading.Lock())
        self._free_slots = max_concurrency or 0
        rpm = self.requests_per_minute or 0.0
        self.max_cost = max(1, min(max_cost, max_concurrency or max_cost))
        self.burst = max(burst or max(1, int(rpm // 60)), self.max_cost)
        # Tiny quotas (rpm <= burst) would get a zero rate; halve them instead.
        self._target = max(rpm - self.burst, rpm / 2) / 60.0  # tokens per second
        self._rate, self._floor = self._target, self._target / 32
        self._recovery = self._target * recovery_step
        self._default_retry_after = default_retry_after
        self._tokens, self._last = float(self.burst), clock()
        self._paused_until = float("-inf")
        self._in_flight = self._max_in_flight = self._started = self._throttled = 0
        self._waited = 0.0

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self._rate)
            self._last = now

    def _try_take(self, cost: int) -> float:
        """Take `cost` tokens if possible (caller holds the lock); else return seconds to wait."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if self.requests_per_minute:
            self._refill(now)
            if self._tokens < cost - _EPS:
                return (cost - self._tokens) / self._rate
            self._tokens = max(0.0, self._tokens - cost)
        self._started += cost
        self._in_flight += cost
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return 0.0

    def _take_slots(self, cost: int, blocking: bool) -> bool:
        if not self.max_concurrency:
            return True
        with self._slot_freed:
            while self._free_slots < cost:
                if not blocking:
                    return False
                self._slot_freed.wait()
            self._free_slots -= cost
            if self._free_slots:  # slots left over: the next waiter may fit, pass the wake-up on
                self._slot_freed.notify()
        return True

    def _give_slots(self, cost: int) -> None:
        # Wakes as many waiters as slots came free, not all of them: 50 threads woken for every
        # finished request (each taking the GIL to go back to sleep) were a tenth of the extract's CPU.
        if self.max_concurrency:
            with self._slot_freed:
                self._free_slots += cost
                self._slot_freed.notify(cost)

    def acquire(self, blocking: bool = True, cost: int = 1) -> bool:
        """Wait for `cost` concurrency slots, then for the pause and the bucket.

        The slots are taken first so the request starts the moment its tokens are granted; taking
        tokens first and queueing on the slots would let starts bunch up and break the window
        bound. Returns False only when ``blocking`` is False and it would have waited.
        """
        cost = max(1, min(cost, self.max_cost))
        if not self._take_slots(cost, blocking):
            return False
        try:
            while True:
                with self._lock:
                    wait = self._try_take(cost)
                    if wait > 0 and blocking:
                        self._waited += wait
                if wait <= 0:
                    return True
                if not blocking:
                    break
                self._sleep(wait)  # re-check after: a 429 may have extended the pause
        except BaseException:
            self._give_slots(cost)
            raise
        self._give_slots(cost)
        return False

    def release(self, cost: int = 1) -> None:
        """Free the concurrency slots taken by a successful ``acquire``."""
        cost = max(1, min(cost, self.max_cost))
        with self._lock:
            self._in_flight -= cost
        self._give_slots(cost)

    def on_throttled(self, retry_after_seconds: Optional[float] = None) -> None:
        """Pause all threads until ``Retry-After`` elapses and halve the rate (once per pause)."""
        pause = self._default_retry_after if retry_after_seconds is None else retry_after_seconds
        with self._lock:
            now = self._clock()
            self._throttled += 1
            if now >= self._paused_until:
                self._rate = max(self._floor, self._rate / 2)
            self._paused_until = max(self._paused_until, now + max(0.0, pause))
            # Resume with one request at the reduced pace, not with a full-bucket burst. Never
            # more tokens than the bucket would have had, so the window bound still holds.
            self._refill(now)
            gained = (self._paused_until - now) * self._rate
            self._tokens, self._last = min(1.0, self._tokens + gained), self._paused_until

    def on_success(self) -> None:
        """Additively recover toward the configured rate after a non-throttled response."""
        with self._lock:
            self._rate = min(self._target, self._rate + self._recovery)

    def stats(self) -> Dict[str, Any]:
        """Snapshot of counters for benchmarks; ``wait_seconds`` covers rate + pause waits."""
        with self._lock:
            return {
                "requests_started": self._started,
                "throttled_429": self._throttled,
                "wait_seconds": self._waited,
                "max_in_flight": self._max_in_flight,
                "in_flight": self._in_flight,
                "current_rpm": self._rate * 60 if self.requests_per_minute else None,
            }


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Parse ``Retry-After`` (delta seconds or HTTP-date) into seconds; None if unusable.

    Same rules as dlt's ``wait_exponential_retry_after`` so the limiter pauses for the same
    time tenacity will wait; ``now`` (wall clock) is injectable for tests.
    """
    if not value:
        return None
    if re.match(r"^\s*[0-9]+(\.[0-9]+)?\s*$", value):
        return float(value)
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, mktime_tz(parsed) - (time.time() if now is None else now))


class RateLimitedAdapter(HTTPAdapter):
    """HTTPAdapter that makes each attempt pass through a shared ``RateLimiter``."""

    def __init__(self, limiter: RateLimiter, **kwargs: Any) -> None:
        # A pool smaller than the concurrency cap would make urllib3 discard connections.
        kwargs["pool_maxsize"] = max(kwargs.get("pool_maxsize", 10), limiter.max_concurrency or 0)
        self.limiter = limiter
        super().__init__(**kwargs)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Acquire, send, release; feed 429s and successes back into the limiter."""
        cost = actions_in(request)
        self.limiter.acquire(cost=cost)
        try:
            response = super().send(request, *args, **kwargs)
        finally:
            self.limiter.release(cost)
        if response.status_code == 429:
            self.limiter.on_throttled(parse_retry_after(response.headers.get("Retry-After")))
        elif response.status_code < 500:
            self.limiter.on_success()
        return response


def actions_in(request: requests.PreparedRequest) -> int:
    """Asana requests one HTTP request stands for: a batch's actions, else one.

    Read from the batch's own body, so every attempt (dlt's retries resend the same prepared
    request) is paced by what it costs at Asana.
    """
    if request.method != "POST" or not (request.path_url or "").split("?", 1)[0].endswith("/batch"):
        return 1
    try:
        actions = json.loadb(request.body or b"")["data"]["actions"]
    except (ValueError, TypeError, KeyError):
        return 1
    return max(1, len(actions)) if isinstance(actions, list) else 1


def mount_rate_limiter(session: requests.Session, limiter: RateLimiter) -> None:
    """Mount one limited adapter for both schemes, replacing dlt's default adapter.

    Mount it on the session object the RESTClient actually uses (``rest_client.session``);
    dlt's ``Client.session`` is thread-local, so other threads' sessions are not covered.
    """
    adapter = RateLimitedAdapter(limiter)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
