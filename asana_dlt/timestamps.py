"""Asana's one timestamp format, so that timestamps from Asana and from us compare as strings."""

from typing import Any

import pendulum


def to_asana_time(value: Any) -> str:
    """Formats a date or timestamp as Asana does (`2024-02-22T02:06:58.147Z`), in UTC.

    Asana's timestamps all share this shape, so they compare correctly as strings.
    """
    moment = value if isinstance(value, pendulum.DateTime) else pendulum.parse(str(value))
    moment = moment.in_timezone("UTC")
    return moment.format("YYYY-MM-DDTHH:mm:ss.SSS") + "Z"


def now() -> str:
    """This moment in Asana's format."""
    return to_asana_time(pendulum.now("UTC"))
