"""``fieldfeed subscribers`` through the real CLI entry point on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldfeed.cli import app
from fieldfeed.cli.common import run_app

CONFIG = """\
[site]
title = "Test Notes"
url = "https://notes.example.org/"
timezone = "Europe/Berlin"

[digest]
from = "Test Notes <news@notes.example.org>"
unsubscribe_url = "https://notes.example.org/u/"
"""


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def ff(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run_app(app, list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_remove(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s = str(site)
    assert ff(capsys, "subscribers", "add", "Ann@Example.org", "--name", "Ann", "--site", s)[0] == 0
    code, out, _ = ff(
        capsys, "subscribers", "add", "bob@example.org", "--tags", "Go, Databases", "--site", s
    )
    assert code == 0 and "added" in out
    code, out, _ = ff(capsys, "subscribers", "list", "--site", s)
    lines = out.splitlines()
    assert lines[0].split() == ["Ann@example.org", "Ann", "-", "active"]
    assert lines[1].split() == ["bob@example.org", "-", "go,databases", "active"]
    assert ff(capsys, "subscribers", "remove", "ann@example.org", "--site", s)[0] == 0
    code, out, _ = ff(capsys, "subscribers", "list", "--status", "unsubscribed", "--site", s)
    assert out.split() == ["Ann@example.org", "Ann", "-", "unsubscribed"]
    # add brings an unsubscribed address back and says so
    code, out, _ = ff(capsys, "subscribers", "add", "ann@example.org", "--site", s)
    assert "was unsubscribed, now active again" in out
    assert ff(capsys, "subscribers", "remove", "ann@example.org", "--purge", "--site", s)[0] == 0
    code, _, err = ff(capsys, "subscribers", "remove", "ann@example.org", "--site", s)
    assert code == 1 and "not on the list" in err
    code, _, err = ff(capsys, "subscribers", "list", "--status", "nope", "--site", s)
    assert code == 2
    code, _, err = ff(capsys, "subscribers", "add", "not-an-address", "--site", s)
    assert code == 1 and "invalid email address" in err


def test_import_reports_every_bad_row_and_imports_nothing(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_file = site / "list.csv"
    csv_file.write_text(
        "email,name,tags\n"
        "ann@example.org,Ann,\n"
        "not-an-address,Bad,\n"
        'carl@example.org,"Carl\nInjected",go\n'
        "dora@example.org,Dora,databases\n"
        "ANN@example.org,Ann again,\n",
        encoding="utf-8",
    )
    code, _, err = ff(capsys, "subscribers", "import", str(csv_file), "--site", str(site))
    assert code == 1
    bad = [line for line in err.splitlines() if line.startswith(str(csv_file))]
    assert [line.split(":")[1] for line in bad] == ["3", "4", "7"]
    assert "ANN@example.org already appears on line 2" in bad[2]
    assert "nothing imported" in err
    code, out, _ = ff(capsys, "subscribers", "export", "--site", str(site))
    assert out == "email,name,tags,status\n"

    code, out, _ = ff(
        capsys, "subscribers", "import", str(csv_file), "--skip-invalid", "--site", str(site)
    )
    assert code == 0 and "2 added" in out and "3 bad rows skipped" in out


def test_export_round_trips_and_reimport_updates(
    site: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    s = str(site)
    ff(capsys, "subscribers", "add", "ann@example.org", "--name", 'Ann, the "first"', "--site", s)
    ff(capsys, "subscribers", "add", "bob@example.org", "--tags", "go,sql", "--site", s)
    ff(capsys, "subscribers", "add", "cy@example.org", "--name", "Cy", "--site", s)
    ff(capsys, "subscribers", "remove", "cy@example.org", "--site", s)
    out_file = tmp_path / "export.csv"
    assert ff(capsys, "subscribers", "export", str(out_file), "--site", s)[0] == 0
    exported = out_file.read_text(encoding="utf-8")

    other = tmp_path / "other"
    other.mkdir()
    (other / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    code, out, _ = ff(capsys, "subscribers", "import", str(out_file), "--site", str(other))
    assert code == 0 and "2 added, 0 updated, 1 suppressed" in out
    ff(capsys, "subscribers", "export", str(other / "again.csv"), "--site", str(other))
    assert (other / "again.csv").read_text(encoding="utf-8") == exported  # status kept too

    # Re-importing an edited file updates names and tags, and never revives an unsubscriber.
    edited = exported.replace('bob@example.org,,"go,sql"', "bob@example.org,Bob,go")
    edited = edited.replace("unsubscribed", "active")
    (tmp_path / "edited.csv").write_text(edited, encoding="utf-8")
    code, out, _ = ff(capsys, "subscribers", "import", str(tmp_path / "edited.csv"), "--site", s)
    assert "0 added, 1 updated, 0 suppressed, 1 unchanged, 1 kept suppressed" in out
    _, out, _ = ff(capsys, "subscribers", "list", "--site", s)
    assert "bob@example.org  Bob" in out.replace("  ", "  ")
    assert "cy@example.org" in out and out.strip().endswith("unsubscribed")
