#!/usr/bin/env python3
"""Build benchmark: fieldfeed cold build, no-change rebuild and one-edit rebuild against a
cold Pelican build of the same generated posts, all in one run. See benchmarks/README.md.

    .venv/bin/python benchmarks/bench_build.py --posts 1000
    .venv/bin/python benchmarks/bench_build.py                # 1,000 and 10,000 posts
    .venv/bin/python benchmarks/bench_build.py --quick        # 1,000 posts, one run

Every build runs in a fresh subprocess (interpreter start, imports and the process pool are
counted). The child is a small wrapper that runs the tool's CLI in-process and then reports
its own peak RSS and the peak RSS of each child it reaped (the pool workers), read with
``os.wait4``. Figures are medians; the firm part is the ratio against Pelican measured in the
same run on the same machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "_work"
sys.path.insert(0, str(HERE))
import gen_posts  # noqa: E402

FIELDFEED_PY = REPO / ".venv" / "bin" / "python"
PELICAN_PY = WORK / "pelican-venv" / "bin" / "python"
MIB = 1024  # ru_maxrss is in KiB on Linux

# Runs inside the measured child: `python -c WRAPPER <result.json> <tool> <args...>`.
# Pool workers are forked children of this process; multiprocessing reaps them with
# os.waitpid, which we route through os.wait4 to read each worker's own peak RSS.
WRAPPER = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
out, tool, args = sys.argv[1], sys.argv[2], sys.argv[3:]
workers = {}
def _waitpid(pid, options):
    p, status, ru = os.wait4(pid, options)
    if p:
        workers[p] = ru.ru_maxrss
    return p, status
os.waitpid = _waitpid
rc = 0
try:
    if tool == "fieldfeed":
        sys.argv = ["fieldfeed", *args]
        from fieldfeed.cli import main
        main()
    elif tool == "pelican":
        from pelican import main
        main(args)
    elif tool == "import-fieldfeed":
        import fieldfeed.cli
    else:
        raise SystemExit(f"unknown tool {tool}")
except SystemExit as exc:
    rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
t1 = time.perf_counter()
with open(out, "w") as f:
    json.dump({
        "rc": rc,
        "inproc_s": t1 - t0,
        "self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "children_max_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "workers_kib": sorted(workers.values()),
    }, f)
sys.stdout.flush()
os._exit(rc)
"""


@dataclass
class Sample:
    wall_s: float  #: measured by this process around the subprocess
    inproc_s: float  #: inside the child, after interpreter start (imports included)
    self_mib: float  #: main process peak RSS
    workers_mib: list[float]  #: each reaped worker's peak RSS
    output: str

    @property
    def workers_sum_mib(self) -> float:
        return sum(self.workers_mib)


