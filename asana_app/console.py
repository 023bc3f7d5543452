"""How the CLI's own process writes, fit for a terminal and for a log file alike.

Cron appends a run to a log (`>> load.log 2>&1`), where Python buffers stdout in blocks and
stderr by line: a failed run's `error:` line landed near the top of the log while the rest of
the run's output came after it. Line buffering keeps the lines in the order they happened, so
the last line of a run says how it ended.

The source logs through dlt's logger (library users keep dlt's handling of it). Its warnings
are expected conditions of a plan or a workspace (search answering 402, no resource exports), so
the CLI prints each as one `note:` line; errors keep dlt's full format. Only the CLI's process
(`asana_app.cli.run`) installs this: a caller of `main()` keeps its own logging.
"""

import logging
import sys

# dlt's logger; dlt sets its format on the first handler it finds there (`dlt.common.logger`).
DLT_LOGGER = "dlt"


class NoteHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """dlt's handler for the CLI's stderr: warnings and info as `note: <message>`, errors as dlt
    formats them. dlt sets its formatter on this handler when it starts logging; this keeps it."""

    def format(self, record: logging.LogRecord) -> str:
        """One short line below ERROR; dlt's formatter (time, thread, module) for errors."""
        if record.levelno < logging.ERROR:
            return f"note: {record.getMessage()}"
        return super().format(record)


def setup_console() -> None:
    """Line-buffered stdout and stderr (also when not a terminal), and dlt's warnings as notes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    logger = logging.getLogger(DLT_LOGGER)
    if any(isinstance(handler, NoteHandler) for handler in logger.handlers):
        return
    note = NoteHandler(sys.stderr)
    # dlt set up its logger when the CLI's modules were imported: its stderr handler gives way
    # to this one, which keeps its formatter. First in the list, so that dlt adopts it (and sets
    # its format there) each time a pipeline sets the logger up again.
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            note.setFormatter(handler.formatter)
            logger.removeHandler(handler)
    logger.handlers.insert(0, note)
