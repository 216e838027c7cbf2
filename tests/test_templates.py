"""A site's broken digest template: a located one-line error, and nothing published or sent."""

from __future__ import annotations

import shutil
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
    code, out, err = invoke("publish", "--site", site)
    assert code == 0, err
    assert "digest #1: 1 sent" in out
