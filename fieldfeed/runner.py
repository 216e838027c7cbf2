"""``fieldfeed run``: rebuild the feeds on an interval and send the digest on its schedule."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from fieldfeed.config import Settings

#: Under the state folder: when the feeds were last built (by ``run``), for /health.
LAST_BUILD_FILE = "last-build.json"


def record_build(settings: Settings, when: datetime) -> None:
    """Remember ``when`` as the last successful build (atomically; never raises for IO)."""
    path = settings.state_dir / LAST_BUILD_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".last-build-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"time": when.isoformat()}, fh)
        os.replace(tmp, path)
    except OSError:
        pass


def last_build(settings: Settings) -> datetime | None:
    """When the feeds were last built: ``run``'s record, else the output manifest's mtime."""
    from datetime import UTC

    path = settings.state_dir / LAST_BUILD_FILE
    try:
        value = datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["time"])
        if value.tzinfo is not None:
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    manifest: Path = settings.state_dir / "outputs.json"
    try:
        return datetime.fromtimestamp(manifest.stat().st_mtime, UTC)
    except OSError:
        return None
