"""The site commands through the real CLI: init, check, build, publish --no-digest.

CliRunner for most cases, and one real subprocess, as a user would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fieldfeed.cli import app
from fieldfeed.cli.common import run_app

NOW = "2026-11-24T12:00:00+00:00"


def invoke(*args: str | Path) -> tuple[int, str, str]:
    """Run the CLI exactly as main() does (same error mapping), capturing its output."""
    with CliRunner().isolation(env={"FIELDFEED_NOW": NOW}) as (out, err, _):
        code = run_app(app, [str(a) for a in args])
        return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "blog"
    code, _out, err = invoke(
        "init",
        root,
        "--title",
        "Test Blog",
        "--url",
        "https://blog.example.org/",
        "--timezone",
        "Europe/Berlin",
    )
    assert code == 0, err
    posts = root / "content" / "posts"
    (posts / "2026-11-01-first.md").write_text(
        "---\ntitle: First post\ntags: [Python, Distributed Systems]\n---\nHello **world**.\n",
        encoding="utf-8",
    )
    (posts / "second.md").write_text(
        '+++\ntitle = "Second post"\ndate = 2026-11-10T09:00:00+01:00\ntags = "python"\n+++\n'
        "See [the first](../first/).\n",
        encoding="utf-8",
    )
    return root


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_init_refuses_an_existing_site(site: Path) -> None:
    code, _, err = invoke("init", site)
    assert code == 2
    assert "already exists" in err


def test_check_reports_counts_and_writes_nothing(site: Path) -> None:
    code, out, err = invoke("check", "--site", site)
    assert code == 0, err
    assert out.startswith("ok: 3 files, 3 published, 0 drafts, 0 scheduled")
    assert not (site / "public").exists()


def test_build_writes_every_feed_then_rewrites_nothing(site: Path) -> None:
    code, out, err = invoke("build", "--site", site)
    assert code == 0, err
    public = site / "public"
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert (public / name).is_file()
        assert (public / "tags" / "python" / name).is_file()
        assert (public / "tags" / "distributed-systems" / name).is_file()
    assert "3 posts, 3 tags:" in out
    before = snapshot(public)

    code, out, err = invoke("build", "--site", site)
    assert code == 0, err
    assert "(0 written, 13 unchanged)" in out
    assert snapshot(public) == before  # same bytes AND same mtimes: nothing rewritten


def test_a_broken_post_fails_the_build_and_leaves_outputs_alone(site: Path) -> None:
    assert invoke("build", "--site", site)[0] == 0
    before = snapshot(site / "public")
    bad = site / "content" / "posts" / "bad.md"
    bad.write_text("---\ntitle: Bad\ndate: tomorrow\n---\nbody\n", encoding="utf-8")
    (site / "content" / "posts" / "new.md").write_text(
        "---\ntitle: New and fine\ndate: 2026-11-20\n---\nbody\n", encoding="utf-8"
    )
    code, _out, err = invoke("build", "--site", site)
    assert code == 1
    assert "content/posts/bad.md:3: date: expected ISO 8601, got 'tomorrow'" in err
    assert "nothing was published" in err
    assert "Traceback" not in err
    assert snapshot(site / "public") == before


def test_config_errors_name_file_and_line(site: Path) -> None:
    config = site / "fieldfeed.toml"
    config.write_text(config.read_text().replace('"Europe/Berlin"', '"Europe/Atlantis"'))
    code, _, err = invoke("build", "--site", site)
    assert code == 1
    assert "fieldfeed.toml:9: [site] timezone: unknown timezone 'Europe/Atlantis'" in err


def test_a_missing_site_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = invoke("build", "--site", tmp_path)
    assert code == 1
    assert "fieldfeed.toml: not found" in err


def test_usage_errors_exit_2(site: Path) -> None:
    assert invoke("build", "--site", site, "--jobs", "0")[0] == 2
    assert invoke("build", "--no-such-option")[0] == 2
    assert invoke("no-such-command")[0] == 2


def test_publish_without_digest_builds_the_feeds(site: Path) -> None:
    code, out, err = invoke("publish", "--site", site, "--no-digest")
    assert code == 0, err
    assert out.startswith(f"published {site / 'public'}: 3 posts")
    assert (site / "public" / "atom.xml").is_file()


def test_publish_dry_run_writes_nothing(site: Path) -> None:
    code, out, err = invoke("publish", "--site", site, "--no-digest", "--dry-run")
    assert code == 0, err
    assert out.startswith("would publish")
    assert not (site / "public").exists()


def test_quiet_prints_nothing_on_success(site: Path) -> None:
    code, out, _ = invoke("build", "--site", site, "-q")
    assert code == 0
    assert out == ""


def test_version() -> None:
    from fieldfeed import __version__

    code, out, _ = invoke("--version")
    assert code == 0
    assert out == f"fieldfeed {__version__}\n"


@pytest.mark.parametrize("command", ["init", "check", "build", "publish"])
def test_every_command_has_help(command: str) -> None:
    code, out, _ = invoke(command, "--help")
    assert code == 0
    assert "Usage: fieldfeed" in out
    body = out.split("\n\n", 2)
    assert len(out) > 200 and len(body) > 1
    if command != "init":
        assert "--site" in out


def test_real_subprocess_build(site: Path) -> None:
    env = {**os.environ, "FIELDFEED_NOW": NOW}
    proc = subprocess.run(
        [sys.executable, "-m", "fieldfeed", "build", "--site", str(site)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 posts" in proc.stdout
    assert (site / "public" / "rss.xml").read_bytes().startswith(b"<?xml")


def test_a_bad_schedule_stops_check_and_publish_but_not_build(site: Path) -> None:
    config = site / "fieldfeed.toml"
    config.write_text(
        config.read_text().replace('schedule = "0 8 * * mon"', 'schedule = "mondays"')
    )
    assert invoke("build", "--site", site)[0] == 0  # build never reads the schedule
    for command in ("check", "publish"):
        code, _, err = invoke(command, "--site", site)
        assert code == 1
        assert "[digest] schedule: expected 5 cron fields" in err
