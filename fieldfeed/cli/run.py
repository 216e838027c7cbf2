"""``fieldfeed run``: the scheduler, in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path

from fieldfeed.cli.common import (
    Console,
    QuietOption,
    SiteOption,
    VerboseOption,
    now_utc,
    settings_for,
)


def run(
    site: SiteOption = Path("."), verbose: VerboseOption = 0, quiet: QuietOption = False
) -> None:
    """Run the scheduler in the foreground: feeds on an interval, the digest on its schedule.

    Feeds are rebuilt every `interval` minutes of the feeds section; the digest goes out on
    the digest `schedule` (cron, in the site's timezone). A digest missed while the machine
    was off is sent at start when within `grace` hours (default 6); an older one is skipped.
    One run per site. SIGTERM or Ctrl-C: the message in flight is finished and recorded,
    then it exits; the next start finishes the issue.
    """
    from fieldfeed.runner import Runner

    console = Console(verbose, quiet)
    if not quiet:
        # What ran, what it sent and when the next run is: always worth a line.
        logging.getLogger("fieldfeed.runner").setLevel(logging.INFO)
        logging.getLogger("fieldfeed.digest").setLevel(logging.INFO)
    settings = settings_for(site)
    Runner(settings, clock=now_utc).run_forever()
    console.detail("bye")
