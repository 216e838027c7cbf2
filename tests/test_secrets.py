"""Secrets come from the environment and never reach output, logs or reprs.

The SMTP password is sent to a real aiosmtpd server that requires AUTH: a wrong password gives
a clear one-line error, a right one delivers, and in both cases the password appears nowhere in
what the command prints, even with debug logging (-vv).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smtp_server import SMTPTestServer
from test_sending import ENV, NOW, make_site

from fieldfeed.config import load_settings
from fieldfeed.mail.transports import SMTPTransport

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "pw-Zq8-never-print-me"


def run_send(site: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDFEED_")}
    env.update(ENV)
    env["FIELDFEED_NOW"] = NOW.isoformat()
    env["FIELDFEED_SMTP_PASSWORD"] = password
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", "digest", "send", "--site", str(site), "-vv"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_wrong_password_is_a_clear_error_that_never_shows_it(tmp_path: Path) -> None:
    with SMTPTestServer(lifetime=60, auth=("news", PASSWORD)) as server:
        make_site(tmp_path, port=server.port, subscribers=3, extra='username = "news"')
        wrong = PASSWORD + "-wrong"
        proc = run_send(tmp_path, wrong)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, output
        assert "login as 'news' refused" in output
        assert "Traceback" not in output
        assert wrong not in output and PASSWORD not in output
        assert server.count == 0

        proc = run_send(tmp_path, PASSWORD)  # the rerun finishes the same issue
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert server.count == 3
        assert PASSWORD not in output


def test_transport_repr_hides_the_password(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=2525, extra='username = "news"')
    transport = SMTPTransport(settings.delivery, PASSWORD)
    assert PASSWORD not in repr(transport)
    assert PASSWORD not in repr(load_settings(tmp_path))
