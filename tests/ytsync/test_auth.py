"""``starter.py auth``: the installed-app OAuth flow against the emulator's consent page.

The command runs as a real subprocess; the test plays the browser: it reads the address
the command prints, opens it with urllib, and the emulator redirects (302) to the
command's loopback server, which completes the flow.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ytsync.cli.app import main
from ytsync.config import Settings
from ytsync.youtube.client import YouTube
from ytsync.youtube.tokens import refresh_token_expiry
from ytsync_emulator.api import AUTH_PATH, write_client_secrets
from ytsync_emulator.server import EmulatorServer
from ytsync_emulator.state import YOUTUBE_SCOPE, EmulatorState

REPO = Path(__file__).resolve().parents[2]
CHANNEL = "Sunday Kitchen [test]"
# The test is the browser: never through a proxy, whatever the machine's settings.
BROWSER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Setup:
    server: EmulatorServer
    client_id: str
    client_secret: str
    secrets_file: Path
    token_file: Path
    tmp: Path

    @property
    def state(self) -> EmulatorState:
        return self.server.state

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YTSYNC_")}
        env.update(
            YTSYNC_TOKEN_FILE=str(self.token_file),
            YTSYNC_OAUTH_TOKEN_URI=self.server.token_uri,
            YTSYNC_YOUTUBE_API_ENDPOINT=self.server.base_url,
            YTSYNC_DATABASE_URL=f"sqlite:///{self.tmp / 'unused.db'}",
            PYTHONPATH=str(REPO),
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        env.update(extra)
        return env

    def settings(self) -> Settings:
        return Settings(
            youtube_api_endpoint=self.server.base_url,
            token_file=self.token_file,
            oauth_token_uri=self.server.token_uri,
            database_url=f"sqlite:///{self.tmp / 'unused.db'}",
        )


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    server = EmulatorServer(EmulatorState(seed=11, channel_title=CHANNEL))
    server.start()
    client_id, client_secret = server.state.register_client()
    secrets_file = write_client_secrets(
        tmp_path / "client_secret.json",
        base_url=server.base_url,
        client_id=client_id,
        client_secret=client_secret,
    )
    yield Setup(server, client_id, client_secret, secrets_file, tmp_path / "token.json", tmp_path)
    server.stop()


class AuthProcess:
    """``starter.py auth`` running in the background, its prompt already read."""

    def __init__(self, setup: Setup, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "starter.py"), "auth", *args],
            env=setup.env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.head: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.head.append(line)
            if line.startswith("http"):
                self.url = line.strip()
                return
        _, err = self.proc.communicate(timeout=30)
        pytest.fail(f"no sign-in address printed; stderr:\n{err}")

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, "".join(self.head) + out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def browse(url: str) -> str:
    """Open ``url`` as a browser would, following redirects; the final address."""
    with BROWSER.open(url, timeout=30) as response:
        response.read()
        return str(response.geturl())


def test_sign_in_stores_a_working_private_token_and_warns_about_testing_apps(
    setup: Setup,
) -> None:
    # YTSYNC_DEBUG: even with debug logging on, no secret may reach the terminal.
    auth = AuthProcess(setup, "--client-secrets", str(setup.secrets_file), "--no-browser",
                       YTSYNC_DEBUG="1")  # fmt: skip
    try:
        query = parse_qs(urlsplit(auth.url).query)
        assert urlsplit(auth.url).path == AUTH_PATH
        assert query["code_challenge_method"] == ["S256"]  # PKCE
        landed = browse(auth.url)
        code = parse_qs(urlsplit(landed).query)["code"][0]
        rc, out, err = auth.finish()
    finally:
        auth.kill()
    assert rc == 0, err

    mode = stat.S_IMODE(setup.token_file.stat().st_mode)
    assert mode == 0o600
    token = json.loads(setup.token_file.read_text())
    assert token["type"] == "authorized_user"
    assert token["client_id"] == setup.client_id
    assert token["refresh_token"]
    assert "refresh_token_expiry" not in token, "a lasting sign-in has no end"

    text = " ".join(out.split())
    assert f"Signed in to the YouTube channel: {CHANNEL}" in text
    assert "7 days" in text and '"Testing"' in text
    assert '"In production"' in text and "OAuth consent screen" in text
    assert "auth_required" in text and "python starter.py resume" in text
    for secret in (setup.client_secret, token["refresh_token"], token["token"], code):
        assert secret not in out and secret not in err

    # The refresh token works: with every access token gone, the stored one is refused
    # and the client must refresh with it.
    setup.state.expire_all_access_tokens()
    setup.state.clear_log()
    channel = YouTube(setup.settings()).my_channel()
    assert channel is not None and channel["snippet"]["title"] == CHANNEL
    assert [(r.method, r.status) for r in setup.state.requests()] == [
        ("channels.list", 401),
        ("oauth.token", 200),
        ("channels.list", 200),
    ]


def test_browser_mode_still_prints_the_address(setup: Setup) -> None:
    # BROWSER=true: the "browser" is /bin/true, so nothing opens on a developer's desk,
    # yet the flow takes its open-a-browser path; the test then plays the browser.
    auth = AuthProcess(setup, "--client-secrets", str(setup.secrets_file), BROWSER="true")
    try:
        browse(auth.url)
        rc, out, err = auth.finish()
    finally:
        auth.kill()
    assert rc == 0, err
    assert CHANNEL in out
    assert json.loads(setup.token_file.read_text())["refresh_token"]


def test_ctrl_c_while_waiting_is_130_and_writes_nothing(setup: Setup) -> None:
    auth = AuthProcess(setup, "--client-secrets", str(setup.secrets_file), "--no-browser")
    try:
        auth.proc.send_signal(signal.SIGINT)
        rc, _, err = auth.finish()
    finally:
        auth.kill()
    assert rc == 130
    assert "Traceback" not in err and "nothing was written" in err
    assert not setup.token_file.exists()


def test_cancel_on_the_consent_screen_is_130_and_writes_nothing(setup: Setup) -> None:
    setup.state.deny_authorization = True
    auth = AuthProcess(setup, "--client-secrets", str(setup.secrets_file), "--no-browser")
    try:
        landed = browse(auth.url)
        assert parse_qs(urlsplit(landed).query)["error"] == ["access_denied"]
        rc, _, err = auth.finish()
    finally:
        auth.kill()
    assert rc == 130, err
    assert "nothing was written" in " ".join(err.split()) and "Traceback" not in err
    assert not setup.token_file.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("this is not json", "is not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"other": {"client_id": "x"}}', '"installed"'),
        ('{"installed": "nope"}', "is not a JSON object"),
        ('{"installed": {"client_id": "x", "client_secret": "GOCSPX-s3cr3t"}}', "auth_uri"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        ("dir", "is a folder"),
        (
            '{"installed": {"client_id": "x", "client_secret": "GOCSPX-s3cr3t", '
            '"auth_uri": "http://accounts.example.com/auth", "token_uri": "https://t"}}',
            "must be an https URL",
        ),
    ],
)
def test_bad_client_secrets_are_exit_2_and_write_nothing(
    setup: Setup,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | bytes | None,
    message: str,
) -> None:
    for name, value in setup.env().items():
        monkeypatch.setenv(name, value)
    bad = setup.tmp / "bad.json"
    if content == "dir":
        bad.mkdir()
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    assert main(["auth", "--client-secrets", str(bad), "--no-browser"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # undo rich's line wrapping
    assert message in err
    assert "GOCSPX-s3cr3t" not in err
    assert not setup.token_file.exists()
    assert setup.state.requests() == []  # no browser step, no token request


def test_missing_token_folder_is_exit_2_before_any_browser(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in setup.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("YTSYNC_TOKEN_FILE", str(setup.tmp / "nowhere" / "token.json"))
    assert main(["auth", "--client-secrets", str(setup.secrets_file), "--no-browser"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "does not exist" in err and "nowhere" in err
    assert setup.client_secret not in err
    assert setup.state.requests() == []


# The emulator's side of the flow, spoken to directly ------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


RAW = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
VERIFIER = "v" * 43 + "-._~0123456789"


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorize(setup: Setup, **overrides: str) -> tuple[int, dict[str, str], str]:
    """GET the consent page; (status, the redirect's query, the Location)."""
    params = {
        "client_id": setup.client_id,
        "redirect_uri": "http://localhost:5678/",
        "response_type": "code",
        "scope": YOUTUBE_SCOPE,
        "state": "xyz",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }
    url = f"{setup.server.base_url}{AUTH_PATH}?{urlencode(params)}"
    try:
        with RAW.open(url, timeout=10) as response:
            return response.status, {}, ""
    except urllib.error.HTTPError as answer:
        location = answer.headers.get("Location") or ""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        return answer.code, query, location


def redeem(
    setup: Setup, code: str, *, basic: bool = False, **overrides: str
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://localhost:5678/",
        "code_verifier": VERIFIER,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if basic:
        pair = f"{setup.client_id}:{setup.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    else:
        form.update(client_id=setup.client_id, client_secret=setup.client_secret)
    form.update(overrides)
    request = urllib.request.Request(
        setup.server.token_uri, data=urlencode(form).encode(), headers=headers, method="POST"
    )
    try:
        with RAW.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as answer:
        return answer.code, json.loads(answer.read())


def test_emulator_redirects_with_a_single_use_pkce_bound_code(setup: Setup) -> None:
    status, query, location = authorize(setup)
    assert status == 302 and location.startswith("http://localhost:5678/?")
    assert query["state"] == "xyz"
    code = query["code"]
    # A wrong verifier fails, and spends the code: it never works again.
    status, body = redeem(setup, code, code_verifier="w" * 43)
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = redeem(setup, code)
    assert (status, body["error"]) == (400, "invalid_grant")

    _, query, _ = authorize(setup)
    status, body = redeem(setup, query["code"], basic=True)
    assert status == 200
    assert body["refresh_token"] and body["access_token"] and body["expires_in"] > 0
    assert body["scope"] == YOUTUBE_SCOPE
    status, body = redeem(setup, query["code"], basic=True)
    assert (status, body["error"]) == (400, "invalid_grant")  # single use

    _, query, _ = authorize(setup)
    status, body = redeem(setup, query["code"], redirect_uri="http://localhost:9999/")
    assert (status, body["error"]) == (400, "invalid_grant")  # not where the code went


def test_emulator_refuses_bad_authorization_requests(setup: Setup) -> None:
    assert authorize(setup, client_id="unknown.apps.googleusercontent.com")[0] == 400
    assert authorize(setup, redirect_uri="https://evil.example.com/")[0] == 400
    assert authorize(setup, response_type="token")[0] == 400
    assert authorize(setup, scope="openid email")[0] == 400
    _, query, _ = authorize(setup)
    status, body = redeem(setup, query["code"], client_secret="GOCSPX-wrong")
    assert (status, body["error"]) == (401, "invalid_client")


def test_a_sign_in_that_does_not_last_records_when_it_ends(tmp_path: Path) -> None:
    """An app in Testing: Google's answer gives the refresh token's lifetime
    (``refresh_token_expires_in``); the token file keeps when it ends, through
    refreshes, and ``auth`` says so."""
    week = 7 * 24 * 3600
    server = EmulatorServer(EmulatorState(seed=11, channel_title=CHANNEL, refresh_token_ttl=week))
    server.start()
    try:
        client_id, client_secret = server.state.register_client()
        secrets_file = write_client_secrets(
            tmp_path / "client_secret.json",
            base_url=server.base_url,
            client_id=client_id,
            client_secret=client_secret,
        )
        setup = Setup(server, client_id, client_secret, secrets_file, tmp_path / "token.json",
                      tmp_path)  # fmt: skip
        before = datetime.now(UTC)
        auth = AuthProcess(setup, "--client-secrets", str(secrets_file), "--no-browser")
        try:
            browse(auth.url)
            rc, out, err = auth.finish()
        finally:
            auth.kill()
        assert rc == 0, err
        ends = refresh_token_expiry(setup.token_file)
        assert ends is not None
        assert (
            before + timedelta(seconds=week - 60) <= ends <= before + timedelta(seconds=week + 60)
        )
        assert f"Google says this sign-in ends at {ends.isoformat()}" in " ".join(out.split())
        # A refresh writes the token file again: the end stays.
        server.state.expire_all_access_tokens()
        assert YouTube(setup.settings()).my_channel() is not None
        assert [r.method for r in server.state.requests()].count("oauth.token") >= 2
        assert refresh_token_expiry(setup.token_file) == ends
    finally:
        server.stop()
