#!/usr/bin/env python3
"""Load check for `fieldfeed serve`: conditional GETs of the feeds, then subscribe POSTs.

Starts `fieldfeed serve` (uvicorn, one process) on 127.0.0.1 for a copy of the demo site,
then drives it from this process with httpx + asyncio at bounded concurrency:

1. feeds: GET rss.xml / atom.xml / feed.json / a tag feed, 90% with If-None-Match (304),
   10% unconditional with gzip (200);
2. subscribe: POST /subscribe with a fresh address each time (a pending row + a
   confirmation mail into the Maildir outbox, sent after the response).

Reports requests per second, p50/p99 latency and errors (any unexpected status or
exception) per phase, and writes benchmarks/README_serve.md.

    .venv/bin/python benchmarks/bench_serve.py [--seconds 15] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def line(self) -> str:
        n = len(self.latencies)
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else 0.0
        p99 = lat[min(n - 1, int(n * 0.99))] * 1000 if lat else 0.0
        rps = n / self.seconds if self.seconds else 0.0
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"| {self.name} | {n} | {rps:,.0f} | {p50:.1f} | {p99:.1f} | {self.errors} | {codes} |"
        )


async def drive(
    phase: Phase, seconds: float, concurrency: int, make: object, expected: set[int], base: str
) -> None:
    deadline = time.perf_counter() + seconds
    counter = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def worker() -> None:
            nonlocal counter
            while time.perf_counter() < deadline:
                counter += 1
                method, url, kwargs = make(counter)  # type: ignore[operator]
                start = time.perf_counter()
                try:
                    r = await client.request(method, url, **kwargs)
                    await r.aread()
                except Exception:
                    phase.errors += 1
                    continue
                phase.latencies.append(time.perf_counter() - start)
                phase.statuses[r.status_code] = phase.statuses.get(r.status_code, 0) + 1
                if r.status_code not in expected:
                    phase.errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - started


def make_site(root: Path) -> None:
    shutil.copytree(REPO / "content", root / "content")
    config = (REPO / "fieldfeed.toml").read_text(encoding="utf-8")
    config += "\n[serve]\nsubscribe_rate = 100000000\n"
    (root / "fieldfeed.toml").write_text(config, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(
        [sys.executable, "-m", "fieldfeed", "build", "--site", str(root), "-q"], env=env, check=True
    )


async def main(seconds: float, concurrency: int) -> list[Phase]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        root.mkdir()
        make_site(root)
        port = free_port()
        env = dict(os.environ, PYTHONPATH=str(REPO), FIELDFEED_SECRET="bench-" + "s" * 40)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fieldfeed",
                "serve",
                "--site",
                str(root),
                "--port",
                str(port),
                "-q",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.get(base + "/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            paths = ["/rss.xml", "/atom.xml", "/feed.json"]
            tag = next((root / "public" / "tags").iterdir()).name
            paths.append(f"/tags/{tag}/rss.xml")
            etags = {p: httpx.get(base + p).headers["etag"] for p in paths}

            def feed_request(i: int) -> tuple[str, str, dict[str, object]]:
                p = paths[i % len(paths)]
                if i % 10 == 0:
                    return "GET", p, {"headers": {"accept-encoding": "gzip"}}
                return "GET", p, {"headers": {"if-none-match": etags[p]}}

            def subscribe_request(i: int) -> tuple[str, str, dict[str, object]]:
                return (
                    "POST",
                    "/subscribe",
                    {
                        "data": {
                            "email": f"bench{i}-{time.monotonic_ns()}@example.org",
                            "name": "Bench Reader",
                        }
                    },
                )

            feeds = Phase("feeds (conditional GET: 90% 304, 10% 200 gzip)")
            await drive(feeds, seconds, concurrency, feed_request, {200, 304}, base)
            subscribe = Phase("subscribe POST (pending row + confirmation mail)")
            await drive(subscribe, seconds, concurrency, subscribe_request, {200}, base)
            return [feeds, subscribe]
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per phase")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-write", action="store_true", help="do not write README_serve.md")
    args = parser.parse_args()
    phases = asyncio.run(main(args.seconds, args.concurrency))
    table = [
        "| phase | requests | req/s | p50 ms | p99 ms | errors | statuses |",
        "|---|---|---|---|---|---|---|",
        *(p.line() for p in phases),
    ]
    print("\n".join(table))
    if not args.no_write:
        machine = (
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}"
        )
        out = REPO / "benchmarks" / "README_serve.md"
        out.write_text(
            "# `fieldfeed serve` under load\n\n"
            f"`python benchmarks/bench_serve.py --seconds {args.seconds:g} --concurrency "
            f"{args.concurrency}`: one uvicorn process on 127.0.0.1 serving a copy of the demo "
            "site; an httpx/asyncio client in another process keeps "
            f"{args.concurrency} requests in flight for {args.seconds:g} s per phase. "
            f"Machine: {machine}.\n\n" + "\n".join(table) + "\n\n"
            "Errors count exceptions and any status other than 200/304 (feeds) or 200 "
            "(subscribe); the subscribe rate limit is lifted for the run. Client and server "
            "share the machine's cores, so these are floors, not ceilings.\n",
            encoding="utf-8",
        )
        print(f"wrote {out}")
