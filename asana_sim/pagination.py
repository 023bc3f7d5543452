"""Opaque, expiring offset tokens and the ``next_page`` object.

Asana's offsets are signed tokens, not integers, and they expire (about 15 minutes);
clients that guess offsets or hold them too long must fail here as they would there.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from typing import Any, Callable
from urllib.parse import urlencode


class OffsetError(ValueError):
    """An offset that is malformed, forged or expired; the server answers 400."""


class Paginator:
    """Issues and checks offset tokens with a per-process secret."""

    def __init__(self, clock: Callable[[], float], ttl: Callable[[], float],
                 expire_nth: Callable[[], int | None] = lambda: None) -> None:
        self._secret = os.urandom(16)
        self._clock = clock
        self._ttl = ttl
        self._expire_nth = expire_nth
        self._presented = 0
        self._lock = threading.Lock()

    def issue(self, position: int, last_gid: str) -> str:
        """A token meaning "continue after ``last_gid`` (at ``position``)"."""
        body = json.dumps([position, last_gid, round(self._clock(), 3)], separators=(",", ":"))
        raw = body.encode()
        sig = hmac.new(self._secret, raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(raw + b"." + sig).decode().rstrip("=")

    def check(self, token: str) -> tuple[int, str]:
        """Decode a token, refusing forged and expired ones."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body, sig = raw[:-13], raw[-12:]
            if raw[-13:-12] != b"." or not hmac.compare_digest(
                    sig, hmac.new(self._secret, body, hashlib.sha256).digest()[:12]):
                raise OffsetError("offset: Not a valid offset token.")
            position, last_gid, issued = json.loads(body)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, OffsetError):
                raise
            raise OffsetError("offset: Not a valid offset token.") from exc
        with self._lock:
            self._presented += 1
            forced = self._presented == self._expire_nth()
        if forced or self._clock() - issued >= self._ttl():
            raise OffsetError("offset: Your pagination token has expired.")
        return int(position), str(last_gid)

    def page(self, items: list[Any], limit: int | None, offset: str | None, path: str,
             params: dict[str, str], base_url: str) -> tuple[list[Any], dict[str, Any] | None]:
        """Slice one page; ``next_page`` is None on the last page.

        Resuming looks for the last item handed out, so deletions between pages do not
        make the client skip records (Asana's offsets are keyed the same way).
        """
        start = 0
        if offset is not None:
            position, last_gid = self.check(offset)
            start = position
            if not (0 < position <= len(items) and _gid(items[position - 1]) == last_gid):
                for i, item in enumerate(items):
                    if _gid(item) == last_gid:
                        start = i + 1
                        break
                else:
                    start = min(position, len(items))
        if limit is None:
            return items[start:], None
        chunk = items[start:start + limit]
        end = start + len(chunk)
        if end >= len(items) or not chunk:
            return chunk, None
        return chunk, self._next_page(end, _gid(chunk[-1]), limit, path, params, base_url)

    def stream_tail(self, items: list[Any], limit: int, path: str, params: dict[str, str],
                    base_url: str) -> dict[str, Any]:
        """A ``next_page`` past the last item: a streaming listing (the audit log) always has
        one once its filters matched, and answers it with empty pages until new items come."""
        return self._next_page(len(items), _gid(items[-1]), limit, path, params, base_url)

    def _next_page(self, position: int, last_gid: str, limit: int, path: str,
                   params: dict[str, str], base_url: str) -> dict[str, Any]:
        token = self.issue(position, last_gid)
        query = {k: v for k, v in params.items() if k != "offset"}
        query["limit"] = str(limit)
        query["offset"] = token
        rel = f"{path}?{urlencode(query)}"
        return {"offset": token, "path": rel, "uri": base_url + rel}


def _gid(item: Any) -> str:
    return item["gid"] if isinstance(item, dict) else str(item)
