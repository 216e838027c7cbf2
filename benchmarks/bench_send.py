#!/usr/bin/env python3
"""Sending benchmark: one issue of 20 posts to 10,000 subscribers over loopback SMTP.

    .venv/bin/python benchmarks/bench_send.py            # 10,000 subscribers, 3 runs
    .venv/bin/python benchmarks/bench_send.py --quick    # 2,000 subscribers, 1 run
    .venv/bin/python benchmarks/bench_send.py --dkim     # only the DKIM figures

Reports, as medians:
- render once: jinja2 + premailer for the issue, and building the MessageTemplate;
- per recipient: ``MessageTemplate.build`` alone, and with the unsubscribe token signed;
- messages per second through the real sender (ledger in SQLite, one commit per message,
  ``send_digest``) to two loopback sinks in their own processes: a minimal asyncio SMTP
  responder written here, and aiosmtpd; plus bare ``SMTPTransport`` without the ledger;
- DKIM (``--dkim`` runs only this): the per-message signing time, dkimpy's own ``dkim.sign``
  against fieldfeed's signer, and send_digest's signed and unsigned rates in the same run;
- memory: peak RSS and tracemalloc peak of a child process that streams the ledger
  (the sender's own paging) and builds every message, for 10,000 and 100,000 subscribers.

Each sink runs in a subprocess so the server does not share the sender's GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
ENV = {"FIELDFEED_SECRET": "bench-secret-" + "x" * 40, "FIELDFEED_RETRY_BASE": "0.01"}
_WORD_TEXT = (
    "latency throughput replica quorum vacuum index partition cache queue backoff retry "
    "ledger idempotent snapshot checkpoint compaction tombstone consensus lease fence"
)
WORDS = _WORD_TEXT.split()


# --- sinks (run as subprocesses) --------------------------------------------------------


class _Sink(asyncio.Protocol):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = bytearray()
        self.in_data = False
        self.tr.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        start = max(0, len(self.buf) - 4)
        self.buf += data
        while True:
            if self.in_data:
                end = self.buf.find(b"\r\n.\r\n", start)
                if end < 0:
                    return
                del self.buf[: end + 5]
                self.in_data = False
                start = 0
                self.tr.write(b"250 2.0.0 ok\r\n")
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            verb = bytes(self.buf[:4]).upper()
            del self.buf[: end + 2]
            if verb == b"EHLO":
                self.tr.write(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 100000000\r\n")
            elif verb == b"DATA":
                self.in_data = True
                start = 0
                self.tr.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.tr.write(b"221 bye\r\n")
                self.tr.close()
                return
            else:
                self.tr.write(b"250 ok\r\n")


def run_sink(kind: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if kind == "minimal":

        async def main() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(_Sink, "127.0.0.1", port)
            print(port, flush=True)
            async with server:
                await server.serve_forever()

        asyncio.run(main())
    else:
        from aiosmtpd.controller import Controller

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                return "250 2.0.0 ok"

        controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        controller.start()
        print(port, flush=True)
        try:
            while True:
                time.sleep(3600)
        finally:
            controller.stop()


class Sink:
    def __init__(self, kind: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--sink", kind], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()


# --- the site ---------------------------------------------------------------------------


def make_posts(n: int = 20):  # type: ignore[no-untyped-def]
    from fieldfeed.model import Post, Tag

    posts = []
    for i in range(n):
        body = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(800))
        date = NOW - timedelta(hours=6 * (i + 1))
        slug = f"post-{i:02d}"
        posts.append(
            Post(
                source=f"content/posts/{slug}.md",
                slug=slug,
                title=f"Notes on {WORDS[i % len(WORDS)]} number {i}",
                date=date,
                updated=date,
                tags=(Tag("Databases", "databases"), Tag(f"Topic {i % 4}", f"topic-{i % 4}")),
                summary=body[:280],
                html=f"<p>{body}</p>",
                url=f"https://bench.example.org/posts/{slug}/",
                id=f"https://bench.example.org/posts/{slug}/",
                author=None,
                image=None,
                draft=False,
                word_count=800,
                read_minutes=4,
            )
        )
    return tuple(posts)


def make_site(root: Path, port: int, subscribers: int, concurrency: int):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from fieldfeed.config import load_settings
    from fieldfeed.store import open_store
    from fieldfeed.store.schema import subscribers as table

    root.mkdir(parents=True, exist_ok=True)
    (root / "fieldfeed.toml").write_text(
        f"""[site]
