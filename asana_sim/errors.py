"""Asana's error envelope, raised from anywhere in a request and rendered by the server."""
from __future__ import annotations

from typing import Any

HELP = ("For more information on API status codes and how to handle them, read the docs on "
        "errors: https://developers.asana.com/docs/errors")


class ApiError(Exception):
    """An HTTP error answer in Asana's ``{"errors": [{"message", "help"}]}`` shape."""

    def __init__(self, status: int, message: str, *, help_text: bool = True,
                 extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 phrase: str | None = None) -> None:
        super().__init__(message)
        self.phrase = phrase
        self.status = status
        self.message = message
        self.help_text = help_text
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Asana would send."""
        err: dict[str, Any] = {"message": self.message}
        if self.help_text:
            err["help"] = HELP
        if self.phrase:
            err["phrase"] = self.phrase
        out: dict[str, Any] = {"errors": [err]}
        out.update(self.extra)
        return out


def not_found(kind: str, gid: str) -> ApiError:
    """Asana's wording for a gid it does not know (or the caller may not see)."""
    return ApiError(404, f"{kind}: Unknown object: {gid}")


def bad_request(message: str) -> ApiError:
    """A 400 with Asana's envelope."""
    return ApiError(400, message)
