"""kill -9 in the middle of a send, then rerun: nothing lost, duplicates bounded and named.

A real ``fieldfeed digest send`` subprocess sends 400 messages over 3 connections to a real
aiosmtpd server in this process; the test SIGKILLs it once the server has received some of
them, then runs the command again. The only recipients allowed a second copy are those whose
message was in flight at the kill: at most one per connection, each with the same
Message-ID, and the rerun's summary names them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from smtp_server import SMTPTestServer
from test_sending import ENV, NOW, make_site

REPO = Path(__file__).resolve().parent.parent
SUBSCRIBERS = 400
CONCURRENCY = 3


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDFEED_")}
    env.update(ENV)
    env["FIELDFEED_NOW"] = NOW.isoformat()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _command(site: Path) -> list[str]:
    return [sys.executable, "-m", "fieldfeed", "digest", "send", "--site", str(site)]


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", [40, 150])
def test_kill_9_mid_send_then_rerun_finishes_the_issue(tmp_path: Path, kill_at: int) -> None:
    with SMTPTestServer(lifetime=60) as server:
        make_site(tmp_path, port=server.port, subscribers=SUBSCRIBERS, concurrency=CONCURRENCY)
        server.slow_down(0.01)  # about 300 msgs/s over 3 connections: room to kill mid-way
        log = tmp_path / "first-run.log"
        with (
            log.open("wb") as sink,
            subprocess.Popen(
                _command(tmp_path), env=_env(), stdout=sink, stderr=subprocess.STDOUT
            ) as proc,
        ):
            try:
                reached = server.wait_for(kill_at, timeout=30)
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=10)
        assert reached, log.read_text()
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.1)  # let the server finish whatever was already on the wire
        before_rerun = server.count
        assert kill_at <= before_rerun < SUBSCRIBERS

        server.slow_down(0)
        rerun = subprocess.run(
            _command(tmp_path), env=_env(), capture_output=True, text=True, timeout=60
        )
        assert rerun.returncode == 0, rerun.stderr
        out = rerun.stdout
        print(f"killed at {before_rerun} received; rerun:\n{out}")

    got = server.by_recipient()
    expected = {f"reader{i:04d}@example.org" for i in range(SUBSCRIBERS)}
    assert set(got) == expected, "every subscriber has at least one message"
    copies = Counter({address: len(messages) for address, messages in got.items()})
    duplicated = {a for a, n in copies.items() if n > 1}
    assert all(n <= 2 for n in copies.values())
    assert len(duplicated) <= CONCURRENCY
    for address in duplicated:
        assert len({m.message_id for m in got[address]}) == 1, "same Message-ID on both copies"
    assert "(resumed)" in out
    if duplicated:
        named = next(line for line in out.splitlines() if "were in flight" in line)
        for address in duplicated:
            assert address in named
    # Sent in the rerun = the messages the server had not received yet, plus the resent ones.
    sent_line = next(line for line in out.splitlines() if line.startswith("digest #1"))
    sent = int(sent_line.split(":")[1].split()[0])
    assert sent == SUBSCRIBERS - before_rerun + len(duplicated)
