"""The source's errors and the words they use: every error a user sees is one line naming the fix.

A module of its own so that every other module (the client, OAuth, batches, exports) can raise
and catch them without importing one another.
"""

from typing import Any, Dict

from .settings import DEFAULT_BASE_URL

TOKEN_HELP = (
    "set a valid personal access token as access_token under [sources.asana_dlt] in"
    " .dlt/secrets.toml, or in the environment variable SOURCES__ASANA_DLT__ACCESS_TOKEN"
)

BASE_URL_HELP = "set base_url under [sources.asana_dlt] in .dlt/config.toml, or SOURCES__ASANA_DLT__BASE_URL"

# Why a listing or object is skipped, by the status Asana answered: the rest of the run goes on.
# Not for the root listing (`/workspaces`), which nothing can delete: a 404 there is `wrong_base_url`.
SKIP_REASONS: Dict[int, str] = {
    402: "it needs a premium Asana plan",
    403: "the token has no access to it",
    404: "it no longer exists (deleted while this run was reading)",
}


class AsanaSourceError(Exception):
    """An error the user can act on; its message is one line that names the fix."""


class AsanaAuthError(AsanaSourceError):
    """Asana rejected the token: nothing can be read, so the whole run stops."""


class AsanaMalformedResponse(AsanaSourceError):
    """Asana answered 200 with a body we cannot read as `{"data": ...}`."""


class PlanRequired(AsanaSourceError):
    """The account's plan lacks this endpoint (402, or 403 for Enterprise-only ones)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SkipObject(Exception):
    """One object is out of reach (402, 403, 404): skip it, keep the rest of the run.

    Raised by the client's error policy; callers that can say more (a task named by an event,
    an export job) catch it, the listings turn it into a warning.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OffsetExpired(Exception):
    """Asana expired the offset of a listing in progress: the listing must start again."""


def named(record: Dict[str, Any]) -> str:
    """`'Name' (gid)`, how messages name an object."""
    return f"{record.get('name')!r} ({record['gid']})"


def error_text(body: Any) -> str:
    """Asana's messages in an error envelope (`{"errors": [{"message": ...}]}`), joined; or ''."""
    errors = body.get("errors") if isinstance(body, dict) else None
    messages = [str(e.get("message", "")) for e in errors or [] if isinstance(e, dict)]
    return "; ".join(m for m in messages if m)


def auth_error(status: int, message: str) -> AsanaAuthError:
    """The one line a rejected token gets, from a direct request or a batch's action."""
    return AsanaAuthError(f"Asana rejected the access token ({status} {message}): {TOKEN_HELP}.")


def wrong_base_url(path: str, base_url: str) -> AsanaSourceError:
    """The one line a 404 on the root listing gets: every Asana API answers `GET /workspaces`,
    and nothing can delete it, so no Asana API answers at `base_url` (the token is never named)."""
    return AsanaSourceError(
        f"Asana answered 404 for GET {path} at {base_url}: base_url is wrong; it must be Asana's API root,"
        f" ending in /api/1.0 (Asana's is {DEFAULT_BASE_URL}): {BASE_URL_HELP}. Nothing was loaded."
    )
