#!/usr/bin/env python3
"""The commands a person runs, in one place, needing nothing but Python 3.11+.

    python3 tasks.py demo    set up .venv, then build and publish the demo site (feeds + digest)
    python3 tasks.py test    set up .venv (with test tools), then run the test suite (pytest)
    python3 tasks.py lint    ruff and mypy
    python3 tasks.py lock    regenerate requirements.lock from pyproject.toml
    python3 tasks.py golden  regenerate the golden files under tests/golden/ (review the diff)

The README and CI call these, so they cannot drift apart. The virtual environment is made once
and refreshed only when pyproject.toml or requirements.lock change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
LOCK = ROOT / "requirements.lock"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    printable = " ".join(str(a) for a in args)
    print(f"$ {printable}", flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT, env=env)
    if code:
        sys.exit(code)


def setup() -> None:
    """Create .venv and install the locked dependencies plus fieldfeed itself (editable)."""
    stamp = VENV / ".fieldfeed-installed"
    digest = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    _run(PY, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "-r", LOCK)
    _run(PY, "-m", "pip", "install", "-qq", "--disable-pip-version-check", "--no-deps", "-e", ".")
    stamp.write_text(digest)


def demo() -> None:
    """Publish the demo site in the repo root: feeds into public/, the digest into the Maildir."""
    setup()
    fieldfeed = BIN / "fieldfeed"
    _run(fieldfeed, "subscribers", "import", "--site", ROOT, ROOT / "docs" / "demo-subscribers.csv")
    # --digest: the list was imported a moment ago, and a fresh list's first issue otherwise
    # waits for the schedule's next time (Monday 08:00); the demo shows the mail now.
    _run(fieldfeed, "publish", "--digest", "--site", ROOT)
    print(
        "\nDone. Feeds are in public/ (open public/rss.xml, or run `.venv/bin/fieldfeed serve`"
        " and subscribe to http://127.0.0.1:8080/atom.xml);\nthe digest is in the Maildir"
        " .fieldfeed/outbox/new/ (open a .eml-style file there with any mail client, e.g."
        " `mutt -f .fieldfeed/outbox`)."
    )


def test() -> None:
    """Run the whole suite. Extra arguments go to pytest (e.g. -k feeds)."""
    setup()
    _run(PY, "-m", "pytest", *sys.argv[2:])


def lint() -> None:
    setup()
    _run(PY, "-m", "ruff", "check", "fieldfeed", "tests", "benchmarks", "tasks.py")
    _run(PY, "-m", "ruff", "format", "--check", "fieldfeed", "tests", "benchmarks", "tasks.py")
    _run(PY, "-m", "mypy")


def lock() -> None:
    """Pin every dependency (runtime, dev and the postgres extra) for Python 3.11 into
    requirements.lock."""
    setup()
    _run(
        PY,
        "-m",
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        "--extra",
        "dev",
        "--extra",
        "postgres",
        "--python-version",
        "3.11",
        "--no-header",
        "--quiet",
        "-o",
        LOCK,
    )


def golden() -> None:
    """Regenerate golden files; review them with `git diff tests/golden`."""
    setup()
    _run(PY, "tests/regen_golden.py", *sys.argv[2:])


COMMANDS = {
    "demo": demo,
    "test": test,
    "lint": lint,
    "lock": lock,
    "golden": golden,
    "setup": setup,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]]()
