"""The signing secret: never shorter than 32 bytes, whatever its source, never shown anywhere.

Issue 7, item 3: a 0-byte ``.fieldfeed/secret`` (left by a full disk) signed real links with an
empty key, and anyone could forge them. These tests use real files with real modes, the CLI as
a subprocess (the one-line error a user sees), a real Maildir outbox, and ``serve``'s app over
real HTTP for /health.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_sending import NOW, make_site
from test_web import running_server

from fieldfeed.config import Settings
from fieldfeed.errors import ConfigError
from fieldfeed.mail import load_site_secret
from fieldfeed.mail.tokens import (
    SigningKey,
    check_secret,
    load_secret,
    sign_unsubscribe,
    verify_unsubscribe,
)
from fieldfeed.statefiles import write_new_private_file
from fieldfeed.store import ledger, open_store
from fieldfeed.web.app import create_app
from fieldfeed.web.services import WebServices

REPO = Path(__file__).resolve().parent.parent
GOOD = "Zk8q" * 11  # 44 bytes
SHORT_ENV = "Qx9-tiny-key"  # must never be printed
SHORT_FILE = b"Hk2-cut-off-by-disk!"  # 20 bytes, must never be printed


def run_cli(
    site: Path, *args: str, env: dict[str, str] | None = None, fsize: int = 0
) -> subprocess.CompletedProcess[str]:
    """``python -m fieldfeed ARGS --site SITE`` with no FIELDFEED_* but ``env``.

    ``fsize`` > 0 caps the size of any file the process writes (RLIMIT_FSIZE): writes past it
    fail with EFBIG, as they fail with ENOSPC on a full disk.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FIELDFEED_")}
    environ.update(env or {})
    environ["FIELDFEED_NOW"] = NOW.isoformat()
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environ.get("PYTHONPATH")]))

    def limit() -> None:
        if fsize:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", *args, "--site", str(site)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
        preexec_fn=limit,  # only setrlimit, before exec
    )


def secret_path(site: Path) -> Path:
    return site / ".fieldfeed" / "secret"


def write_secret(site: Path, data: bytes, mode: int = 0o600) -> Path:
    path = secret_path(site)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # the test's umask must not soften the mode under test
    return path


def outbox_count(site: Path) -> int:
    new = site / ".fieldfeed" / "outbox" / "new"
    return len(list(new.iterdir())) if new.is_dir() else 0


def nothing_frozen(settings: Settings) -> bool:
    with open_store(settings.database_url).connect() as conn:
        return ledger.counts(conn, 1) == {}


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 1 and exactly one line on stderr, no traceback."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_an_empty_secret_file_is_refused_kept_and_nothing_is_sent(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=None, subscribers=3)  # Maildir: the file fallback
    path = write_secret(tmp_path, b"")
    line = one_line_error(run_cli(tmp_path, "digest", "send"))
    assert f"{path} is empty" in line
    assert "delete it to have a new secret made" in line and "FIELDFEED_SECRET" in line
    assert outbox_count(tmp_path) == 0 and nothing_frozen(settings)
    assert path.read_bytes() == b""  # never silently replaced: the operator decides

    # The fix the message names works: delete it, and the next run makes a new key.
    path.unlink()
    proc = run_cli(tmp_path, "digest", "send")
    assert proc.returncode == 0, proc.stderr
    assert outbox_count(tmp_path) == 3
    assert len(path.read_bytes().strip()) >= 32


def test_a_short_secret_file_or_variable_is_refused_and_never_printed(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=None, subscribers=2)
    write_secret(tmp_path, SHORT_FILE + b"\n")
    line = one_line_error(run_cli(tmp_path, "digest", "send"))
    assert "is too short (20 bytes)" in line

    env = {"FIELDFEED_SECRET": SHORT_ENV}
    line = one_line_error(run_cli(tmp_path, "publish", "--digest", env=env))
    assert line.startswith("error: FIELDFEED_SECRET is too short (12 bytes)")
    assert outbox_count(tmp_path) == 0 and nothing_frozen(settings)
    # Even with debug logging, neither key shows anywhere.
    for proc in (
        run_cli(tmp_path, "digest", "send", "-vv"),
        run_cli(tmp_path, "publish", "--digest", "-vv", env=env),
    ):
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        output = proc.stdout + proc.stderr
        assert SHORT_FILE.decode() not in output and SHORT_ENV not in output


def test_a_secret_file_open_to_other_users_is_refused(tmp_path: Path) -> None:
    make_site(tmp_path, port=None, subscribers=1)
    path = write_secret(tmp_path, GOOD.encode() + b"\n", mode=0o644)
    line = one_line_error(run_cli(tmp_path, "digest", "send"))
    assert f"{path} is open to other users (mode 0644" in line
    assert f"chmod 600 {path}" in line and GOOD not in line
    assert outbox_count(tmp_path) == 0
    os.chmod(path, 0o640)  # group-readable is open too
    assert "mode 0640" in one_line_error(run_cli(tmp_path, "digest", "send"))
    os.chmod(path, 0o600)
    assert run_cli(tmp_path, "digest", "send").returncode == 0
    assert outbox_count(tmp_path) == 1


