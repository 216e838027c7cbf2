"""What a digest run did: the report record and its end-of-run summary lines.

Pure data: the run builds one and the CLI, the scheduler and the pipeline print it. Failures of
single recipients are values here, not exceptions, so one bad address does not stop a batch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DigestReport:
    """What a digest run did (or, dry, would do). Per-recipient failures are values here."""

    #: The issue sent, resumed or planned; None when there was nothing to send.
    issue: int | None
    #: One line for people: "no new posts since issue #3", "not due until Mon ...", ...
    reason: str
    sent: int = 0
    #: (address, server reply) of each recipient that could not be delivered.
    failed: tuple[tuple[str, str], ...] = ()
    retried: int = 0
    #: Subscribers whose tag filter matched no post of the issue (no mail, by design).
    skipped: int = 0
    #: Recipients whose message was in flight when an earlier run died and who were sent it
    #: again (same Message-ID): they may have two copies.
    in_flight_duplicates: tuple[str, ...] = ()
    #: Addresses that became ``bounced`` (second hard bounce in a row) in this run.
    bounced: tuple[str, ...] = ()
    resumed: bool = False
    #: Messages left for a rerun (the relay went away); the issue stays open.
    left: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    #: Dry run: how many would get a message, and the first few addresses.
    would_send: int = 0
    sample: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Per-post mode: the issues (one per post) this run sent before this one, oldest first.
    earlier: tuple[DigestReport, ...] = ()
    #: "N older posts held back: ...; how to include them" (empty: none held back).
    held: str = ""
    #: "next issue due <when>" for ``publish`` (empty when the run does not say).
    next_due: str = ""

    @property
    def exit_code(self) -> int:
        """3 when some recipients could not be delivered (PRODUCT.md), else 0."""
        return 3 if self.failed or any(r.failed for r in self.earlier) else 0

    @property
    def issues(self) -> tuple[int, ...]:
        """Every issue this run sent or resumed, oldest first."""
        return tuple(r.issue for r in (*self.earlier, self) if r.issue is not None)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def summary_lines(self) -> list[str]:
        """The end-of-run summary, one fact per line (earlier per-post issues first), then
        what is held back and what is next."""
        before = [line for r in self.earlier for line in r.outcome_lines()]
        tail = [f"  {line}" for line in (self.held, self.next_due) if line]
        return before + self.outcome_lines() + tail

    def outcome_lines(self) -> list[str]:
        """What this one issue did (warnings first)."""
        lines = list(self.warnings)
        if self.issue is None or (self.dry_run and not self.would_send):
            return [*lines, f"digest: {self.reason}"]
        if self.dry_run:
            shown = ", ".join(self.sample) + (", ..." if self.would_send > len(self.sample) else "")
            return [*lines, f"digest: {self.reason}", f"  would send to: {shown}"]
        lines.append(
            f"digest #{self.issue}{' (resumed)' if self.resumed else ''}: {self.sent} sent, "
            f"{len(self.failed)} failed, {self.retried} retried, {self.skipped} skipped; "
            f"{self.seconds:.1f}s, {self.rate:.0f} msgs/s"
        )
        if self.in_flight_duplicates:
            lines.append(
                f"  resent {len(self.in_flight_duplicates)} message(s) that were in flight when "
                "the last run stopped (the recipient may have two copies, same Message-ID): "
                + ", ".join(self.in_flight_duplicates)
            )
        lines.extend(f"  failed: {address}: {reply}" for address, reply in self.failed)
        if self.bounced:
            lines.append("  now bounced (two hard bounces in a row): " + ", ".join(self.bounced))
        if self.left:
            lines.append(
                f"  {self.left} message(s) not sent yet: {self.reason}; "
                "run `fieldfeed digest send` to finish the issue"
            )
        return lines
