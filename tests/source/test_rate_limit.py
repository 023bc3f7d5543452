"""Offline tests for asana_dlt.rate_limit: fake clock, no real sleeps, no timing asserts."""

import bisect
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Iterator, List, Optional

import pytest
import requests
import tenacity.nap

from dlt.sources.helpers.requests.retry import Client

from asana_dlt.rate_limit import (
    RateLimitedAdapter,
    RateLimiter,
    mount_rate_limiter,
    parse_retry_after,
)

GUARD = 10.0  # seconds; only a deadlock guard for thread joins/waits, never asserted on


class FakeClock:
    """Monotonic clock that only moves when the limiter 'sleeps'."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: List[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def _paced(clock: FakeClock, rpm: Optional[float]) -> RateLimiter:
    return RateLimiter(rpm, max_concurrency=None, clock=clock, sleep=clock.sleep)


def _starts(limiter: RateLimiter, clock: FakeClock, n: int) -> List[float]:
    starts = []
    for _ in range(n):
        assert limiter.acquire()
        starts.append(clock())
        limiter.release()
    return starts


def _max_in_window(starts: List[float], window: float = 60.0) -> int:
    """Most starts in any closed window [s, s + window] (worst case begins at a start)."""
    return max(bisect.bisect_right(starts, s + window) - i for i, s in enumerate(starts))


def test_paced_at_rpm_60_and_no_window_exceeds_quota() -> None:
    clock = FakeClock()
    limiter = _paced(clock, 60)
    starts = _starts(limiter, clock, 200)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(1.0 <= g <= 1.05 for g in gaps), (min(gaps), max(gaps))
    assert _max_in_window(starts) <= 60
    assert _max_in_window(starts) >= 59  # not needlessly conservative
    assert limiter.stats()["requests_started"] == 200


def test_burst_at_1500_rpm_never_exceeds_quota_in_any_window() -> None:
    clock = FakeClock()
    limiter = _paced(clock, 1500)
    starts = _starts(limiter, clock, 4000)
    assert starts.count(starts[0]) == 25  # small burst of one second's worth, not 1500
    assert _max_in_window(starts) <= 1500
    assert _max_in_window(starts) >= 1490
    assert limiter.stats()["wait_seconds"] == pytest.approx(starts[-1] - starts[0])


def test_throttle_pauses_all_threads_halves_rate_and_recovers() -> None:
    clock = FakeClock()
    limiter = _paced(clock, 60)
    _starts(limiter, clock, 1)
    full = limiter.stats()["current_rpm"]
    t0 = clock()
    limiter.on_throttled(5)
    limiter.on_throttled(5)  # same burst of 429s: must not halve twice
    assert limiter.stats()["current_rpm"] == pytest.approx(full / 2)

    seen: List[float] = []

    def worker() -> None:  # a thread other than the one that saw the 429
        seen.extend(_starts(limiter, clock, 2))

    t = threading.Thread(target=worker)
    t.start()
    t.join(GUARD)
    assert not t.is_alive()
    assert seen[0] == pytest.approx(t0 + 5)
    assert seen[1] - seen[0] == pytest.approx(2 * 60 / 59)  # resumed at half pace, no burst
    stats = limiter.stats()
    assert stats["throttled_429"] == 2 and stats["wait_seconds"] >= 5

    limiter.on_success()
    assert full / 2 < limiter.stats()["current_rpm"] < full  # gradual
    for _ in range(100):
        limiter.on_success()
    assert limiter.stats()["current_rpm"] == pytest.approx(full)


def test_resumes_after_pause_without_burst() -> None:
    clock = FakeClock()
    limiter = _paced(clock, 1500)
    _starts(limiter, clock, 1)
    clock.sleep(10)  # idle: the bucket refills to its full burst of 25
    t0 = clock()
    limiter.on_throttled(5)
    starts = _starts(limiter, clock, 3)
    assert starts[0] == pytest.approx(t0 + 5)  # one request as soon as the pause ends
    half_pace = 60 / (1475 / 2)
    assert starts[1] - starts[0] == pytest.approx(half_pace)  # then paced, not a 25-burst
    assert starts[2] - starts[1] == pytest.approx(half_pace)


def test_unlimited_rate_never_sleeps() -> None:
    clock = FakeClock()
    limiter = _paced(clock, None)
    _starts(limiter, clock, 5000)
    assert clock.sleeps == [] and limiter.stats()["current_rpm"] is None


def test_concurrency_cap_holds_with_10_threads() -> None:
    limiter = RateLimiter(requests_per_minute=None, max_concurrency=3)
    cond = threading.Condition()
    entered: List[int] = []
    in_flight = [0, 0]  # current, max (measured by the test itself)
    gates = [threading.Event() for _ in range(10)]
    barrier = threading.Barrier(11)

    def worker(i: int) -> None:
        barrier.wait(GUARD)
        limiter.acquire()
        with cond:
            entered.append(i)
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
            cond.notify_all()
        gates[i].wait(GUARD)
        with cond:
            in_flight[0] -= 1
        limiter.release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    barrier.wait(GUARD)
    for released in range(8):
        with cond:
            assert cond.wait_for(lambda: len(entered) == 3 + released, GUARD)
        assert not limiter.acquire(blocking=False)  # all 3 slots are held right now
        gates[entered[released]].set()
    with cond:
        assert cond.wait_for(lambda: len(entered) == 10, GUARD)
    for g in gates:
        g.set()
    for t in threads:
        t.join(GUARD)
    assert in_flight[1] == 3
    stats = limiter.stats()
    assert stats["max_in_flight"] == 3 and stats["in_flight"] == 0
    assert stats["requests_started"] == 10


def test_mixed_costs_all_finish_under_the_cap() -> None:
    """Batches (cost 10) and single requests (cost 1) share 12 slots; a release wakes only as many
    waiters as slots came free, so none may be left asleep with slots free and nothing in flight."""
    limiter = RateLimiter(requests_per_minute=None, max_concurrency=12, max_cost=10)
    lock = threading.Lock()
    in_flight = [0, 0]  # cost in flight now, most ever (measured by the test itself)
    done: List[int] = []

    def worker(i: int) -> None:
        for round_ in range(20):
            cost = 10 if (i + round_) % 3 == 0 else 1
            assert limiter.acquire(cost=cost)
            with lock:
                in_flight[0] += cost
                in_flight[1] = max(in_flight[1], in_flight[0])
            with lock:
                in_flight[0] -= cost
            limiter.release(cost=cost)
        with lock:
            done.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GUARD)
    assert sorted(done) == list(range(30)), "a waiter was never woken"
    assert in_flight[1] <= 12
    stats = limiter.stats()
    assert stats["in_flight"] == 0 and stats["max_in_flight"] <= 12


def test_a_freed_slot_wakes_one_waiter_not_all() -> None:
    """20 threads queue for one slot held in turn: each release wakes one of them. notify_all woke
    every waiter at every release (~210 wake-ups here), each taking the GIL to go back to sleep."""
    limiter = RateLimiter(requests_per_minute=None, max_concurrency=1)
    condition = limiter._slot_freed
    original_wait = condition.wait
    counts = {"waiting": 0, "wakeups": 0}
    all_waiting = threading.Event()

    def counted_wait(timeout: Optional[float] = None) -> bool:  # runs under the condition's lock
        counts["waiting"] += 1
        if counts["waiting"] == 20:
            all_waiting.set()
        woke = original_wait(timeout)
        counts["wakeups"] += 1
        return woke

    condition.wait = counted_wait  # type: ignore[method-assign]
    assert limiter.acquire()
    holders: List[int] = []
    held = threading.Condition()
    gates = [threading.Event() for _ in range(20)]

    def worker(i: int) -> None:
        assert limiter.acquire()
        with held:
            holders.append(i)
            held.notify_all()
        assert gates[i].wait(GUARD)
        limiter.release()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    assert all_waiting.wait(GUARD)
    with condition:  # the 20th waiter has let go of the lock inside wait()
        pass
    limiter.release()
    for turn in range(20):
        with held:
            assert held.wait_for(lambda: len(holders) > turn, GUARD)
        gates[holders[turn]].set()
    for t in threads:
        t.join(GUARD)
    assert counts["wakeups"] <= 25, counts


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


@pytest.fixture
def server() -> Iterator[SimpleNamespace]:
    """Local server: first request gets 429 + Retry-After, later ones 200."""
    state = SimpleNamespace(hits=0, retry_after="3")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            throttled = state.hits == 1
            body = b'{"data": []}'
            self.send_response(429 if throttled else 200)
            if throttled:
                self.send_header("Retry-After", state.retry_after)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/tasks"
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_dlt_retrying_session_through_adapter(
    server: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenacity_sleeps: List[float] = []
    monkeypatch.setattr(tenacity.nap, "time", SimpleNamespace(sleep=tenacity_sleeps.append))
    clock = FakeClock()
    limiter = RateLimiter(1500, max_concurrency=45, clock=clock, sleep=clock.sleep)
    session = Client(raise_for_status=False, request_backoff_factor=0).session
    mount_rate_limiter(session, limiter)
    assert isinstance(session.get_adapter(server.url), RateLimitedAdapter)
    assert session.get_adapter(server.url).limiter is limiter

    response = session.get(server.url)

    assert response.status_code == 200 and server.hits == 2
    assert tenacity_sleeps == [3]  # dlt honoured Retry-After (patched, not really slept)
    stats = limiter.stats()
    assert stats["requests_started"] == 2  # the tenacity retry went through the limiter too
    assert stats["throttled_429"] == 1 and stats["in_flight"] == 0
    assert stats["wait_seconds"] >= 3 and sum(clock.sleeps) >= 3  # limiter paused as well


def test_adapter_releases_slot_on_exception() -> None:
    with socket.socket() as s:  # find a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    limiter = RateLimiter(requests_per_minute=None, max_concurrency=1)
    session = requests.Session()
    mount_rate_limiter(session, limiter)
    assert session.get_adapter("https://app.asana.com").limiter is limiter
    with pytest.raises(requests.ConnectionError):
        session.get(f"http://127.0.0.1:{port}/", timeout=GUARD)
    assert limiter.stats()["in_flight"] == 0
    assert limiter.acquire(blocking=False)  # the only slot was given back
    assert limiter.stats()["requests_started"] == 2


def test_adapter_pool_at_least_concurrency() -> None:
    adapter = RateLimitedAdapter(RateLimiter(max_concurrency=45))
    assert adapter._pool_maxsize >= 45
