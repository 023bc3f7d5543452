"""OAuth: an app's refresh token exchanged at Asana's token endpoint, renewed before expiry and
when Asana lets a token lapse mid-run; the app's three secrets never leave the POST body."""

import json
import time
from pathlib import Path
from typing import Any, Dict, List
from urllib.parse import parse_qsl

import dlt
import pytest
import requests
import responses

from asana_dlt import AsanaSourceError, asana_source
from asana_dlt.auth import AsanaRefreshTokenAuth, token_url_for
from asana_app.run_guard import root_cause
from asana_sim import AsanaSim, SimConfig
from tests.conftest import CORE, counts

CLIENT_ID = "client-id-never-logged-5d1e"
CLIENT_SECRET = "client-secret-never-logged-8a2f"
REFRESH_TOKEN = "refresh-token-never-logged-c4b7"
SECRETS = (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)


def oauth_config(**kwargs: Any) -> SimConfig:
    return SimConfig(seed=4, tasks=40, projects=3, oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET,
                     oauth_refresh_token=REFRESH_TOKEN, offset_ttl_s=10**6, **kwargs)


def test_token_url_is_asanas() -> None:
    assert token_url_for("https://app.asana.com/api/1.0") == "https://app.asana.com/-/oauth_token"
    assert token_url_for("http://127.0.0.1:9/api/1.0/") == "http://127.0.0.1:9/-/oauth_token"


def test_a_run_survives_the_token_expiring_midway_and_no_secret_lands_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dlt_log: pytest.LogCaptureFixture
) -> None:
    # The simulator's clock jumps two hours after its 30th request: the hour-long token the
    # run started with has lapsed on Asana's side while the client still believes it valid.
    jump: Dict[str, Any] = {}

    def clock() -> float:
        sim = jump.get("sim")
        return time.time() + (7200 if sim is not None and len(sim.requests()) >= 30 else 0)

    with AsanaSim(token="unused-static-token", config=oauth_config(), clock=clock) as sim:
        jump["sim"] = sim
        # Secrets come from [sources.asana_dlt], here as environment variables.
        monkeypatch.setenv("SOURCES__ASANA_DLT__CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("SOURCES__ASANA_DLT__CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("SOURCES__ASANA_DLT__REFRESH_TOKEN", REFRESH_TOKEN)
        pipeline = dlt.pipeline(
            pipeline_name="oauth", pipelines_dir=str(tmp_path / "pipelines"),
            destination=dlt.destinations.duckdb(str(tmp_path / "oauth.duckdb")), dataset_name="asana_data",
        )
        pipeline.run(asana_source(base_url=sim.base_url, requests_per_minute=0).with_resources(*CORE))
        statuses = sim.counters()["status"]
        grants = sim._app.oauth.grants
        expected = sim.expected_counts()

    assert statuses.get(401, 0) >= 1, "the token never lapsed: the refresh path was not exercised"
    assert grants == 2  # one at the start, one when Asana let the first lapse; never one per thread
    loaded = counts(pipeline)
    assert {t: loaded.get(t, 0) for t in CORE} == {t: expected[t] for t in CORE}
    assert "Making GET request" in dlt_log.text  # the capture works
    trace = json.dumps(pipeline.last_trace.asdict(), default=str)
    assert "client_id" in trace  # the trace lists the resolved config: the check can fail
    for secret in SECRETS:
        assert secret not in dlt_log.text
        assert secret not in trace
        leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaked == []


def test_wrong_refresh_token_stops_with_one_line_naming_the_fix(tmp_path: Path) -> None:
    with AsanaSim(token="unused", config=oauth_config()) as sim:
        pipeline = dlt.pipeline(
            pipeline_name="oauth_bad", pipelines_dir=str(tmp_path / "pipelines"),
            destination=dlt.destinations.duckdb(str(tmp_path / "bad.duckdb")), dataset_name="asana_data",
        )
        source = asana_source(base_url=sim.base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                              refresh_token="revoked-refresh-token-1f0a", requests_per_minute=0)
        with pytest.raises(Exception) as err:
            pipeline.run(source.with_resources("workspaces"))
    cause = root_cause(err.value)
    assert isinstance(cause, AsanaSourceError)
    message = str(cause)
    assert message.startswith(f"Asana's token endpoint refused the OAuth app's credentials (400 from {sim.base_url[:-8]}/-/oauth_token)")
    assert "refresh_token" in message and "\n" not in message
    assert not any(s in message for s in (*SECRETS, "revoked-refresh-token-1f0a"))
    assert counts(pipeline) == {}


def test_no_token_and_no_oauth_app_is_one_line() -> None:
    with pytest.raises(AsanaSourceError, match="No Asana access token was found"):
        asana_source(base_url="http://127.0.0.1:9/api/1.0", client_id=CLIENT_ID)


def _posts(rsps: responses.RequestsMock) -> List[Dict[str, str]]:
    return [dict(parse_qsl(c.request.body)) for c in rsps.calls if c.request.method == "POST"]


@pytest.mark.parametrize("expires_in,exchanges", [(3600, 1), (30, 3)])
def test_refresh_happens_before_expiry(expires_in: int, exchanges: int) -> None:
    """A token within a minute of its expiry is renewed before the request goes out."""
    url = "https://asana.test/-/oauth_token"
    auth = AsanaRefreshTokenAuth(access_token_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                 refresh_token=REFRESH_TOKEN, session=requests.Session())
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, url, json={"access_token": "short-lived", "expires_in": expires_in})
        for _ in range(3):
            prepared = auth(requests.Request("GET", "https://asana.test/api/1.0/users/me").prepare())
            assert prepared.headers["Authorization"] == "Bearer short-lived"
        posts = _posts(rsps)
    assert len(posts) == exchanges
    assert posts[0] == {"grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                        "refresh_token": REFRESH_TOKEN}
