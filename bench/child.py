"""Subprocess entry: `python -m bench.child SPEC.json` runs one measured pipeline and exits.

A child of its own, so that the wall time and peak RSS it reports belong to the pipeline alone
(the simulator and the bench live in the parent). It prints one line
`BENCH_RESULT {json}` on stdout per result (the floor emits one per loader format as it
goes; the parent merges them); everything else it prints is ignored.

Spec keys: `mode` ("source" or "floor"), `workdir`, `pipeline_name`, `loader_format`, plus
for "source": `base_url`, `token`, `requests_per_minute`, `resources`, `table_format` (delta/iceberg: filesystem destination), `full_load`, `stories_since`; and for "floor":
`base_url`, `token`, `listings_file`, `formats` (see `bench.floor`).
"""

import gc
import json
import sys
from typing import Any, Dict, Optional

RESULT_PREFIX = "BENCH_RESULT "


def limiter_stats(limiter_type: type) -> Optional[Dict[str, Any]]:
    """Stats of the rate limiter the source built, found among live objects.

    The source does not hand its limiter out; looking it up keeps the source untouched.
    None when no limiter is alive (for example, if the source stops using one).
    """
    limiters = [o for o in gc.get_objects() if isinstance(o, limiter_type)]
    return limiters[-1].stats() if limiters else None


def run_source(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The real source against the simulator, as a user would run it."""
    from asana_dlt import asana_source
    from asana_app.lakehouse import source_options
    from bench.measure import extract_workers, make_pipeline, timed_run

    pipeline = make_pipeline(spec["workdir"], spec["pipeline_name"], spec.get("table_format"))
    source = asana_source(
        access_token=spec["token"],
        base_url=spec["base_url"],
        requests_per_minute=spec["requests_per_minute"],
        **({"full_load": spec["full_load"]} if spec.get("full_load") else {}),
        **({"stories_since": spec["stories_since"]} if spec.get("stories_since") else {}),
        **source_options(spec.get("table_format")),  # the CLI's soft deletes on a lakehouse
    )
    if spec.get("resources"):
        source = source.with_resources(*spec["resources"])
    def limiter() -> Dict[str, Any]:
        try:
            from asana_dlt.rate_limit import RateLimiter

            return {"limiter": limiter_stats(RateLimiter)}
        except ImportError:
            return {"limiter": None}

    # As the CLI runs it: extract and normalize in a forked child, the load in this process.
    result = timed_run(pipeline, source, spec.get("loader_format"), spec.get("table_format"), fork_steps=True,
                       child_extras=limiter)
    if "limiter" not in result:  # not forked (a lakehouse run): the limiter lived here
        result.update(limiter())
    result["extract"] = extract_workers()
    del source
    return result


def main(argv: Optional[list] = None) -> int:
    """Reads the spec, runs the requested mode, prints the result line."""
    args = sys.argv[1:] if argv is None else argv
    from asana_app.process_memory import cap_malloc_arenas, tune_gc

    cap_malloc_arenas()  # as the CLI does, before any thread: source and floor alike
    tune_gc()
    with open(args[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    if spec["mode"] == "source":
        emit(run_source(spec))
    elif spec["mode"] == "floor":
        from bench.floor import run_floor

        run_floor(spec, emit)
    else:
        raise SystemExit(f"unknown mode {spec['mode']!r}")
    return 0


def emit(result: Dict[str, Any]) -> None:
    """Prints one result line at once, so it survives if the process is killed later."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