@dataclass
class Series:
    posts: int
    name: str
    samples: list[Sample] = field(default_factory=list)

    def med(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def measure(python: Path, tool: str, args: list[str], cwd: Path, env: dict[str, str]) -> Sample:
    with tempfile.NamedTemporaryFile(suffix=".json", dir=WORK, delete=False) as tmp:
        result = Path(tmp.name)
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(python), "-c", WRAPPER, str(result), tool, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        data = json.loads(result.read_text()) if result.stat().st_size else {"rc": proc.returncode}
    finally:
        result.unlink(missing_ok=True)
    if proc.returncode != 0 or data.get("rc") != 0:
        raise SystemExit(
            f"{tool} {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return Sample(
        wall_s=wall,
        inproc_s=data["inproc_s"],
        self_mib=data["self_kib"] / MIB,
        workers_mib=[w / MIB for w in data["workers_kib"]],
        output=proc.stdout + proc.stderr,
    )


def snapshot(ref: str) -> tuple[Path, str]:
    """fieldfeed's code at ``ref`` (default HEAD), extracted under _work/: the working tree
    changes under a long run when several people work in it, and fieldfeed's cache key
    covers its own code, so a mid-run edit would turn a no-change rebuild into a cold one."""
    if ref == "working-tree":
        return REPO, "working tree"
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dest = WORK / f"code-{sha}"
    if not dest.exists():
        WORK.mkdir(parents=True, exist_ok=True)  # a fresh clone has no _work/ yet
        tmp = Path(tempfile.mkdtemp(dir=WORK, prefix=".code-"))
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", sha, "fieldfeed", "templates"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.rename(dest)
    return dest, sha


def code_digest(code: Path) -> str:
    """Digest of fieldfeed's source under ``code``."""
    h = hashlib.sha256()
    for path in sorted((code / "fieldfeed").rglob("*.py")):
        h.update(str(path).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


class Changed(Exception):
    """fieldfeed's code changed during a run (its cache key covers the code): redo the run."""


def rendered(sample: Sample) -> int:
    m = re.search(r"(\d+) rendered", sample.output)
    if not m:
        raise SystemExit(f"cannot find 'N rendered' in fieldfeed's output:\n{sample.output}")
    return int(m.group(1))


def fmt_range(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else "—"


def bench_posts(n: int, args: argparse.Namespace, log) -> list[Series]:
    site_root = WORK / "sites" / str(n)
    # Generated in a subprocess: a child's ru_maxrss starts at its parent's RSS when it is
    # (v)forked, so this process must stay small or it inflates every memory figure.
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, str(HERE / "gen_posts.py"), "--posts", str(n), "--out", str(site_root),
         "--seed", str(args.seed)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    log(f"[{n}] generated {n} posts in {time.perf_counter() - t:.1f} s")
    ff_site = site_root / "fieldfeed"
    pel_site = site_root / "pelican"

    code = args.code_dir
    ff_env = dict(os.environ, PYTHONPATH=str(code), PYTHONDONTWRITEBYTECODE="")
    pel_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    jobs = ["-j", str(args.jobs)] if args.jobs else []
    ff_args = ["build", "--site", str(ff_site), *jobs]

    # The post edited for the one-edit rebuild: one in the middle of the archive.
    victim = sorted((ff_site / "content" / "posts").glob("*.md"))[n // 2]
    original = victim.read_bytes()

    big = n > 2000
    pel_runs = 0 if args.no_pelican else (args.big_pelican_runs if big else args.runs)
    configs = [("pelican full site (default theme)", "pelicanconf.py", "output")]
    if not args.no_pelican_min:
        configs.append(("pelican feeds only (fewest outputs)", "pelicanconf_min.py", "output_min"))

    floor = Series(n, "python start + `import fieldfeed.cli`")
    cold = Series(n, "fieldfeed cold build")
    noop = Series(n, "fieldfeed rebuild, nothing changed")
    edit = Series(n, "fieldfeed rebuild, one post edited")
    pels = [Series(n, name) for name, _, _ in configs]

    def one_run(run: int) -> list[Sample]:
        """Floor, cold build, no-change rebuild, one-edit rebuild; each checked for what it did."""
        floor_s = measure(FIELDFEED_PY, "import-fieldfeed", [], code, ff_env)
        shutil.rmtree(ff_site / "public", ignore_errors=True)
        shutil.rmtree(ff_site / ".fieldfeed", ignore_errors=True)
        cold_s = measure(FIELDFEED_PY, "fieldfeed", ff_args, code, ff_env)
        if rendered(cold_s) != n:
            raise Changed(f"cold build rendered {rendered(cold_s)} of {n}")
        noop_s = measure(FIELDFEED_PY, "fieldfeed", ff_args, code, ff_env)
        if rendered(noop_s) != 0 or not re.search(r"\b0 written", noop_s.output):
            raise Changed(f"no-change rebuild did work: {noop_s.output.strip()}")
        victim.write_bytes(
            original + f"\nOne more sentence, added by benchmark run {run}.\n".encode()
        )
        try:
            edit_s = measure(FIELDFEED_PY, "fieldfeed", ff_args, code, ff_env)
        finally:
            victim.write_bytes(original)
        if rendered(edit_s) != 1:
            raise Changed(f"one-edit rebuild rendered {rendered(edit_s)}: {edit_s.output.strip()}")
        return [floor_s, cold_s, noop_s, edit_s]

    run = attempts = 0
    while run < args.runs:
        attempts += 1
        if attempts > args.runs + 3:
            raise SystemExit("fieldfeed/ kept changing under the benchmark; try again later")
        before = code_digest(code)
        try:
            samples = one_run(run)
        except Changed as exc:
            log(f"[{n}] run {run + 1}: discarded ({exc}); repeating it")
            continue
        if code_digest(code) != before:
            log(f"[{n}] run {run + 1}: discarded (fieldfeed/ changed during the run); repeating it")
            continue
        for series, sample in zip((floor, cold, noop, edit), samples, strict=True):
            series.samples.append(sample)
        load = os.getloadavg()[0]
        log(
            f"[{n}] run {run + 1}/{args.runs}: cold {cold.samples[-1].wall_s:.2f} s, "
            f"no-change {noop.samples[-1].wall_s:.2f} s, one edit {edit.samples[-1].wall_s:.2f} s "
            f"(load average {load:.2f})"
        )
        if run < pel_runs:
            for series, (_, conf, outdir) in zip(pels, configs, strict=True):
                shutil.rmtree(pel_site / outdir, ignore_errors=True)
                s = measure(
                    PELICAN_PY,
                    "pelican",
                    ["content", "-s", conf, "-o", outdir, "-q"],
                    pel_site,
                    pel_env,
                )
                feeds = list((pel_site / outdir / "feeds" / "tag").glob("*.xml"))
                assert (pel_site / outdir / "feeds" / "all.atom.xml").exists(), s.output
                assert len(feeds) == 2 * len(gen_posts.TAGS), (len(feeds), s.output)
                series.samples.append(s)
                log(f"[{n}] run {run + 1}: {series.name} {s.wall_s:.2f} s")
        run += 1
    return [floor, cold, noop, edit, *[p for p in pels if p.samples]]


def table(all_series: list[Series]) -> str:
    rows = [
        "| posts | build | runs | median wall (s) | range (s) | main peak RSS (MiB) "
        "| pool workers | sum of worker peaks (MiB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in all_series:
        workers = statistics.median(len(x.workers_mib) for x in s.samples)
        wsum = f"{s.med('workers_sum_mib'):.0f}" if workers else "—"
        rows.append(
            f"| {s.posts:,} | {s.name} | {len(s.samples)} | {s.med('wall_s'):.2f} "
            f"| {fmt_range([x.wall_s for x in s.samples])} | {s.med('self_mib'):.0f} "
            f"| {workers:.0f} | {wsum} |"
        )
    return "\n".join(rows)


def verdicts(all_series: list[Series]) -> str:
    by = {(s.posts, s.name): s for s in all_series}
    lines = []

    def get(n: int, prefix: str) -> Series | None:
        return next((s for (p, name), s in by.items() if p == n and name.startswith(prefix)), None)

    for n in sorted({s.posts for s in all_series}):
        cold = get(n, "fieldfeed cold")
        for pel_prefix in ("pelican full", "pelican feeds only"):
            pel = get(n, pel_prefix)
            if cold and pel:
                r = cold.med("wall_s") / pel.med("wall_s")
                target = " (target <= 0.35)" if n == 1000 else ""
                ok = (" — MET" if r <= 0.35 else " — MISSED") if n == 1000 else ""
                lines.append(
                    f"- {n:,} posts: fieldfeed cold / {pel.name} = **{r:.2f}**{target}{ok}"
                )
        noop = get(n, "fieldfeed rebuild, nothing")
        limit = {1000: 0.5, 10000: 3.0}.get(n)
        if noop and limit:
            v = noop.med("wall_s")
            lines.append(
                f"- {n:,} posts: no-change rebuild {v:.2f} s (target < {limit} s)"
                f" — {'MET' if v < limit else 'MISSED'}"
            )
        if n == 10000:
            peaks = [s for s in (cold, noop, get(n, "fieldfeed rebuild, one")) if s]
            main = max(s.med("self_mib") for s in peaks)
            total = max(s.med("self_mib") + s.med("workers_sum_mib") for s in peaks)
            lines.append(
                f"- {n:,} posts: peak RSS of the main process {main:.0f} MiB, main + sum of "
                f"workers {total:.0f} MiB (target < 150 MB = 143 MiB) — main process "
                f"{'MET' if main < 143 else 'MISSED'}, main + workers "
                f"{'MET' if total < 143 else 'MISSED'}"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--posts", type=int, nargs="+", default=None, help="post counts (default: 1000 10000)"
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3)")
    ap.add_argument(
        "--quick", action="store_true", help="one run, 1,000 posts unless --posts is given"
    )
    ap.add_argument(
        "--jobs", type=int, default=None, help="pass -j N to fieldfeed (default: its own)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--big-pelican-runs",
        type=int,
        default=1,
        help="Pelican runs for more than 2,000 posts (default 1: about a minute each); 0 skips",
    )
    ap.add_argument("--no-pelican", action="store_true", help="skip Pelican entirely")
    ap.add_argument(
        "--no-pelican-min", action="store_true", help="skip Pelican's feeds-only config"
    )
    ap.add_argument(
        "--ref",
        default="HEAD",
        help="fieldfeed commit to measure (default HEAD, extracted under _work/); "
        "'working-tree' measures the files as they are now",
    )
    args = ap.parse_args()
    args.code_dir, args.code_label = snapshot(args.ref)
    if args.quick:
        args.runs = 1
        args.posts = args.posts or [1000]
    args.posts = args.posts or [1000, 10000]
    if not args.no_pelican and not PELICAN_PY.exists():
        raise SystemExit(
            f"no Pelican venv at {PELICAN_PY.parent.parent}; create it with\n"
            f"  python3 -m venv {PELICAN_PY.parent.parent}\n"
            f"  {PELICAN_PY.parent / 'pip'} install -r {HERE / 'requirements-pelican.txt'}\n"
            "or pass --no-pelican"
        )
    WORK.mkdir(exist_ok=True)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = datetime.now().astimezone()
    load_start = os.getloadavg()[0]
    all_series: list[Series] = []
    for n in args.posts:
        all_series += bench_posts(n, args, log)

    header = (
        f"Build benchmark, {started:%Y-%m-%d %H:%M %Z}: {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}, "
        f"fieldfeed at {args.code_label}, "
        f"runs={args.runs} (Pelican at >2,000 posts: {args.big_pelican_runs}), "
        f"jobs={args.jobs or 'default'}. Load average (1 min) {load_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end: other work on the machine inflates every figure, "
        "the ratios less so.\n"
    )
    report = f"{header}\n{table(all_series)}\n\n{verdicts(all_series)}\n"
    print(report)
    out = WORK / f"results-{started:%Y%m%d-%H%M%S}.md"
    out.write_text(report, encoding="utf-8")
    raw = [
        {
            "posts": s.posts,
            "name": s.name,
            "samples": [{k: v for k, v in vars(x).items() if k != "output"} for x in s.samples],
        }
        for s in all_series
    ]
    out.with_suffix(".json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
