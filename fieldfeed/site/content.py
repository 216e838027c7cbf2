"""Content loading: every post file under ``content/`` to validated, rendered Post records.

``load_content`` is the IO wrapper (walk, read, cache, process pool); the pure steps are
``parse_post`` per file (:mod:`fieldfeed.site.posts`) and ``assemble`` for the whole site
(:mod:`fieldfeed.site.assembly`: collisions, tag names, order). They are re-exported here.
Every problem in every file is collected before anything fails.

Memory: with the build cache on, every Post in ``SiteContent`` holds a reference into the
cache's body store instead of its HTML, and ``Post.html`` reads the body on access (see
``buildcache`` and docs/architecture.md, "Build cache and memory"). A lazy reference rather
than loading only the bodies some output will need: this module would otherwise have to know
the feeds' and the digest's selection rules, and a post outside that guess would fail late.
A body that cannot be read raises; nobody ever gets an empty body. Rendered posts are written
to the store in batches as the pool returns them, so a cold build does not hold every body
either. Without the cache (``use_cache=False``) bodies stay in memory.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from multiprocessing.context import BaseContext

from fieldfeed.config import Settings
from fieldfeed.errors import ContentError, Problem, display_path
from fieldfeed.site import buildcache
from fieldfeed.site.assembly import assemble
from fieldfeed.site.buildcache import BuildCache, FileStat, cache_key, file_stat
from fieldfeed.site.crossrefs import link_references
from fieldfeed.site.deadline import DeadlineExceeded, can_bound_here, deadline
from fieldfeed.site.files import find_site_files, read_content_file
from fieldfeed.site.posts import (
    ParsedFile,
    ParseOptions,
    SiteContent,
    failed_file,
    parse_post,
    source_digest,
)

log = logging.getLogger(__name__)

__all__ = [
    "ParseOptions",
    "ParsedFile",
    "SiteContent",
    "assemble",
    "cache_fingerprint",
    "check_content",
    "load_content",
    "parse_post",
]

#: Cold builds with more cache misses than this render in a process pool.
POOL_THRESHOLD = 50


def cache_fingerprint(options: ParseOptions) -> bytes:
    """What the build cache is keyed by: ``options.fingerprint()`` (the settings, the renderer
    and the code that builds Post records) plus the source of this module and of the cache,
    which shape what is cached too (they swap rendered bodies for references into the store)."""
    return options.fingerprint() + _loader_digest().encode("ascii")


@functools.cache
def _loader_digest() -> str:
    return source_digest((buildcache, sys.modules[__name__]))


def check_content(
    settings: Settings, now: datetime, *, jobs: int | None = None, use_cache: bool = True
) -> tuple[SiteContent, tuple[Problem, ...]]:
    """Load and validate every post; return the content and every error instead of raising.

    With the cache on, posts hold their HTML by reference into the cache's body store (see
    ``buildcache``), so memory does not grow with the number of bodies; ``Post.html`` reads
    the body when asked. Without it, bodies are held in memory.
    """
    found = find_site_files(settings.content_dir, settings.root, settings.content.exclude)
    root = os.path.realpath(settings.content_dir)
    assets = tuple(sorted(display_path(a, settings.root) for a in found.assets))
    options = ParseOptions.from_settings(settings, assets)
    fingerprint = cache_fingerprint(options)
    cache = BuildCache.load(settings.state_dir / "cache", fingerprint) if use_cache else None
    results: list[ParsedFile | None] = []
    # Misses keep only their path: the source bytes are read again where they are rendered,
    # so a cold build of a large archive never holds every file in memory at once.
    misses: list[tuple[int, str, str, FileStat | None]] = []
    for path in found.posts:
        source = display_path(path, settings.root)
        hit = None
        stat: FileStat | None = None
        if cache is not None:
            try:
                stat = file_stat(path.stat())
                key = cache.key_for_stat(source, stat)
                if key is None:
                    key = cache_key(fingerprint, source, read_content_file(path, root))
            except OSError:
                stat = None  # reported by the parse step, which reads it again
            else:
                hit = cache.get(key)
                cache.note_stat(source, stat, key)
        if isinstance(hit, ParsedFile):
            results.append(hit)
        else:
            misses.append((len(results), str(path), source, stat))
            results.append(None)

    parsed_misses = _parse_many(
        [(p, s) for _, p, s, _ in misses], options, root, jobs, settings.content.render_timeout
    )
    batch: list[tuple[int, str, ParsedFile]] = []
    for (index, _, source, stat), (key, result) in zip(misses, parsed_misses, strict=True):
        results[index] = result
        if cache is not None and key is not None:
            if stat is not None:
                cache.note_stat(source, stat, key)
            if result.post is not None and result.post.body_in_memory:
                batch.append((index, key, result))
                if len(batch) >= _BODY_BATCH:
                    _store_bodies(cache, batch, results)
    if cache is not None:
        _store_bodies(cache, batch, results)
        cache.save()
    parsed = [r for r in results if r is not None]
    content, errors = assemble(parsed, now, rendered=len(misses))
    # After the cache: cached bodies hold placeholders, resolved to today's permalinks here.
    content = link_references(content, parsed, options.content_prefix)
    if found.problems:  # symlinks leading out of the content folder: never read, an error
        errors = tuple(sorted((*errors, *found.problems), key=lambda p: (p.path, p.line)))
    return dataclasses.replace(content, assets=assets), errors


#: Rendered bodies held in memory before they are written to the body store.
_BODY_BATCH = 64


def _store_bodies(
    cache: BuildCache, batch: list[tuple[int, str, ParsedFile]], results: list[ParsedFile | None]
) -> None:
    """Write the batch's bodies, then swap each stored post for one holding a reference; a
    body that could not be written stays in memory (and out of the index)."""
    stored = cache.put_bodies({key: r.post.html for _, key, r in batch if r.post is not None})
    for index, key, result in batch:
        if key in stored and result.post is not None:
            light = dataclasses.replace(result, post=result.post.with_stored_body(cache.body(key)))
            results[index] = light
            cache.put(key, light)
    batch.clear()


def load_content(
    settings: Settings, now: datetime, *, jobs: int | None = None, use_cache: bool = True
) -> SiteContent:
    """Load, validate and render every post under the content folder.

    Raises ContentError listing every error in every file (sorted by path and line);
    warnings are returned in ``SiteContent.warnings`` and never raise.
    """
    content, errors = check_content(settings, now, jobs=jobs, use_cache=use_cache)
    if errors:
        raise ContentError(errors)
    return content


def _parse_many(
    items: list[tuple[str, str]],
    options: ParseOptions,
    root: str,
    jobs: int | None,
    time_limit: int = 0,
) -> Iterator[tuple[str | None, ParsedFile]]:
    """Read and parse ``(path, source)`` items in order, in a process pool when there are
    many. A generator, so the caller can store each body as it arrives instead of holding
    every rendered post at once.

    Each post gets ``time_limit`` seconds (0: unbounded). The bound is a signal, which only
    the main thread receives: on any other thread (the scheduler's) even a few misses go to
    a pool, whose workers render on their main thread.
    """
    workers = jobs or os.cpu_count() or 1
    job = functools.partial(
        _read_and_parse,
        options=options,
        fingerprint=cache_fingerprint(options),
        root=root,
        time_limit=time_limit,
    )
    serial = len(items) <= POOL_THRESHOLD or workers < 2
    if not items or (serial and (can_bound_here() or not time_limit)):
        yield from map(job, items)
        return
    if serial:
        workers = 1
    chunk = max(1, min(32, len(items) // (workers * 4)))
    yield from _pool_map(job, items, workers, chunk)


def _pool_map(
    job: Callable[[tuple[str, str]], tuple[str | None, ParsedFile]],
    items: list[tuple[str, str]],
    workers: int,
    chunk: int,
) -> Iterator[tuple[str | None, ParsedFile]]:
    """``pool.map`` that survives a worker killed by the operating system (the OOM killer,
    SIGXCPU, a kill -9), which breaks the whole pool and would otherwise be a traceback naming
    no file.

    After a break the rest are rendered one at a time in a one-worker pool, so the next break
    points at exactly one post: the first unfinished one. It is tried once more alone (a
    passing kill is not the post's fault); if that worker dies too, the post fails naming its
    file and the rest go on. Every round finishes at least one post, so this ends.
    """
    done = 0
    while done < len(items):
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
                for result in pool.map(job, items[done:], chunksize=chunk):
                    yield result
                    done += 1
            return
        except BrokenProcessPool:
            if workers > 1:
                log.warning("a render worker died; rendering the rest one at a time to find why")
            workers, chunk = 1, 1
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=_pool_context()) as alone:
                result = alone.submit(job, items[done]).result()
        except BrokenProcessPool:
            message = (
                "its render worker was killed by the operating system (out of memory, or a "
                "CPU limit) while rendering it"
            )
            result = (None, failed_file(items[done][1], 0, message))
        yield result
        done += 1


def _read_and_parse(
    item: tuple[str, str],
    options: ParseOptions,
    fingerprint: bytes,
    root: str,
    time_limit: int = 0,
) -> tuple[str | None, ParsedFile]:
    """One miss: its cache key (from the bytes actually parsed) and its result. ``root``:
    the content folder's real path, which the file must not resolve outside of."""
    path, source = item
    try:
        raw = read_content_file(path, root)
    except OSError as exc:
        return None, failed_file(source, 0, f"cannot read: {exc.strerror or exc}")
    try:
        with deadline(time_limit):
            parsed = parse_post(source, raw, options)
    except DeadlineExceeded:
        message = (
            f"took more than {time_limit} s to render, and was stopped "
            "([content] render_timeout); look for a very long paragraph or table"
        )
        return None, failed_file(source, 0, message)
    except Exception as exc:  # a bug: still name the file, even from a pool worker
        message = f"cannot be processed ({type(exc).__name__}: {exc}); please report this bug"
        return None, failed_file(source, 0, message)
    return cache_key(fingerprint, source, raw), parsed


def _pool_context() -> BaseContext:
    """fork is cheapest (workers inherit imports), but forking a process that runs other
    threads (the scheduler, the web server) can deadlock the child on a lock held at fork
    time; then a fork server with our modules preloaded is used instead."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["fieldfeed.site.content"])
        return context
    return multiprocessing.get_context("spawn")
