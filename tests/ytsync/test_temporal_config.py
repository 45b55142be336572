"""Where ytsync connects: YTSYNC_TEMPORAL_*, then TEMPORAL_* variables, then the Temporal
config file's profile, then the defaults; a bad value is exit code 2 naming the setting,
and no secret of this configuration shows in a repr, a message or a log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme
from temporalio.service import TLSConfig

from tests.support.harness import ROOT
from ytsync.cli.app import main
from ytsync.config import Settings, load_environment
from ytsync.db.engine import make_engine, session_factory, transaction, upgrade
from ytsync.db.models import SyncJob
from ytsync.errors import UserError
from ytsync.temporal import connect, resolve_target

API_KEY = "ytsync-test-api-key-4f9c1d"


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Temporal config file of the user's: the default file is looked for here."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_pems(ca: trustme.CA) -> tuple[str, str]:
    """(certificate, private key) of a client certificate, as PEM text."""
    issued = ca.issue_cert("ytsync-worker")
    return issued.cert_chain_pems[0].bytes().decode(), issued.private_key_pem.bytes().decode()


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def profile_file(tmp_path: Path, body: str) -> dict[str, str]:
    return {"TEMPORAL_CONFIG_FILE": write(tmp_path / "temporal.toml", body)}


# --------------------------------------------------------------------- resolution


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    target = resolve_target(Settings(), {})
    assert (target.address, target.namespace, target.tls, target.api_key) == (
        "localhost:7233",
        "default",
        False,
        None,
    )


def test_the_default_profile_of_the_default_file(tmp_path: Path) -> None:
    folder = tmp_path / "temporalio"
    folder.mkdir()
    write(folder / "temporal.toml", '[profile.default]\naddress = "file:7233"\nnamespace = "nf"\n')
    target = resolve_target(Settings(), {})
    assert (target.address, target.namespace) == ("file:7233", "nf")


def test_a_named_profile_with_api_key_and_server_name(tmp_path: Path) -> None:
    env = profile_file(
        tmp_path,
        '[profile.default]\naddress = "wrong:1"\n'
        '[profile.cloud]\naddress = "ns.acct.tmprl.cloud:7233"\nnamespace = "ns.acct"\n'
        f'api_key = "{API_KEY}"\n[profile.cloud.tls]\nserver_name = "ns.acct.tmprl.cloud"\n',
    )
    target = resolve_target(Settings(), {**env, "TEMPORAL_PROFILE": "cloud"})
    assert (target.address, target.namespace, target.api_key) == (
        "ns.acct.tmprl.cloud:7233",
        "ns.acct",
        API_KEY,
    )
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.domain == "ns.acct.tmprl.cloud"


def test_variables_beat_the_profile_and_ytsync_beats_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = profile_file(tmp_path, '[profile.default]\naddress = "file:1"\nnamespace = "from-file"\n')
    env |= {"TEMPORAL_ADDRESS": "env:2", "TEMPORAL_NAMESPACE": "from-env"}
    target = resolve_target(Settings(), env)
    assert (target.address, target.namespace) == ("env:2", "from-env")

    monkeypatch.setenv("YTSYNC_TEMPORAL_ADDRESS", "ytsync:3")
    monkeypatch.setenv("YTSYNC_TEMPORAL_NAMESPACE", "from-ytsync")
    target = resolve_target(load_environment(), env)
    assert (target.address, target.namespace) == ("ytsync:3", "from-ytsync")
    # Only what YTSYNC_* sets wins; the rest still comes from Temporal's configuration.
    monkeypatch.delenv("YTSYNC_TEMPORAL_NAMESPACE")
    assert resolve_target(load_environment(), env).namespace == "from-env"


def test_empty_variables_are_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = profile_file(tmp_path, '[profile.default]\naddress = "file:1"\n')
    monkeypatch.setenv("YTSYNC_TEMPORAL_ADDRESS", "")
    target = resolve_target(load_environment(), {**env, "TEMPORAL_ADDRESS": "", "TEMPORAL_TLS": ""})
    assert (target.address, target.tls) == ("file:1", False)


def test_an_api_key_turns_tls_on_unless_tls_is_off(tmp_path: Path) -> None:
    env = {"TEMPORAL_API_KEY": API_KEY}
    assert resolve_target(Settings(), env).tls is not False
    assert resolve_target(Settings(), {**env, "TEMPORAL_TLS": "false"}).tls is False
    assert resolve_target(Settings(), {"TEMPORAL_TLS": "TRUE"}).tls is not False


def test_tls_from_data_variables_and_from_profile_paths(
    tmp_path: Path, ca: trustme.CA, client_pems: tuple[str, str]
) -> None:
    cert, key = client_pems
    ca_pem = ca.cert_pem.bytes().decode()
    target = resolve_target(
        Settings(),
        {
            "TEMPORAL_TLS_SERVER_CA_CERT_DATA": ca_pem,
            "TEMPORAL_TLS_CLIENT_CERT_DATA": cert,
            "TEMPORAL_TLS_CLIENT_KEY_DATA": key,
        },
    )
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.server_root_ca_cert == ca_pem.encode()
    assert (target.tls.client_cert, target.tls.client_private_key) == (cert.encode(), key.encode())

    paths = {
        name: write(tmp_path / f"{name}.pem", pem)
        for name, pem in (("ca", ca_pem), ("cert", cert), ("key", key))
    }
    env = profile_file(
        tmp_path,
        '[profile.cluster]\naddress = "temporal.internal:7233"\n[profile.cluster.tls]\n'
        f'server_ca_cert_path = "{paths["ca"]}"\nclient_cert_path = "{paths["cert"]}"\n'
        f'client_key_path = "{paths["key"]}"\nserver_name = "temporal.internal"\n',
    )
    target = resolve_target(Settings(), {**env, "TEMPORAL_PROFILE": "cluster"})
    assert isinstance(target.tls, TLSConfig)
    assert target.tls.client_private_key == key.encode()
    assert target.tls.domain == "temporal.internal"


def test_no_secret_in_repr_or_description(tmp_path: Path, client_pems: tuple[str, str]) -> None:
    cert, key = client_pems
    env = {
        "TEMPORAL_API_KEY": API_KEY,
        "TEMPORAL_TLS_CLIENT_CERT_DATA": cert,
        "TEMPORAL_TLS_CLIENT_KEY_DATA": key,
        "TEMPORAL_GRPC_META_X_TOKEN": "meta-secret",
    }
    target = resolve_target(Settings(), env)
    assert target.rpc_metadata == {"x-token": "meta-secret"}
    shown = repr(target) + target.describe()
    assert "TLS, client certificate, API key" in target.describe()
    for secret in (API_KEY, key.splitlines()[1], "meta-secret"):
        assert secret not in shown


def test_a_failed_connection_names_the_server_but_no_secret(
    tmp_path: Path, client_pems: tuple[str, str]
) -> None:
    cert, key = client_pems
    env = {
        "TEMPORAL_ADDRESS": "127.0.0.1:1",
        "TEMPORAL_API_KEY": API_KEY,
        "TEMPORAL_TLS_CLIENT_CERT_DATA": cert,
        "TEMPORAL_TLS_CLIENT_KEY_DATA": key,
    }
    with pytest.raises(ConnectionError) as caught:
        asyncio.run(connect(Settings(), environ=env))
    message = str(caught.value)
    assert "127.0.0.1:1" in message
    assert API_KEY not in message
    assert key.splitlines()[1] not in message


# ------------------------------------------------------------------------- errors

NOT_PEM = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"


def _profile(body: str) -> Callable[[Path], dict[str, str]]:
    return lambda tmp: profile_file(tmp, body)


def _env(**variables: str) -> Callable[[Path], dict[str, str]]:
    """Variables; "{tmp}" in a value is the test's temporary folder."""
    return lambda tmp: {k: v.format(tmp=tmp) for k, v in variables.items()}


