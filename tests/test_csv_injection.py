"""``subscribers export`` never hands a spreadsheet a formula (issue 7, item 5).

Names come from the public subscribe form. ``=HYPERLINK("http://evil.example","x")`` typed
there used to land in the export as a live formula. Here a subscriber signs up through the
real form over HTTP, others are added with the real CLI, the export runs as a subprocess and
is read back with the csv module, and our own export survives import + export unchanged.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
from test_site_secret import run_cli
from test_web import Clock, Outbox, make_services, running_server
from test_web import make_site as make_web_site

from fieldfeed.cli.csvcells import FORMULA_START, neutralize, restore
from fieldfeed.config import load_settings
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app

FORMULA = '=HYPERLINK("http://evil.example","x")'
#: (email, name, tags) added with `subscribers add`, after the two from the form.
BY_HAND = [
    ("+tagged@example.org", "+1 555 0100", ""),
    ("quoted@example.org", "'=already quoted by someone", ""),
    ("plain@example.org", "Ann O'Neil", ""),
]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_neutralizes_formulas_from_the_web_form_and_round_trips(tmp_path: Path) -> None:
    settings = make_web_site(tmp_path / "site")
    outbox = Outbox()
    services = make_services(settings, outbox, Clock())
    with (
        running_server(create_app(settings, services)) as base,
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        r = http.post("/subscribe", data={"email": "=calc@example.org", "name": FORMULA})
        assert r.status_code == 200
        r = http.post(
            "/subscribe",
            data={"email": "-2+3@example.org", "name": "@SUM(1+1)*cmd|' /C calc'!A0", "tags": "go"},
        )
        assert r.status_code == 200
    services.close()
    site = settings.root
    for email, name, tags in BY_HAND:
        args = ["subscribers", "add", email, "--name", name]
        assert run_cli(site, *args, *(["--tags", tags] if tags else [])).returncode == 0

    export = tmp_path / "list.csv"
    proc = run_cli(site, "subscribers", "export", str(export))
    assert proc.returncode == 0, proc.stderr
    rows = rows_of(export.read_text(encoding="utf-8"))
    assert rows[0] == ["email", "name", "tags", "status"]
    assert rows[1] == ["'=calc@example.org", "'" + FORMULA, "", "pending"]
    assert rows[2][:2] == ["'-2+3@example.org", "'@SUM(1+1)*cmd|' /C calc'!A0"]
    assert rows[3][:2] == ["'+tagged@example.org", "'+1 555 0100"]
    assert rows[4][1] == "''=already quoted by someone"  # one more quote, taken off on import
    assert rows[5][1] == "Ann O'Neil"
    for row in rows:
        for cell in row:
            assert not cell or cell[0] not in FORMULA_START, row

    # Our export, imported elsewhere and exported again: the same file, the same names.
    other = tmp_path / "other"
    other.mkdir()
    (other / "fieldfeed.toml").write_bytes((site / "fieldfeed.toml").read_bytes())
    proc = run_cli(other, "subscribers", "import", str(export))
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again.csv"
    assert run_cli(other, "subscribers", "export", str(again)).returncode == 0
    assert again.read_bytes() == export.read_bytes()
    stored = {s.email: s.name for s in subs.list_all(open_store(load_settings(other).database_url))}
    assert stored["=calc@example.org"] == FORMULA
    assert stored["quoted@example.org"] == "'=already quoted by someone"
    assert stored["plain@example.org"] == "Ann O'Neil"


def test_neutralize_and_restore_are_inverse() -> None:
    for value in ["", "a", "'a", "=1", "'=1", "''=1", "-", "@x", "+", "\t1", "\r1", "x=1", "'"]:
        written = neutralize(value)
        assert restore(written) == value
        assert not written or written[0] not in FORMULA_START
