"""A site's broken digest template: a located one-line error, and nothing published or sent."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from test_cli_site import invoke

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(ROOT / "fieldfeed.toml", root)
    shutil.copytree(ROOT / "content", root / "content")
    (root / "templates").mkdir()
    assert invoke("subscribers", "add", "reader@example.org", "--site", root)[0] == 0
    return root


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "<p>ok</p>\n{% for p in posts %}{{ p.title }</p>\n",
            "templates/digest.html:2: template: unexpected '}'",
        ),
        (
            "<p>ok</p>\n\n{% for p in posts %}{{ p.titel }}{% endfor %}\n",
            "templates/digest.html:3: template: 'fieldfeed.model.Post object' has no attribute"
            " 'titel'",
        ),
    ],
)
def test_broken_template_stops_check_and_publish(site: Path, template: str, expected: str) -> None:
    (site / "templates" / "digest.html").write_text(template, encoding="utf-8")
    code, _, err = invoke("check", "--site", site)
    assert code == 1
    assert expected in err
    code, _, err = invoke("publish", "--site", site)
    assert code == 1
    assert expected in err
    assert "Traceback" not in err
    assert not (site / "public").exists()  # no feed written
    assert not list((site / ".fieldfeed").glob("outbox/new/*"))  # no mail

    (site / "templates" / "digest.html").unlink()  # fixed: the same command now goes out
    # --digest: the first issue waits for the schedule (issue 10); this test is about templates.
    code, out, err = invoke("publish", "--digest", "--site", site)
    assert code == 0, err
    assert "digest #1: 1 sent" in out


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            '[site]\ntitle = "T"\nurl = "https://t.example/"\n'
            '[digest]\nunsubscribe_url = "https://t.example/u/"\n',
            "[digest] from is not set",
        ),
        (
            '[site]\ntitle = "T"\nurl = "https://t.example/"\n[digest]\nfrom = "T <n@t.example>"\n',
            "[digest] unsubscribe_url is not set",
        ),
    ],
)
def test_digest_settings_missing_fail_before_anything_is_frozen(
    tmp_path: Path, config: str, expected: str
) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "fieldfeed.toml").write_text(config, encoding="utf-8")
    (tmp_path / "content" / "one.md").write_text(
        "---\ntitle: One\ndate: 2026-11-01\n---\nHello.\n", encoding="utf-8"
    )
    assert invoke("subscribers", "add", "x@example.org", "--site", tmp_path)[0] == 0
    code, _, err = invoke("publish", "--site", tmp_path)
    assert code == 1
    assert expected in err and "Traceback" not in err
    code, _, err = invoke("digest", "send", "--site", tmp_path)
    assert code == 1  # still nothing frozen: the same error, not "0 sent, 1 failed"
    assert expected in err
    db = sqlite3.connect(tmp_path / ".fieldfeed" / "fieldfeed.db")
    assert db.execute("select count(*) from issues").fetchone() == (0,)
