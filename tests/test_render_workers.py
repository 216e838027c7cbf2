"""A render worker killed by the operating system (OOM killer, CPU limit, kill -9) names its
post instead of ending the build with a BrokenProcessPool traceback (issue 7, item 7)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

CPU_SECONDS = 3


def make_site(root: Path, posts: int = 60) -> Path:
    (root / "content").mkdir(parents=True)
    (root / "fieldfeed.toml").write_text(
        '[site]\ntitle = "T"\nurl = "https://t.example/"\ntimezone = "UTC"\n'
        # No wall-clock bound: only the CPU limit below may stop the slow post.
        "[content]\nrender_timeout = 0\n",
        encoding="utf-8",
    )
    for n in range(posts):
        (root / "content" / f"2026-01-{n % 28 + 1:02}-post-{n}.md").write_text(
            f"---\ntitle: Post {n}\n---\n" + "Plain words here. " * 50, encoding="utf-8"
        )
    return root


def build(root: Path, *, cpu_limit: bool) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # inherited by the pool's forked workers, counted per process
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS * 2))

    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", "build", "--jobs", "2", "--site", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIELDFEED_NOW": "2026-03-01T00:00:00+00:00"},
        preexec_fn=limit if cpu_limit else None,
        timeout=120,
    )


@pytest.mark.slow
def test_a_post_that_kills_its_worker_is_named_and_the_rest_are_fine(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    # Allowed by every per-post limit, but tens of seconds of CPU: the worker rendering it
    # passes RLIMIT_CPU and the kernel kills it (SIGXCPU), as the OOM killer would.
    links = "".join(f"[l{i}](/{i}) " for i in range(100_000))
    (root / "content" / "2026-02-01-slow.md").write_text(
        "---\ntitle: Slow\n---\n" + links + "\n", encoding="utf-8"
    )
    proc = build(root, cpu_limit=True)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (
        "content/2026-02-01-slow.md: its render worker was killed by the operating system"
        in proc.stderr
    )
    assert proc.stderr.count("error: content/") == 1  # no other post is blamed
    assert "1 problem found" in proc.stderr
    assert not (root / "public").exists()  # a failed build publishes nothing

    # Without the culprit the same build, under the same limit, publishes every post.
    (root / "content" / "2026-02-01-slow.md").unlink()
    proc = build(root, cpu_limit=True)
    assert proc.returncode == 0, proc.stderr
    assert (root / "public" / "rss.xml").is_file()
