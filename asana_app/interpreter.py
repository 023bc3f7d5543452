"""The interpreter that runs the CLI: every process the CLI starts, and every command it prints,
uses it (`sys.executable`), whether a virtualenv is activated or not and whatever PATH holds.

Why: cron runs `.venv/bin/python asana_dlt_pipeline.py` with PATH=/usr/bin:/bin and no
VIRTUAL_ENV. dlt's `Venv.restore_current()` then knows no bin folder, so its dbt runner started
whichever `python` came first on PATH (none under cron; the system's, without dbt, elsewhere),
and a printed `dlt pipeline ... show` named a command that is not on PATH.
"""

import os
import shlex
import sys
import types
from typing import Any

from dlt.common.runners import Venv


class ThisInterpreter(Venv):
    """dlt's `Venv` for the running interpreter: what dlt starts as `python` is `sys.executable`.

    dlt's runners start `python` by joining the venv's bin folder with that name; a venv called
    by path has one, but pyenv's or a system interpreter may be `python3.11` alone in its folder,
    so the name is replaced by the interpreter's own path rather than joined.
    """

    def __init__(self) -> None:
        context = types.SimpleNamespace(
            env_dir=sys.prefix, bin_path=os.path.dirname(sys.executable), env_exe=sys.executable
        )
        super().__init__(context, current=True)

    def start_command(self, entry_point: str, *script_args: Any, **popen_kwargs: Any) -> Any:
        """Starts `entry_point` from the interpreter's bin folder; `python` is the interpreter itself."""
        if entry_point == "python":
            entry_point = sys.executable
        return super().start_command(entry_point, *script_args, **popen_kwargs)


def python_command(*args: str) -> str:
    """A shell command that runs this interpreter with `args`, quoted to paste as printed."""
    return shlex.join([sys.executable, *args])


def with_scripts_on_path(command: str) -> str:
    """`command` with the interpreter's bin folder first on PATH, for commands that start one of
    its scripts by name (`dlt pipeline show` starts `marimo`), without an activated virtualenv."""
    return f'PATH={shlex.quote(os.path.dirname(sys.executable))}:"$PATH" {command}'