def test_a_full_disk_while_making_the_secret_leaves_no_short_secret_behind(
    tmp_path: Path,
) -> None:
    """The old code opened .fieldfeed/secret, then wrote into it: cut off, it stayed short."""
    make_site(tmp_path, port=None, subscribers=2)
    # 20 bytes: room for the lock file's pid, not for a 44-byte secret.
    line = one_line_error(run_cli(tmp_path, "digest", "send", fsize=20))
    assert "cannot write" in line and str(secret_path(tmp_path)) in line
    assert not secret_path(tmp_path).exists()
    names = [p.name for p in (tmp_path / ".fieldfeed").iterdir()]
    assert not [n for n in names if "secret" in n]  # no temp file left either
    assert outbox_count(tmp_path) == 0

    proc = run_cli(tmp_path, "digest", "send")  # room again: a whole key is made
    assert proc.returncode == 0 and "made a per-site secret" in proc.stdout
    assert secret_path(tmp_path).stat().st_mode & 0o777 == 0o600
    assert len(secret_path(tmp_path).read_bytes()) == 44
    assert outbox_count(tmp_path) == 2


def test_the_secret_file_is_made_once_0600_and_never_replaced(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=None)
    old = os.umask(0)  # a permissive umask must not loosen it: the mode is set at creation
    try:
        key, warnings = load_site_secret(settings, {})
    finally:
        os.umask(old)
    path = secret_path(tmp_path)
    assert warnings and path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".fieldfeed").stat().st_mode & 0o777 == 0o700
    assert load_site_secret(settings, {}) == (key, ())
    # Two processes racing to make it: the second one's key never replaces the first's.
    assert write_new_private_file(path, b"another key, never used\n") is False
    assert load_site_secret(settings, {})[0] == key
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_an_empty_key_can_neither_sign_nor_verify() -> None:
    """Whatever a future caller passes, a short key forges nothing."""
    mac = hmac.new(b"", b"fieldfeed/unsubscribe/v1\x007", hashlib.sha256).digest()[:12]
    forged = "7." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert verify_unsubscribe(b"", forged) is None
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        sign_unsubscribe(b"x" * 31, 7)
    assert verify_unsubscribe(b"x" * 32, sign_unsubscribe(b"x" * 32, 7)) == 7


def test_the_key_never_shows_in_reprs_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = load_secret({"FIELDFEED_SECRET": GOOD})
    assert isinstance(key, SigningKey) and key == GOOD.encode()
    logging.getLogger("test").warning("key %s %r", key, key)
    shown = [repr(key), str(key), f"{key}", f"{key!r}", caplog.text]
    settings = make_site(tmp_path, port=None)
    shown.append(repr(WebServices(settings=settings, secret=GOOD.encode())))
    assert all(GOOD not in text and "Zk8q" not in text for text in shown), shown
    with pytest.raises(ConfigError) as info:
        check_secret(SHORT_FILE, "somewhere", "")
    assert SHORT_FILE.decode() not in str(info.value)
    with pytest.raises(ConfigError):
        WebServices(settings=settings, secret=b"")


@pytest.mark.parametrize("problem", ["empty file", "short variable", "open file"])
def test_serve_health_says_an_unusable_secret_is_not_configured(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    problem: str,
) -> None:
    settings = make_site(tmp_path, port=None)
    monkeypatch.delenv("FIELDFEED_SECRET", raising=False)
    if problem == "empty file":
        write_secret(tmp_path, b"")
    elif problem == "short variable":
        monkeypatch.setenv("FIELDFEED_SECRET", SHORT_ENV)
    else:
        write_secret(tmp_path, GOOD.encode(), mode=0o604)
    services = WebServices.from_settings(settings)
    assert services.secret is None
    assert "answer 503 until it is fixed" in caplog.text and SHORT_ENV not in caplog.text
    app = create_app(settings, services)
    with running_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        health = http.get("/health")
        assert health.json()["secret_configured"] is False
        assert health.json()["ok"] is False and health.status_code == 503
        assert http.post("/subscribe", data={"email": "a@example.org"}).status_code == 503
        assert http.post("/u/1.AAAAAAAAAAAAAAAA").status_code == 503
    services.close()

    # Fixed, the same check says so.
    secret_path(tmp_path).unlink(missing_ok=True)
    monkeypatch.setenv("FIELDFEED_SECRET", GOOD)
    services = WebServices.from_settings(settings)
    with running_server(create_app(settings, services)) as base:
        health = httpx.get(base + "/health", timeout=10)
        assert health.json()["secret_configured"] is True and health.json()["ok"] is True
    services.close()


def test_publish_with_an_unusable_secret_publishes_no_feed(tmp_path: Path) -> None:
    """Exit 1 means nothing was published: the secret is checked before any feed is written
    (it used to be read after the feeds had gone out)."""
    settings = make_site(tmp_path, port=None, subscribers=2)
    write_secret(tmp_path, b"")
    line = one_line_error(run_cli(tmp_path, "publish"))
    assert "is empty" in line
    assert not (settings.output_dir / "rss.xml").exists()
    assert outbox_count(tmp_path) == 0 and nothing_frozen(settings)
