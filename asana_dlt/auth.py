"""OAuth for Asana: an OAuth app's refresh token exchanged for short-lived access tokens.

dlt's `OAuth2ClientCredentials` already does the exchange, the expiry bookkeeping and the
Bearer header; Asana's grant is `refresh_token` rather than `client_credentials`, so only the
request body changes. Two additions: the token is renewed a minute *before* it expires (a
request sent with a token about to expire must not arrive with an expired one), and a 401 that
answers a token Asana already let lapse is retried once with a fresh token. Client id, secret
and refresh token travel only in the POST body to the token endpoint, never in a URL or a log.
"""

import threading
from typing import Any, Dict, Optional

import pendulum
from dlt.common.configuration import configspec
from dlt.common.typing import TSecretStrValue
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from requests import PreparedRequest, Response

from .errors import AsanaSourceError

# Renew this long before the expiry Asana announced (`expires_in`, an hour for Asana's tokens).
REFRESH_MARGIN_S = 60

OAUTH_HELP = (
    "set client_id, client_secret and refresh_token of your Asana OAuth app under [sources.asana_dlt]"
    " in .dlt/secrets.toml (or a personal access_token instead)"
)


def token_url_for(base_url: str) -> str:
    """Asana's token endpoint for an API root: `https://app.asana.com/-/oauth_token`."""
    root = base_url.rstrip("/")
    if root.endswith("/api/1.0"):
        root = root[: -len("/api/1.0")]
    return f"{root}/-/oauth_token"


class AsanaOAuthError(AsanaSourceError):
    """Asana's token endpoint refused the app's credentials; the message names no secret."""


@configspec
class AsanaRefreshTokenAuth(OAuth2ClientCredentials):
    """dlt's OAuth2 client with Asana's refresh-token grant, thread-safe for a parallel run."""

    refresh_token: TSecretStrValue = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._lock = threading.Lock()

    def build_access_token_request(self) -> Dict[str, Any]:
        """The form Asana's token endpoint expects for `grant_type=refresh_token`."""
        request = super().build_access_token_request()
        request["data"].update(grant_type="refresh_token", refresh_token=self.refresh_token)
        return request

    def is_token_expired(self) -> bool:
        return bool(pendulum.now() >= self.token_expiry.subtract(seconds=REFRESH_MARGIN_S))

    def obtain_token(self) -> None:
        """Exchanges the refresh token; a refusal becomes one line without the secrets in it."""
        try:
            super().obtain_token()
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            raise AsanaOAuthError(
                f"Asana's token endpoint refused the OAuth app's credentials ({status or type(exc).__name__}"
                f" from {self.access_token_url}): {OAUTH_HELP}."
            ) from None

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        with self._lock:
            if self.access_token is None or self.is_token_expired():
                self.obtain_token()
            token = self.access_token
        request.headers["Authorization"] = f"Bearer {token}"
        request.register_hook("response", self._renew_on_401)
        return request

    def _renew_on_401(self, response: Response, **kwargs: Any) -> Optional[Response]:
        """Asana let the token lapse before we expected (clock skew, revocation): renew, resend once."""
        if response.status_code != 401 or response.connection is None:
            return None
        sent = response.request.headers.get("Authorization")
        with self._lock:
            if sent == f"Bearer {self.access_token}":
                self.obtain_token()
            token = self.access_token
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {token}"
        retry.hooks = {"response": []}
        response.close()
        fresh: Response = response.connection.send(retry, **kwargs)
        fresh.history.append(response)
        fresh.request = retry
        return fresh
