"""What a site keeps on disk stays private (issue 7, item 14: preview files and file modes).

``digest preview`` wrote the first real subscriber's address and a working unsubscribe token
into ``preview/`` (a folder people commit and attach to bug reports), and the subscriber
database was created 0644. These tests run the real CLI as subprocesses on real sites and
look at the real files with ``os.stat``.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import stat
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from test_sending import NOW, make_site
from test_site_secret import GOOD, REPO, run_cli

from fieldfeed.config import load_settings
from fieldfeed.mail.tokens import sign_unsubscribe, verify_unsubscribe
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs

UNSUB = re.compile(r"https://notes\.example\.org/u/([A-Za-z0-9._-]+)")


def readable(path: Path) -> str:
    """The file's text; for the .eml its raw form plus its headers and decoded parts."""
    raw = path.read_bytes()
    if path.suffix != ".eml":
        return raw.decode("utf-8")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    parts = [str(value) for value in msg.values()]
    parts += [str(part.get_content()) for part in msg.walk() if not part.is_multipart()]
    return raw.decode("utf-8", errors="replace") + "\n".join(parts)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_preview_holds_no_subscriber_address_and_no_working_token(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=None, subscribers=3)  # reader0000..2@example.org
    engine = open_store(settings.database_url)
    real = subs.list_all(engine)
    assert len(real) == 3
    env = {"FIELDFEED_SECRET": GOOD}  # the key real digests are signed with

    proc = run_cli(tmp_path, "digest", "preview", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "for reader@example.org" in proc.stdout
    files = sorted((tmp_path / "preview").iterdir())
    assert [f.suffix for f in files] == [".eml", ".html", ".txt"]
    tokens_seen = set()
    for path in files:
        text = readable(path)
        assert "Sample Reader" in text or path.suffix == ".txt"
        for sub in real:
            assert sub.email not in text and sub.name not in text, path
            assert sign_unsubscribe(GOOD.encode(), sub.id) not in text, path
        tokens_seen.update(UNSUB.findall(text))
    # The preview still shows where the link goes, with a token that unsubscribes nobody.
    assert tokens_seen == {"PREVIEW-not-a-real-token"}
    assert all(verify_unsubscribe(GOOD.encode(), t) is None for t in tokens_seen)
    # Nothing is created for the preview: no secret file, no ledger.
    assert not (tmp_path / ".fieldfeed" / "secret").exists()


def test_a_new_site_keeps_its_state_private(tmp_path: Path) -> None:
    site = tmp_path / "blog"
    proc = subprocess.run(  # init takes the folder as an argument, not --site
        [sys.executable, "-m", "fieldfeed", "init", str(site), "-q"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "FIELDFEED_NOW": NOW.isoformat()},  # the first post's date
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "preview/" in (site / ".gitignore").read_text(encoding="utf-8").splitlines()
    state = site / ".fieldfeed"
    assert mode(state) == 0o700

    assert run_cli(site, "subscribers", "add", "ann@example.org").returncode == 0
    assert mode(site / ".fieldfeed" / "fieldfeed.db") == 0o600

    proc = run_cli(site, "publish", "--digest")  # Maildir, no FIELDFEED_SECRET: makes the file
    assert proc.returncode == 0, proc.stderr
    assert mode(state) == 0o700
    assert mode(state / "fieldfeed.db") == 0o600
    assert mode(state / "secret") == 0o600
    assert len(list((state / "outbox" / "new").iterdir())) == 1


def test_the_database_and_its_wal_files_are_0600_wherever_it_lives(tmp_path: Path) -> None:
    """A site not made by init, the database in a folder of its own: still private."""
    (tmp_path / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://notes.example.org/"\n'
        '[state]\ndatabase = "sqlite:///var/state.db"\n',
        encoding="utf-8",
    )
    assert run_cli(tmp_path, "subscribers", "add", "bo@example.org").returncode == 0
    db = tmp_path / "var" / "state.db"
    assert mode(db.parent) == 0o700 and mode(db) == 0o600
    # While a connection is open SQLite keeps -wal and -shm beside it: same mode.
    engine = open_store(load_settings(tmp_path).database_url)
    with engine.begin() as conn:
        subs.upsert(conn, "cy@example.org", now=subs.list_all(conn)[0].created)
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()
        assert mode(wal) == 0o600 and mode(shm) == 0o600
    engine.dispose()


def test_a_site_not_made_by_init_gets_a_private_state_folder_on_first_build(
    tmp_path: Path,
) -> None:
    """A blog that adds fieldfeed.toml by hand: the first `build` makes .fieldfeed/ 0700 (the
    build lock is the first thing made there), and the lock file 0600."""
    (tmp_path / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://notes.example.org/"\n', encoding="utf-8"
    )
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "p.md").write_text(
        "---\ntitle: P\ndate: 2026-01-01\n---\nBody.\n", encoding="utf-8"
    )
    proc = run_cli(tmp_path, "build")
    assert proc.returncode == 0, proc.stderr
    state = tmp_path / ".fieldfeed"
    assert mode(state) == 0o700
    assert all(mode(p) & 0o077 == 0 for p in state.glob("*.lock"))
