"""Asana's OAuth token endpoint, ``POST https://app.asana.com/-/oauth_token``, for one app.

The ``refresh_token`` grant exchanges the app's refresh token for a short-lived access token
(``expires_in`` seconds on the simulator's clock), which the API then accepts besides the
simulator's fixed token. Wrong credentials answer 400/401 with OAuth's ``error`` body, as Asana does.
"""
from __future__ import annotations

import secrets
import threading
from typing import Any, Callable
from urllib.parse import parse_qsl

from .config import SimConfig

TOKEN_PATH = "/-/oauth_token"


class OAuthServer:
    """Issues access tokens for the configured app and says which are still valid."""

    def __init__(self, cfg: SimConfig, clock: Callable[[], float]) -> None:
        self._cfg = cfg
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self.grants = 0  # tokens issued, for tests to count refreshes

    def valid(self, token: str) -> bool:
        """True for a token this server issued that has not expired on the simulator's clock."""
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self._clock() < expiry

    def token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answers one token request (form-encoded, as OAuth requires)."""
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        cfg = self._cfg
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type",
                         "error_description": "grant_type must be refresh_token or authorization_code"}
        if not cfg.oauth_client_id or (form.get("client_id"), form.get("client_secret")) != (
                cfg.oauth_client_id, cfg.oauth_client_secret):
            return 401, {"error": "invalid_client", "error_description": "The client credentials are invalid."}
        if form.get("refresh_token") != cfg.oauth_refresh_token:
            return 400, {"error": "invalid_grant",
                         "error_description": "The refresh token is invalid, expired or revoked."}
        access = "sim-oauth-" + secrets.token_hex(12)
        with self._lock:
            self._tokens[access] = self._clock() + cfg.oauth_token_ttl_s
            self.grants += 1
        return 200, {"access_token": access, "token_type": "bearer",
                     "expires_in": int(cfg.oauth_token_ttl_s),
                     "data": {"id": 1, "gid": "1", "name": "Sim OAuth user", "email": "oauth@acme.example"}}
