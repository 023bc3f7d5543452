"""CLI: ``python -m asana_sim --port 8765 --token T`` serves until SIGINT/SIGTERM.

The first stdout line is the base URL (flushed) so scripts can wait for it.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from . import AsanaSim, SimConfig


def build_parser() -> argparse.ArgumentParser:
    """CLI flags mirror ``SimConfig`` fields one to one; each help ends with its default.

    asana_sim/README.md lists every option with its default (tests/sim/test_sim_cli.py checks it).
    """
    p = argparse.ArgumentParser(prog="python -m asana_sim", description=__doc__,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    p.add_argument("--token", default="sim-token", help="the personal access token the API accepts")
    p.add_argument("--seed", type=int, default=1, help="same seed and sizes give byte-identical data")
    p.add_argument("--tasks", type=int, default=SimConfig.tasks,
                   help="top-level tasks in total, spread over the projects (subtasks come on top)")
    p.add_argument("--projects", type=int, default=SimConfig.projects,
                   help="projects across both workspaces")
    p.add_argument("--latency-ms", type=float, default=SimConfig.latency_ms,
                   help="fixed delay added to each API request")
    p.add_argument("--jitter-ms", type=float, default=SimConfig.jitter_ms,
                   help="uniform random extra delay on top of --latency-ms")
    p.add_argument("--quota-per-minute", type=int, default=SimConfig.quota_per_minute,
                   help="requests per token in a sliding 60 s window, 429 above it (none: unlimited)")
    p.add_argument("--max-concurrent", type=int, default=SimConfig.max_concurrent,
                   help="GET requests in flight at once, 429 above it (none: unlimited)")
    p.add_argument("--error-rate", type=float, default=SimConfig.error_rate,
                   help="share of requests answered 500 or 503")
    p.add_argument("--drop-rate", type=float, default=SimConfig.drop_rate,
                   help="share of requests whose connection is closed without an answer")
    p.add_argument("--throttle-burst-at", type=int, default=SimConfig.throttle_burst_at, metavar="N",
                   help="answer 429 to requests N .. N+length-1 (none: no burst)")
    p.add_argument("--throttle-burst-length", type=int, default=SimConfig.throttle_burst_length,
                   help="how many consecutive requests the burst answers 429")
    p.add_argument("--offset-ttl", type=float, default=SimConfig.offset_ttl_s,
                   help="lifetime of pagination offsets in seconds (0: every offset expires at once)")
    p.add_argument("--premium", action=argparse.BooleanOptionalAction, default=SimConfig.premium,
                   help="serve the paid plans' endpoints (search, portfolios, goals, allocations, time"
                   " tracking); else 402")
    p.add_argument("--forbidden-project", action="append", default=[], metavar="GID",
                   help="a project the token may not read (403); repeatable")
    p.add_argument("--enterprise", action=argparse.BooleanOptionalAction, default=SimConfig.enterprise,
                   help="serve the audit log (else 403)")
    p.add_argument("--oauth-app", nargs=3, default=None, metavar=("CLIENT_ID", "SECRET", "REFRESH_TOKEN"),
                   help="an OAuth app whose refresh token POST /-/oauth_token exchanges (none: no OAuth app)")
    p.add_argument("--oauth-token-ttl", type=float, default=SimConfig.oauth_token_ttl_s,
                   help="lifetime in seconds of the access tokens the OAuth app is issued")
    p.add_argument("--exports", action=argparse.BooleanOptionalAction, default=SimConfig.exports,
                   help="the workspace has the plan for resource exports (else 402)")
    p.add_argument("--export-seconds", type=float, default=SimConfig.export_seconds,
                   help="how long an export job runs, on the simulator's clock")
    p.add_argument("--export-fail", action="store_true", default=SimConfig.export_fail,
                   help="export jobs end failed")
    p.add_argument("--export-nested-subtasks", action="store_true", default=SimConfig.export_nested_subtasks,
                   help="subtasks come nested in their parent's export line")
    p.add_argument("--documented-modified-at", action="store_true", default=SimConfig.documented_modified_at,
                   help="moves between projects and sections leave modified_at alone, as Asana documents")
    p.add_argument("--workspace-events", action=argparse.BooleanOptionalAction, default=SimConfig.workspace_events,
                   help="serve GET /workspaces/{gid}/events (else 402, like a free workspace)")
    p.add_argument("--search", action=argparse.BooleanOptionalAction, default=SimConfig.search,
                   help="serve task search (needs --premium; else 402, like a free workspace)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, parsed."""
    return build_parser().parse_args(argv)


def config_from(args: argparse.Namespace) -> SimConfig:
    """Build the config the flags describe."""
    return SimConfig(seed=args.seed, tasks=args.tasks, projects=args.projects,
                     latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                     quota_per_minute=args.quota_per_minute, max_concurrent=args.max_concurrent,
                     error_rate=args.error_rate, drop_rate=args.drop_rate,
                     throttle_burst_at=args.throttle_burst_at,
                     throttle_burst_length=args.throttle_burst_length,
                     offset_ttl_s=args.offset_ttl, premium=args.premium,
                     forbidden_projects=set(args.forbidden_project), enterprise=args.enterprise,
                     oauth_client_id=(args.oauth_app or [None])[0],
                     oauth_client_secret=(args.oauth_app or [None, None])[1],
                     oauth_refresh_token=(args.oauth_app or [None, None, None])[2],
                     oauth_token_ttl_s=args.oauth_token_ttl, exports=args.exports,
                     export_seconds=args.export_seconds, export_fail=args.export_fail,
                     export_nested_subtasks=args.export_nested_subtasks,
                     documented_modified_at=args.documented_modified_at,
                     workspace_events=args.workspace_events, search=args.search)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    # Before the URL is printed: a caller may stop the server as soon as it has served a request.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    sim = AsanaSim(token=args.token, config=config_from(args), host=args.host, port=args.port)
    sim.start()
    print(sim.base_url, flush=True)
    while not stop.wait(0.5):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
