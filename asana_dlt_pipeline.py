"""Loads Asana into a warehouse (DuckDB by default): `python asana_dlt_pipeline.py --help`.

`--demo` needs no Asana account: it starts the local simulator, loads it, changes a few things
through Asana's own write endpoints, and loads again to show that only the changes travel.

The command lives in `asana_app/` (`asana_app.cli`); this file stays the entry point that the
README, orchestrate/, cron lines and tests run from the repository root, with nothing installed
but requirements.txt. `pip install -e .` gives the same command as `asana-dlt`.
"""

import sys

from asana_app.cli import main, run

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(run())
