"""Every CLI command on a damaged state database: one line, exit 1, no traceback and no SQL.

SQLAlchemy's own message quotes the statement and its parameters (subscribers' addresses);
the CLI prints the driver's message only (issue 7, item 12).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_serve_state import ENV, corrupt_index_page, make_site

COMMANDS = [
    ["subscribers", "list"],
    ["subscribers", "export"],
    ["subscribers", "add", "new@example.org"],
    ["subscribers", "remove", "reader3@example.org"],
]


def corrupt_table_page(db: Path) -> None:
    """Overwrite the root page of the subscribers table too, so a plain scan fails."""
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'subscribers' AND type = 'table'"
        ).fetchone()
    conn.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size + 8)
        f.write(b"\xff" * 256)


@pytest.mark.slow
@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_corrupt_database_is_one_line_in_every_command(tmp_path: Path, args: list[str]) -> None:
    settings = make_site(tmp_path / "site")
    corrupt_table_page(corrupt_index_page(settings))
    run = subprocess.run(
        [sys.executable, "-m", "fieldfeed", *args, "--site", str(settings.root)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **ENV},
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr == "error: state database: DatabaseError: database disk image is malformed\n"
    assert "reader" not in run.stdout + run.stderr  # no addresses from the SQL parameters


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # A driver that is not installed: say what to install, never a ModuleNotFoundError.
        (
            "postgresql+pg8000://reader:s3cret-pw@127.0.0.1:9/list",
            "its driver is not installed (pg8000); "
            "install it with: pip install 'fieldfeed[postgres]'",
        ),
        # psycopg installed (the postgres extra is in the lock), nothing listening on the port.
        ("postgresql://reader:s3cret-pw@127.0.0.1:9/list", "OperationalError: "),
    ],
    ids=["no driver", "no server"],
)
def test_a_postgresql_url_that_cannot_be_used_is_one_line(
    tmp_path: Path, url: str, expected: str
) -> None:
    settings = make_site(tmp_path / "site")
    with (settings.root / "fieldfeed.toml").open("a", encoding="utf-8") as f:
        f.write(f'\n[state]\ndatabase = "{url}"\n')
    run = subprocess.run(
        [sys.executable, "-m", "fieldfeed", "subscribers", "list", "--site", str(settings.root)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **ENV},
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: state database postgresql"), lines
    assert expected in lines[0]
    assert "s3cret-pw" not in run.stderr and "Traceback" not in run.stderr