# case -> (its environment, made in the test's folder; what the message must name)
BAD_SETTINGS: dict[str, tuple[Callable[[Path], dict[str, str]], str]] = {
    "malformed address": (_env(TEMPORAL_ADDRESS="http://temporal:7233"), "TEMPORAL_ADDRESS"),
    "address without port": (_env(TEMPORAL_ADDRESS="temporal"), "TEMPORAL_ADDRESS"),
    "bad TLS switch": (_env(TEMPORAL_TLS="yes please"), "TEMPORAL_TLS"),
    "unreadable CA path": (
        _env(TEMPORAL_TLS_SERVER_CA_CERT_PATH="{tmp}/missing.pem"),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    ),
    "a folder as the certificate": (
        _env(TEMPORAL_TLS_CLIENT_CERT_PATH="{tmp}", TEMPORAL_TLS_CLIENT_KEY_PATH="{tmp}"),
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
    ),
    "CA data that is not PEM": (
        _env(TEMPORAL_TLS_SERVER_CA_CERT_DATA="not a certificate"),
        "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    ),
    "key data that is not PEM": (
        _env(TEMPORAL_TLS_CLIENT_KEY_DATA=NOT_PEM),
        "TEMPORAL_TLS_CLIENT_KEY_DATA",
    ),
    "API key with a line break": (_env(TEMPORAL_API_KEY=API_KEY + "\n"), "TEMPORAL_API_KEY"),
    "unknown profile": (_env(TEMPORAL_PROFILE="nope"), "TEMPORAL_PROFILE"),
    "missing config file": (_env(TEMPORAL_CONFIG_FILE="{tmp}/none.toml"), "TEMPORAL_CONFIG_FILE"),
    "malformed TOML, secret on the bad line": (
        _profile(f'[profile.default]\napi_key = "{API_KEY}\n'),
        "TEMPORAL_CONFIG_FILE",
    ),
    "bad address in the profile": (
        _profile('[profile.default]\naddress = "temporal:http"\n'),
        "address of profile 'default' in",
    ),
    "bad CA path in the profile": (
        _profile('[profile.default.tls]\nserver_ca_cert_path = "/nonexistent/ca.pem"\n'),
        "tls.server_ca_cert_path of profile 'default'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_settings_name_the_setting(case: str, tmp_path: Path) -> None:
    make_env, named = BAD_SETTINGS[case]
    with pytest.raises(UserError) as caught:
        resolve_target(Settings(), make_env(tmp_path))
    message = str(caught.value)
    assert named in message
    assert API_KEY not in message
    assert "c2VjcmV0" not in message


def test_the_key_must_match_a_certificate(tmp_path: Path, client_pems: tuple[str, str]) -> None:
    _cert, key = client_pems
    with pytest.raises(UserError, match="client key without its certificate"):
        resolve_target(Settings(), {"TEMPORAL_TLS_CLIENT_KEY_DATA": key})


def test_both_path_and_data_is_refused() -> None:
    env = {"TEMPORAL_TLS_CLIENT_KEY_PATH": "/a", "TEMPORAL_TLS_CLIENT_KEY_DATA": "b"}
    with pytest.raises(UserError, match="TEMPORAL_TLS_CLIENT_KEY_PATH"):
        resolve_target(Settings(), env)


def test_the_cli_exits_2_on_a_bad_temporal_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    upgrade(make_engine(url))  # a job to pause, so the Temporal settings are read
    with transaction(session_factory(make_engine(url))) as session:
        session.add(SyncJob(workflow_id="ytsync-job-1", stage="add_videos"))
    monkeypatch.setenv("YTSYNC_DATABASE_URL", url)
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_DATA", "not a certificate")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_DATA", NOT_PEM)
    assert main(["pause"]) == 2
    err = capsys.readouterr().err
    assert "TEMPORAL_TLS_CLIENT_CERT_DATA" in err
    assert "Traceback" not in err
    assert "c2VjcmV0" not in err


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TEMPORAL_ADDRESS": "temporal:99999"}, "TEMPORAL_ADDRESS"),
        ({"TEMPORAL_API_KEY": API_KEY, "TEMPORAL_PROFILE": "prod"}, "TEMPORAL_PROFILE"),
    ],
    ids=["bad address", "unknown profile"],
)
def test_the_worker_exits_2_on_a_bad_temporal_setting(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("YTSYNC_", "TEMPORAL_"))}
    environ |= {
        "YTSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'ytsync.db'}",
        "XDG_CONFIG_HOME": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert API_KEY not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_an_api_key_over_a_plain_connection_only_to_this_machine(tmp_path: Path) -> None:
    plain = {"TEMPORAL_TLS": "false", "TEMPORAL_API_KEY": API_KEY}
    for address in ("temporal.example.com:7233", "10.1.2.3:7233", "[2001:db8::1]:7233"):
        with pytest.raises(UserError) as caught:
            resolve_target(Settings(), {**plain, "TEMPORAL_ADDRESS": address})
        message = str(caught.value)
        assert message.startswith("TEMPORAL_API_KEY: the API key would travel in clear text to")
        assert API_KEY not in message
    # From a profile: the message names the profile's key.
    env = profile_file(
        tmp_path,
        f'[profile.default]\naddress = "temporal.example.com:7233"\napi_key = "{API_KEY}"\n'
        "[profile.default.tls]\ndisabled = true\n",
    )
    with pytest.raises(UserError, match=r"api_key of profile 'default' in .*: the API key would"):
        resolve_target(Settings(), env)
    # To this machine it never leaves it; with TLS on (what a key turns on) it is sealed.
    for address in ("localhost:7233", "127.0.0.1:7233", "[::1]:7233"):
        target = resolve_target(Settings(), {**plain, "TEMPORAL_ADDRESS": address})
        assert (target.tls, target.api_key) == (False, API_KEY)
    target = resolve_target(
        Settings(), {"TEMPORAL_ADDRESS": "temporal.example.com:7233", "TEMPORAL_API_KEY": API_KEY}
    )
    assert target.tls is not False
