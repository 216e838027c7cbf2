"""Running ``fieldfeed serve`` for real in tests: in a thread, or as the CLI in a subprocess.

Both bind 127.0.0.1 only, on a free port, and stop by themselves (a timer in the thread; the
coreutils ``timeout`` around the subprocess) even when a test dies half-way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from smtp_server import free_port
from starlette.types import ASGIApp

from fieldfeed.web.server import server_config


@contextmanager
def serve_in_thread(app: ASGIApp, lifetime: float = 60.0) -> Iterator[str]:
    """The app under the same uvicorn configuration ``fieldfeed serve`` uses; yields its URL."""
    port = free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    timer = threading.Timer(lifetime, lambda: setattr(server, "should_exit", True))
    timer.daemon = True
    thread.start()
    timer.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        timer.cancel()
        server.should_exit = True
        thread.join(10)


@dataclass
class ServeProcess:
    """A running ``fieldfeed serve``: its URL, port and the file its output goes to."""

    base: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve_process(
    site: Path, env: dict[str, str], *, lifetime: int = 60, args: tuple[str, ...] = ()
) -> Iterator[ServeProcess]:
    """``fieldfeed serve --site SITE`` in a subprocess, stdout and stderr into one file."""
    port = free_port()
    log_path = site / f"serve-{port}.log"
    command = [
        "timeout",
        str(lifetime),
        sys.executable,
        "-m",
        "fieldfeed",
        "serve",
        "--site",
        str(site),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "serve did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield ServeProcess(f"http://127.0.0.1:{port}", port, log_path, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