title = "Bench Notes"
url = "https://bench.example.org/"
timezone = "Europe/Berlin"
email = "writer@bench.example.org"
[digest]
from = "Bench Notes <news@bench.example.org>"
unsubscribe_url = "https://bench.example.org/u/"
[delivery]
transport = "smtp"
host = "127.0.0.1"
port = {port}
security = "none"
concurrency = {concurrency}
""",
        encoding="utf-8",
    )
    settings = load_settings(root)
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        for start in range(0, subscribers, 5000):
            conn.execute(
                sa.insert(table),
                [
                    {
                        "email": f"reader{i:06d}@example.org",
                        "email_key": f"reader{i:06d}@example.org",
                        "name": f"Reader {i}",
                        "tags": "",
                        "status": "active",
                        "created": NOW,
                        "consecutive_bounces": 0,
                    }
                    for i in range(start, min(subscribers, start + 5000))
                ],
            )
    engine.dispose()
    return settings


def content(posts):  # type: ignore[no-untyped-def]
    from fieldfeed.site.content import SiteContent

    return SiteContent(posts=posts, warnings=(), files=len(posts), drafts=0, future=0, rendered=0)


# --- measurements -----------------------------------------------------------------------


def bench_render(settings, posts, n: int, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from fieldfeed.mail import tokens
    from fieldfeed.mail.message import MessageTemplate, default_list_id
    from fieldfeed.mail.render import render_issue
    from fieldfeed.mail.templating import template_env
    from fieldfeed.model import Issue, Subscriber

    issue = Issue(number=1, cutoff=NOW, created=NOW, posts=posts)
    t = time.perf_counter()
    env = template_env(settings)
    rendered = render_issue(settings, env, issue, posts)
    cold = time.perf_counter() - t
    warm = []
    for _ in range(5):
        t = time.perf_counter()
        rendered = render_issue(settings, env, issue, posts)
        warm.append(time.perf_counter() - t)
    t = time.perf_counter()
    template = MessageTemplate(settings, rendered, issue, list_id=default_list_id(settings))
    template_s = time.perf_counter() - t
    people = [
        Subscriber(i, f"reader{i:06d}@example.org", f"Reader {i}", (), "active", NOW)
        for i in range(n)
    ]
    secret = ENV["FIELDFEED_SECRET"].encode()
    url = "https://bench.example.org/u/123.abcdefghijklmnop"
    build_only, build_token = [], []
    for _ in range(runs):
        t = time.perf_counter()
        for p in people:
            template.build(p, url)
        build_only.append((time.perf_counter() - t) / n)
        t = time.perf_counter()
        for p in people:
            template.build(
                p, tokens.unsubscribe_link(settings.digest.unsubscribe_url, secret, p.id)
            )
        build_token.append((time.perf_counter() - t) / n)
    size = len(template.build(people[0], url))
    return {
        "render_cold_ms": cold * 1000,
        "render_ms": statistics.median(warm) * 1000,
        "template_ms": template_s * 1000,
        "build_us": statistics.median(build_only) * 1e6,
        "build_token_us": statistics.median(build_token) * 1e6,
        "html_kb": len(rendered.html.encode()) / 1000,
        "message_kb": size / 1000,
    }


def bench_send(
    kind: str, concurrency: int, n: int, runs: int, posts, work: Path, dkim: Path | None = None
) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from fieldfeed.mail import publish_digest

    rates, walls = [], []
    with Sink(kind) as sink:
        template_site = work / f"site-{n}"
        if not template_site.exists():
            make_site(template_site, sink.port, n, concurrency)
        for run in range(runs):
            site = work / f"run-{kind}-{concurrency}-{run}"
            shutil.rmtree(site, ignore_errors=True)
            shutil.copytree(template_site, site)
            settings = make_site_config(site, sink.port, concurrency, dkim)
            t = time.perf_counter()
            report = publish_digest(settings, NOW, content(posts), force=True, environ=ENV)
            walls.append(time.perf_counter() - t)
            assert report.sent == n and not report.failed, report
            rates.append(report.rate)
            shutil.rmtree(site, ignore_errors=True)
    return {"rate": statistics.median(rates), "wall_s": statistics.median(walls)}


def make_site_config(site: Path, port: int, concurrency: int, dkim: Path | None = None):  # type: ignore[no-untyped-def]
    from fieldfeed.config import load_settings

    text = (site / "fieldfeed.toml").read_text(encoding="utf-8")
    if dkim is not None:
        text += (
            '\n[delivery.dkim]\ndomain = "bench.example.org"\nselector = "ff"\n'
            f'key_file = "{dkim}"\n'
        )
    lines = [
        f"port = {port}"
        if line.startswith("port =")
        else f"concurrency = {concurrency}"
        if line.startswith("concurrency =")
        else line
        for line in text.splitlines()
    ]
    (site / "fieldfeed.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_settings(site)


def bench_bare_transport(kind: str, n: int, posts, work: Path) -> float:  # type: ignore[no-untyped-def]
    """One SMTPTransport, prebuilt messages, no ledger: the wire + server ceiling."""
    from fieldfeed.config import DeliverySettings
    from fieldfeed.mail.message import MessageTemplate, default_list_id
    from fieldfeed.mail.render import render_issue
    from fieldfeed.mail.templating import template_env
    from fieldfeed.mail.transports import SMTPTransport
    from fieldfeed.model import Issue, Subscriber

    with Sink(kind) as sink:
        settings = make_site(work / f"bare-{kind}", sink.port, 0, 1)
        issue = Issue(number=1, cutoff=NOW, created=NOW, posts=posts)
        rendered = render_issue(settings, template_env(settings), issue, posts)
        template = MessageTemplate(settings, rendered, issue, list_id=default_list_id(settings))
        sub = Subscriber(1, "reader@example.org", "Reader", (), "active", NOW)
        message = template.build(sub, "https://bench.example.org/u/1.abc")
        transport = SMTPTransport(
            DeliverySettings(transport="smtp", host="127.0.0.1", port=sink.port, security="none"),
            None,
        )
        t = time.perf_counter()
        for _ in range(n):
            transport.send("news@bench.example.org", "reader@example.org", message)
        elapsed = time.perf_counter() - t
        transport.close()
    return n / elapsed


# --- memory child -----------------------------------------------------------------------


def memory_child(n: int, work: Path) -> None:
    """Freeze an issue for n subscribers, then stream and build every message (no network)."""
    from fieldfeed.mail import freeze_next_issue, rendered_from_dict, tokens
    from fieldfeed.mail.freezing import message_template
    from fieldfeed.mail.run import pending_jobs
    from fieldfeed.store import issues as store_issues
    from fieldfeed.store import open_store

    settings = make_site(work / f"mem-{n}", 1, n, 1)
    engine = open_store(settings.database_url)
    posts = make_posts()
    number, _ = freeze_next_issue(settings, engine, posts, NOW)
    assert number == 1
    rss_after_freeze = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with engine.connect() as conn:
        issue, variants = store_issues.load_issue(conn, number)
    templates = {
        k: message_template(settings, rendered_from_dict(v.rendered), issue)
        for k, v in variants.items()
    }
    secret = ENV["FIELDFEED_SECRET"].encode()
    in_flight: list[str] = []
    tracemalloc.start()
    t = time.perf_counter()
    built = 0
    for job in pending_jobs(engine, number, lambda: NOW, in_flight):
        url = tokens.unsubscribe_link(settings.digest.unsubscribe_url, secret, job.subscriber.id)
        templates[job.delivery.variant].build(job.subscriber, url)  # type: ignore[index]
        built += 1
    elapsed = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "n": built,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_freeze_mb": rss_after_freeze,
                "stream_peak_mb": peak / 1e6,
                "stream_us": elapsed / built * 1e6,
            }
        )
    )


def measure_memory(n: int, work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n), "--work", str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- main -------------------------------------------------------------------------------


def bench_dkim(n: int, runs: int, posts, work: Path) -> None:  # type: ignore[no-untyped-def]
    """Per-message sign time (dkimpy alone vs fieldfeed) and signed/unsigned send rates."""
    import dkim as dkimpy

    from fieldfeed.config import DkimSettings
    from fieldfeed.mail import dkim as signing
    from fieldfeed.mail.message import MessageTemplate, default_list_id
    from fieldfeed.mail.render import render_issue
    from fieldfeed.mail.templating import template_env
    from fieldfeed.model import Issue, Subscriber

    key = work / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    settings = make_site(work / "dkim-render", 1, 0, 1)
    issue = Issue(number=1, cutoff=NOW, created=NOW, posts=posts)
    rendered = render_issue(settings, template_env(settings), issue, posts)
    template = MessageTemplate(settings, rendered, issue, list_id=default_list_id(settings))
    url = "https://bench.example.org/u/123.abcdefghijklmnop"
    messages = [
        template.build(Subscriber(i, f"r{i}@example.org", f"Reader {i}", (), "active", NOW), url)
        for i in range(200)
    ]
    pem = key.read_bytes()
    headers = list(signing.SIGNED_HEADERS)
    t = time.perf_counter()
    for m in messages[:50]:
        dkimpy.sign(
            m,
            b"ff",
            b"bench.example.org",
            pem,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=headers,
            linesep=b"\r\n",
        )
    before = (time.perf_counter() - t) / 50
    signer = signing.load_key(DkimSettings("bench.example.org", "ff", str(key)))
    t = time.perf_counter()
    for m in messages:
        signer.sign(m)
    after = (time.perf_counter() - t) / len(messages)
    print(f"{'DKIM sign, dkimpy.sign (before)':<44} {before * 1000:8.3f} ms/msg")
    print(f"{'DKIM sign, fieldfeed Signer (cryptography)':<44} {after * 1000:8.3f} ms/msg")
    for kind, conc in (("minimal", 1), ("minimal", 4)):
        plain = bench_send(kind, conc, n, runs, posts, work)
        signed = bench_send(kind, conc, n, runs, posts, work, dkim=key)
        label = f"send_digest {n:,}, {conc} conn, {kind}"
        print(
            f"{label:<44} unsigned {plain['rate']:6.0f}, DKIM {signed['rate']:6.0f} msgs/s"
            f" (ratio {signed['rate'] / plain['rate']:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dkim", action="store_true", help="only the DKIM figures")
    # Internal: the script re-runs itself as the sink process and the memory child.
    parser.add_argument("--sink", choices=["minimal", "aiosmtpd"], help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink(args.sink)
        return
    if args.memory_child:
        memory_child(args.memory_child, args.work)
        return
    if args.quick:
        args.subscribers, args.runs = 2_000, 1
    n = args.subscribers
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    try:
        posts = make_posts()
        if args.dkim:
            bench_dkim(n, args.runs, posts, work)
            return
        settings = make_site(work / "render", 1, 0, 1)
        r = bench_render(settings, posts, n, args.runs)
        print(f"issue: 20 posts, HTML {r['html_kb']:.0f} KB, message {r['message_kb']:.0f} KB")
        print(
            f"{'render once (cold / warm)':<44} {r['render_cold_ms']:8.1f} / "
            f"{r['render_ms']:.1f} ms"
        )
        print(f"{'MessageTemplate (encode once)':<44} {r['template_ms']:8.1f} ms")
        print(f"{'per recipient: build':<44} {r['build_us'] / 1000:8.3f} ms")
        print(f"{'per recipient: build + sign token':<44} {r['build_token_us'] / 1000:8.3f} ms")
        for kind in ("minimal", "aiosmtpd"):
            bare = bench_bare_transport(kind, min(n, 5000), posts, work)
            print(f"{'bare SMTPTransport, 1 conn, ' + kind:<44} {bare:8.0f} msgs/s")
        for kind, conc in (("minimal", 1), ("minimal", 4), ("aiosmtpd", 1), ("aiosmtpd", 4)):
            s = bench_send(kind, conc, n, args.runs, posts, work)
            label = f"send_digest {n:,}, {conc} conn, {kind}"
            print(f"{label:<44} {s['rate']:8.0f} msgs/s (wall {s['wall_s']:.1f}s incl. freeze)")
        bench_dkim(min(n, 5000), args.runs, posts, work)
        for m in (10_000, 100_000) if not args.quick else (2_000, 20_000):
            mem = measure_memory(m, work)
            print(
                f"{'memory, stream+build ' + format(m, ','):<44} peak RSS {mem['rss_mb']:6.0f} MB"
                f" (after freeze {mem['rss_after_freeze_mb']:.0f} MB), traced peak while "
                f"streaming {mem['stream_peak_mb']:.1f} MB, {mem['stream_us'] / 1000:.3f} ms/msg"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
