"""Headless Chromium for layout checks, driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol commands from its fd 3 and write
replies and events to its fd 4, each a JSON text ended by a NUL byte. That is all a layout
check needs, so the client is the standard library (no websocket library, no Playwright
download of a second browser): one browser per test session, one tab, commands answered in
order. Network access is cut (every host name resolves to nothing) so a page's remote images
cannot make a test slow or flaky.

Why the DevTools protocol at all: headless Chromium will not lay a page out narrower than
about 500 px from ``--window-size``; ``Emulation.setDeviceMetricsOverride`` sets any width.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The Debian package's launcher first; other names as distributions ship them.
EXECUTABLES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, or None."""
    for name in EXECUTABLES:
        found = shutil.which(name)
        if found:
            return found
    return None


class ProtocolError(RuntimeError):
    """Chromium answered a command with an error, died, or did not answer in time."""


#: Collects every element whose box sticks out of the viewport, and the page's scroll width.
#: Elements inside a box that clips or scrolls its own overflow (a code block that scrolls
#: sideways) are not the page's overflow: the box itself is checked, not its contents. Hidden
#: elements (the preheader: display:none) lay out nothing.
_OVERFLOW_JS = """
(() => {
  const vw = window.innerWidth;
  const wide = [];
  const walk = (el) => {
    const cs = getComputedStyle(el);
    if (cs.display === 'none') return;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) wide.push(el);
    const clips = cs.overflowX !== 'visible' && el !== document.documentElement
      && el !== document.body;
    if (!clips) for (const child of el.children) walk(child);
  };
  walk(document.documentElement);
  // Name the innermost culprits: the cell holding a long word, not every table around it.
  const innermost = wide.filter((el) => !wide.some((o) => o !== el && el.contains(o)));
  const describe = (el) => {
    const r = el.getBoundingClientRect();
    const cls = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
    const box = `[${Math.round(r.left)}, ${Math.round(r.right)}]`;
    return `${el.tagName.toLowerCase()}${cls} ${box}: ${text}`;
  };
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw,
          wide: innermost.map(describe)};
})()
"""


@dataclass(frozen=True)
class Overflow:
    """What a page measured at one width."""

    scroll_width: int
    inner_width: int
    #: "tag.class [left, right]: text" of each element outside the viewport.
    wide: tuple[str, ...]

    @property
    def fits(self) -> bool:
        return self.scroll_width <= self.inner_width and not self.wide


class Browser:
    """One headless Chromium with one tab; ``close()`` (or ``with``) ends it."""

    def __init__(self, executable: str, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="ff-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        flags = [
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            # Containers and CI run as root, where Chromium refuses its sandbox.
            *(["--no-sandbox"] if os.geteuid() == 0 else []),
            # Every host name resolves to nothing, except the loopback test server.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "about:blank",
        ]
        # bash puts our pipe ends on the fds the protocol names (3: commands in, 4: out);
        # bash, not sh: dash refuses fd numbers above 9 in a redirection.
        script = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self._process = subprocess.Popen(
            ["bash", "-c", script, executable, *flags],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
            self._session = attached["sessionId"]
            self.page("Page.enable")
            self.page("Runtime.enable")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProtocolError, OSError):
                self.call("Browser.close")
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    # --- the protocol -----------------------------------------------------------------------

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ProtocolError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the tab."""
        return self.call(method, self._session, **params)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise ProtocolError("Chromium stopped answering")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise ProtocolError("Chromium closed the pipe")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        loaded: dict[str, Any] = json.loads(text)
        return loaded

    def _wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method and event.get("sessionId") == self._session:
                    return self._events.pop(i)
            if time.monotonic() > deadline:
                raise ProtocolError(f"no {method} within {self.timeout}s")
            message = self._read()
            if "method" in message:
                self._events.append(message)

    # --- what the tests use -----------------------------------------------------------------

    def emulate(self, width: int, *, dark: bool = False, height: int = 900) -> None:
        """Lay pages out ``width`` CSS px wide, in the light or dark colour scheme.

        ``mobile=False``: the viewport is exactly ``width`` wide whatever the page says, so
        content wider than that shows as horizontal overflow instead of being zoomed out.
        """
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        scheme = "dark" if dark else "light"
        self.page(
            "Emulation.setEmulatedMedia",
            features=[{"name": "prefers-color-scheme", "value": scheme}],
        )

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self._events.clear()
        result = self.page("Page.navigate", url=url)
        if result.get("errorText"):
            raise ProtocolError(f"{url}: {result['errorText']}")
        self._wait_event("Page.loadEventFired")

    def show_html(self, html: str, directory: Path, name: str = "page.html") -> None:
        """Open ``html`` from a file in ``directory`` (a file: URL, as a mail client shows it)."""
        path = directory / name
        path.write_text(html, encoding="utf-8")
        self.open(path.as_uri())

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise ProtocolError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def overflow(self) -> Overflow:
        """Measure the open page at the current width."""
        found = self.evaluate(_OVERFLOW_JS)
        return Overflow(found["scrollWidth"], found["innerWidth"], tuple(found["wide"]))

    def screenshot(self, path: Path) -> None:
        """The whole page (not only the viewport) as a PNG."""
        size = self.page("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.page(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
        )
        path.write_bytes(base64.b64decode(data["data"]))
