"""Regenerate committed golden files and print what changed: ``python tests/regen_golden.py feeds``.

Targets are entries in TARGETS (name -> function returning {relative path: bytes}); add one
for another kind of golden output (e.g. "emails") and it gets the same CLI, diff summary and
stale-file cleanup. Review the diff with ``git diff tests/golden/`` before committing.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

GOLDEN = TESTS / "golden"
VARIED_SITE = TESTS / "sites" / "varied"
#: The fixed clock golden feeds are built with: after every varied post but the future one.
GOLDEN_NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def build_feeds_golden() -> dict[str, bytes]:
    """The varied site's feed files, as ``fieldfeed build`` would write them."""
    from feedcheck import load_site_posts

    from fieldfeed.feeds.build import build_feeds

    settings, posts = load_site_posts(VARIED_SITE, GOLDEN_NOW)
    return {f.path: f.data for f in build_feeds(settings, posts)}


def build_emails_golden() -> dict[str, bytes]:
    """One digest issue's HTML, text and raw message (tests/golden_emails.py)."""
    from golden_emails import build_emails_golden as build

    return build()


TARGETS: dict[str, Callable[[], dict[str, bytes]]] = {
    "feeds": build_feeds_golden,
    "emails": build_emails_golden,
}


def regenerate(target: str, *, check: bool = False) -> int:
    """Write (or with ``check``, only compare) one target; returns the number of changed files."""
    root = GOLDEN / target
    new = TARGETS[target]()
    old = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    changed = 0
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        changed += 1
        if before is None:
            print(f"  added    {target}/{path}")
        elif after is None:
            print(f"  removed  {target}/{path}")
        else:
            diff = list(
                difflib.unified_diff(
                    before.decode("utf-8", "replace").splitlines(),
                    after.decode("utf-8", "replace").splitlines(),
                    lineterm="",
                    n=0,
                )
            )
            plus = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
            minus = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
            print(f"  changed  {target}/{path} (+{plus} -{minus})")
        if check:
            continue
        dest = root / path
        if after is None:
            dest.unlink()
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(after)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    print(f"{target}: {changed} file(s) {'differ' if check else 'updated'}, {len(new)} in total")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", choices=[*TARGETS, []], help="default: all")
    parser.add_argument("--check", action="store_true", help="only report differences")
    args = parser.parse_args(argv)
    changed = sum(regenerate(t, check=args.check) for t in args.targets or TARGETS)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
