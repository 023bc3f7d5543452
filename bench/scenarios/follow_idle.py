"""`follow-idle`: what a cycle costs when nothing changed, in follow mode and as cron starts it.

One workspace of the issue's size (2,000 tasks in 20 projects, a plan without workspace events:
every project is listed), fully loaded first. Then, with nothing changing:
- scheduled runs as cron starts them: wall time with the process start, CPU, peak RSS, requests;
- follow mode with a full cycle every time (`--follow-full-every` tiny): every cycle lists all
  it would on a schedule; wall and CPU per cycle are the cycle lines' own, memory is sampled
  from the heartbeat every cycle (`--follow-cycles` sets how many: the memory trend over a long
  life);
- follow mode between full cycles: what a watch costs (events only), requests and CPU per second.
"""

import time
from typing import List

from bench.following import CliRuns, mean, percentile
from bench.results import Row, Target
from bench.scenarios.harness import Bench

# The goals per idle cycle in follow mode.
CPU_GOAL_S, WALL_GOAL_S = 1.0, 2.0


def run(bench: Bench) -> List[Row]:
    s = bench.sizes
    cycles_n = bench.follow_cycles or s.follow_idle_cycles
    bench.log(f"follow-idle: {s.tasks:,} tasks in {s.projects} projects, no quota; {cycles_n} idle cycles")
    with bench.simulator(s.tasks, s.projects) as sim:
        runs = CliRuns(bench.workdir("follow-idle"), sim.base_url, sim.token, 0)
        prep = runs.scheduled()
        if prep.returncode != 0:
            return [Row("follow-idle", error=f"the preparation run failed: {prep.output[-500:]}")]
        cron = []
        for _ in range(s.follow_idle_cron_runs):
            sim.reset_requests()
            cron.append((runs.scheduled(), len(sim.requests())))
        bench.log("  cron: " + ", ".join(f"{r.wall_s:.2f} s wall, {r.cpu_s:.2f} s CPU, {n} requests" for r, n in cron))
        sim.reset_requests()
        # Events read at the default interval (5 s) beside the cycles: their reads and CPU count in
        # the cycles' figures as they would in a real process (at 0.1 s they were most of them).
        runs.start_following("--follow-full-every", "0.0001")
        rss: List[float] = []

        def sample() -> None:
            status = runs.status()
            if status.get("cycles", 0) > len(rss):
                rss.append(float(status.get("rss_mb", 0.0)))

        runs.wait_for(lambda st: st.get("cycles", 0) >= cycles_n + 1, f"{cycles_n + 1} cycles",
                      timeout_s=cycles_n * 30 + 120, every=sample)
        cycle_requests = len(sim.requests())
        runs.stop()
        cycles = runs.cycles()[1:cycles_n + 1]  # the first cycle after a start resumes; the rest are idle
        # Watches alone: a long interval between full cycles, events read every second.
        sim.reset_requests()
        runs.start_following("--follow-interval", "1", "--follow-full-every", "600")
        first = runs.wait_for(lambda st: st.get("cycles", 0) >= 1, "the first cycle", timeout_s=300)
        cpu_before, started, watch_s = runs.cpu_s(), time.monotonic(), s.follow_watch_s
        requests_before = len(sim.requests())
        runs.wait_for(lambda st: time.monotonic() - started >= watch_s, f"{watch_s:g} s of watching", watch_s + 60)
        watch_cpu, watch_requests = runs.cpu_s() - cpu_before, len(sim.requests()) - requests_before
        watched_cycles = runs.status().get("cycles", 0) - first["cycles"]
        runs.stop()
    return [_row(bench, cron, cycles, cycle_requests, rss, watch_s, watch_cpu, watch_requests, watched_cycles)]


def _row(bench: Bench, cron: list, cycles: list, cycle_requests: int, rss: List[float], watch_s: float,
         watch_cpu: float, watch_requests: int, watched_cycles: int) -> Row:
    s = bench.sizes
    walls, cpus = [c.wall_s for c in cycles], [c.cpu_s for c in cycles]
    changed = [c for c in cycles if not c.idle]
    cpu50, wall50 = percentile(cpus, 0.5), percentile(walls, 0.5)
    row = Row("follow-idle", requests=round(cycle_requests / max(1, len(cycles) + 1)), wall_s=wall50,
              peak_rss_mb=max(rss) if rss else None)
    row.targets = [Target("cpu/cycle", cpu50, CPU_GOAL_S, unit="s"), Target("wall/cycle", wall50, WALL_GOAL_S, unit="s")]
    row.details.update(
        cycles=len(cycles), cycles_with_changes=len(changed), cycle_cpu_s_p50=cpu50, cycle_cpu_s_p95=percentile(cpus, 0.95),
        cycle_wall_s_p50=wall50, cycle_wall_s_p95=percentile(walls, 0.95), rss_mb_by_cycle=rss,
        cron=[{"wall_s": r.wall_s, "cpu_s": r.cpu_s, "peak_rss_mb": r.peak_rss_mb, "requests": n} for r, n in cron],
        watch_s=watch_s, watch_cpu_s=watch_cpu, watch_requests=watch_requests,
    )
    row.notes.append(
        f"{s.tasks:,} tasks in {s.projects} projects, nothing changing: follow mode's full cycles (each lists all a"
        f" scheduled run lists) p50 {wall50:.2f} s wall, {cpu50:.2f} s CPU (p95 {percentile(walls, 0.95):.2f} s,"
        f" {percentile(cpus, 0.95):.2f} s) over {len(cycles)} cycles, ~{row.requests} requests each;"
        f" {len(changed)} of them loaded a change"
    )
    if cron:
        row.notes.append("cron, the same run as a new process each time: " + "; ".join(
            f"{r.wall_s:.2f} s wall, {r.cpu_s:.2f} s CPU, peak {r.peak_rss_mb:.0f} MB, {n} requests" for r, n in cron))
    if rss:
        tenth = max(1, len(rss) // 10)
        row.notes.append(
            f"RSS (heartbeat, after each cycle): cycle 1 {rss[0]:.0f} MB, cycle {tenth} {rss[tenth - 1]:.0f} MB,"
            f" cycle {len(rss)} {rss[-1]:.0f} MB, max {max(rss):.0f} MB;"
            f" last tenth vs second tenth {mean(rss[-tenth:]) - mean(rss[tenth:2 * tenth] or rss):+.1f} MB"
        )
    row.notes.append(
        f"between full cycles (events read every 1 s for {watch_s:g} s): {watch_requests} requests"
        f" ({watch_requests / watch_s:.2f}/s), CPU {watch_cpu:.2f} s ({watch_cpu / watch_s * 100:.1f}% of a core),"
        f" {watched_cycles} cycles"
    )
    return row
