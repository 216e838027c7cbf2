"""``subscribers import`` of real-shaped Mailchimp, Substack, Buttondown and Ghost exports.

The files are written here in each service's shape (columns and status values as their
documentation and public migration tools describe them; see ``fieldfeed/cli/listformats.py``),
imported with the CLI as a subprocess on a temp site, and checked the way a user checks:
``subscribers list`` (who is stored with which status) and ``publish --dry-run`` (who the
next digest would mail). The addresses and names are made up.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
from test_sending import make_site
from test_site_secret import run_cli

from fieldfeed.cli.listformats import detect_format, parse_list

MAILCHIMP_COLUMNS = [
    "Email Address", "First Name", "Last Name", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP",
    "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE",
    "CC", "REGION", "LAST_CHANGED", "LEID", "EUID", "NOTES", "TAGS",
]  # fmt: skip
MAILCHIMP_UNSUB = [
    "UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON",
    "UNSUB_REASON_OTHER",
]  # fmt: skip
MAILCHIMP_CLEAN = ["CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID"]


def mailchimp_row(email: str, first: str, last: str, tags: str = "", extra: int = 0) -> list[str]:
    return [
        email, first, last, "2", "2021-03-04 10:11:12", "", "2021-03-04 10:12:00",
        "203.0.113.5", "", "", "", "", "", "", "", "2023-01-02 03:04:05", "123456789",
        "a1b2c3d4e5", "", tags, *(["2024-05-06 07:08:09"] + [""] * (extra - 1) if extra else []),
    ]  # fmt: skip


def write_csv(path: Path, rows: list[list[str]], *, mailchimp: bool = False) -> Path:
    """CSV as the service writes it: Mailchimp quotes every cell, adds a BOM and CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        lineterminator="\r\n" if mailchimp else "\n",
        quoting=csv.QUOTE_ALL if mailchimp else csv.QUOTE_MINIMAL,
    )
    writer.writerows(rows)
    path.write_text(("\ufeff" if mailchimp else "") + buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    make_site(root, port=None)
    return root


def ff(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(site, *args)


def stored(site: Path) -> dict[str, tuple[str, str, str]]:
    """``subscribers list`` as {email: (name, tags, status)}."""
    proc = ff(site, "subscribers", "list")
    assert proc.returncode == 0, proc.stderr
    result = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        result[parts[0]] = (" ".join(parts[1:-2]), parts[-2], parts[-1])
    return result


def mailed(site: Path) -> set[str]:
    """Who ``publish --dry-run`` says the next digest goes to (at most 5 are named)."""
    proc = ff(site, "publish", "--dry-run", "--digest")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "would send to:" in line]
    if not lines:
        assert "no active subscribers" in proc.stdout or "would send" not in proc.stdout
        return set()
    names = {a.strip() for a in lines[0].split("would send to:")[1].split(",")}
    assert "..." not in names, "the test lists at most 5 recipients"
    return names


def add(site: Path, email: str, *args: str) -> None:
    assert ff(site, "subscribers", "add", email, *args).returncode == 0


def test_mailchimp_three_files_bom_crlf_statuses_names_tags(site: Path, tmp_path: Path) -> None:
    add(site, "carl@example.org", "--name", "Carl")  # active here, unsubscribed there
    add(site, "eve@example.org")
    ff(site, "subscribers", "remove", "eve@example.org")  # left here, subscribed there
    add(site, "fay@example.org", "--name", "Fay Here")  # Mailchimp has no name for her
    subscribed = write_csv(
        tmp_path / "subscribed_members_export_0a1b2c.csv",
        [
            MAILCHIMP_COLUMNS,
            mailchimp_row("ann@example.org", "Ann", "Archer", '"Go","Databases"'),
            mailchimp_row("eve@example.org", "Eve", "", ""),
            mailchimp_row("fay@example.org", "", "", ""),
            mailchimp_row("gil@example.org", "Gil", "", '"Friends, family"'),
        ],
        mailchimp=True,
    )
    unsubscribed = write_csv(
        tmp_path / "unsubscribed_members_export_0a1b2c.csv",
        [
            MAILCHIMP_COLUMNS + MAILCHIMP_UNSUB,
            mailchimp_row("carl@example.org", "Carl", "C", "", extra=5),
            mailchimp_row("hal@example.org", "Hal", "", "", extra=5),
        ],
        mailchimp=True,
    )
    cleaned = write_csv(
        tmp_path / "cleaned_members_export_0a1b2c.csv",
        [MAILCHIMP_COLUMNS + MAILCHIMP_CLEAN, mailchimp_row("ivy@example.org", "", "", "", 3)],
        mailchimp=True,
    )
    assert (
        subscribed.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in subscribed.read_bytes()
    )

    # A dry run says what would happen, names the addresses with -v, and writes nothing.
    proc = ff(site, "subscribers", "import", str(unsubscribed), "--dry-run", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "(mailchimp): dry run, nothing written: would add 0, would update 0, " in proc.stdout
    assert "would suppress 2" in proc.stdout
    assert "suppress carl@example.org (unsubscribed, was active)" in proc.stdout
    assert "suppress hal@example.org (unsubscribed)" in proc.stdout
    assert stored(site)["carl@example.org"][2] == "active"

    for file in (subscribed, unsubscribed, cleaned):
        proc = ff(site, "subscribers", "import", str(file))
        assert proc.returncode == 0, proc.stderr
        assert "bad row" not in proc.stderr + proc.stdout  # the BOM'd header is a header
    rows = stored(site)
    assert rows["ann@example.org"] == ("Ann Archer", "go,databases", "active")
    assert rows["gil@example.org"] == ("Gil", "friends-family", "active")
    assert rows["fay@example.org"] == ("Fay Here", "-", "active")  # no name never erases one
    assert rows["eve@example.org"][2] == "unsubscribed"  # an import never revives
    assert rows["carl@example.org"][2] == "unsubscribed"  # a suppressing status wins
    assert rows["hal@example.org"][2] == "unsubscribed"
    assert rows["ivy@example.org"][2] == "bounced"  # cleaned
    # Gil's filter (friends-family) matches no post: he is active but gets no issue.
    assert mailed(site) == {"ann@example.org", "fay@example.org"}


def test_mailchimp_import_order_does_not_matter(site: Path, tmp_path: Path) -> None:
    unsub = write_csv(
        tmp_path / "unsub.csv",
        [MAILCHIMP_COLUMNS + MAILCHIMP_UNSUB, mailchimp_row("ann@example.org", "A", "", "", 5)],
        mailchimp=True,
    )
    sub = write_csv(
        tmp_path / "sub.csv",
        [MAILCHIMP_COLUMNS, mailchimp_row("ann@example.org", "A", "", "")],
        mailchimp=True,
    )
    for file in (unsub, sub):
        assert ff(site, "subscribers", "import", str(file)).returncode == 0
    assert stored(site)["ann@example.org"][2] == "unsubscribed"
    assert mailed(site) == set()


def test_skip_invalid_never_makes_people_who_left_active(site: Path, tmp_path: Path) -> None:
    """Issue 9: the hinted --skip-invalid used to import a Mailchimp unsubscribed file's
    header as a bad row and every unsubscriber as active."""
    file = write_csv(
        tmp_path / "unsubscribed.csv",
        [
            MAILCHIMP_COLUMNS + MAILCHIMP_UNSUB,
            mailchimp_row("ann@example.org", "Ann", "", "", 5),
            mailchimp_row("not-an-address", "Bad", "", "", 5),
            mailchimp_row("bob@example.org", "Bob", "", "", 5),
        ],
        mailchimp=True,
    )
    proc = ff(site, "subscribers", "import", str(file))
    assert proc.returncode == 1
    bad = [line for line in proc.stderr.splitlines() if line.startswith(f"{file}:")]
    assert len(bad) == 1 and bad[0].startswith(f"{file}:3: invalid email address")
    assert "nothing imported" in proc.stderr and "every other row keeps its status" in proc.stderr
    proc = ff(site, "subscribers", "import", str(file), "--skip-invalid")
    assert proc.returncode == 0, proc.stderr
    assert "1 bad row skipped" in proc.stdout
    rows = stored(site)
    assert rows["ann@example.org"][2] == rows["bob@example.org"][2] == "unsubscribed"
    assert mailed(site) == set()


SUBSTACK = [
    ["email", "active_subscription", "expiry", "plan", "email_disabled", "created_at",
     "first_payment_at"],
    ["free@example.org", "false", "", "", "false", "2022-01-02T03:04:05.000Z", ""],
    ["paid@example.org", "true", "2027-01-01T00:00:00.000Z", "yearly", "false",
     "2022-01-02T03:04:05.000Z", "2022-01-02T03:04:05.000Z"],
    ["lapsed@example.org", "false", "2023-01-01T00:00:00.000Z", "monthly", "false",
     "2021-01-02T03:04:05.000Z", "2021-01-02T03:04:05.000Z"],
    ["off@example.org", "false", "", "", "true", "2022-05-06T07:08:09.000Z", ""],
    ["wasactive@example.org", "false", "", "", "true", "2022-05-06T07:08:09.000Z", ""],
]  # fmt: skip


def test_substack_email_disabled_is_suppressed(site: Path, tmp_path: Path) -> None:
    add(site, "wasactive@example.org", "--name", "Kept Name")
    file = write_csv(tmp_path / "email_list.csv", SUBSTACK)
    proc = ff(site, "subscribers", "import", str(file))
    assert proc.returncode == 0, proc.stderr
    assert "(substack): 3 added, 0 updated, 2 suppressed" in proc.stdout
    rows = stored(site)
    # active_subscription is about paid access: free and lapsed readers still get mail.
    assert {e: r[2] for e, r in rows.items()} == {
        "wasactive@example.org": "unsubscribed",
        "free@example.org": "active",
        "paid@example.org": "active",
        "lapsed@example.org": "active",
        "off@example.org": "unsubscribed",
    }
    assert rows["wasactive@example.org"][0] == "Kept Name"
    assert mailed(site) == {"free@example.org", "paid@example.org", "lapsed@example.org"}


def test_recognised_header_missing_a_column_is_not_a_bad_row(site: Path, tmp_path: Path) -> None:
    header = [c for c in SUBSTACK[0] if c != "email_disabled"]
    rows = [header, ["a@example.org", "false", "", "", "", ""]]
    file = write_csv(tmp_path / "email_list.csv", rows)
    proc = ff(site, "subscribers", "import", str(file))
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        f"{file}:1: substack export without a email_disabled column; export again with every "
        "column (nothing imported)"
    )
    assert "bad row" not in proc.stderr and "--skip-invalid" not in proc.stderr
    proc = ff(site, "subscribers", "import", str(file), "--skip-invalid")
    assert proc.returncode == 1  # no option turns a file that cannot say who left into a list


BUTTONDOWN_TYPES = {
    "regular": "active", "premium": "active", "trialed": "active", "gifted": "active",
    "churning": "active", "paused": "active", "unpaid": "active", "unactivated": "pending",
    "unsubscribed": "unsubscribed", "undeliverable": "bounced", "complained": "complained",
}  # fmt: skip


def test_buttondown_every_type(site: Path, tmp_path: Path) -> None:
    rows = [["email", "creation_date", "notes", "metadata", "tags", "type"]]
    for kind in [*BUTTONDOWN_TYPES, "blocked", "spammy"]:
        rows.append([f"{kind}@example.org", "2023-04-05T06:07:08Z", "", "{}", "go", kind])
    file = write_csv(tmp_path / "buttondown-subscribers.csv", rows)
    # A dry run on a site without a list yet plans against nothing and creates no database.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "fieldfeed.toml").write_bytes((site / "fieldfeed.toml").read_bytes())
    proc = ff(fresh, "subscribers", "import", str(file), "--dry-run")
    assert "would add 8, would update 0, would suppress 3" in proc.stdout, proc.stderr
    assert not (fresh / ".fieldfeed").exists()
    proc = ff(site, "subscribers", "import", str(file), "-v")
    assert proc.returncode == 0, proc.stderr
    assert "(buttondown): 8 added, 0 updated, 3 suppressed" in proc.stdout
    assert "2 never-subscribed rows left out" in proc.stdout
    assert f"skipped {file}:13: Buttondown type blocked" in proc.stdout
    listed = stored(site)
    assert {e.split("@")[0]: r[2] for e, r in listed.items()} == BUTTONDOWN_TYPES
    assert all(r[1] == "go" for r in listed.values())
    assert len([s for s in BUTTONDOWN_TYPES.values() if s == "active"]) == 7
    proc = ff(site, "publish", "--dry-run", "--digest")
    assert "to 7 subscriber(s)" in proc.stdout  # not pending, unsubscribed, bounced, complained

    # An unknown type is a bad row, never a guess.
    file.write_text("email,tags,type\nx@example.org,,vip\n", encoding="utf-8")
    proc = ff(site, "subscribers", "import", str(file))
    assert proc.returncode == 1 and f"{file}:2: unknown Buttondown subscriber type 'vip'" in (
        proc.stderr
    )


GHOST = [
    ["id", "email", "name", "note", "subscribed_to_emails", "complimentary_plan",
     "stripe_customer_id", "created_at", "deleted_at", "labels", "tiers"],
    ["6231", "mia@example.org", "Mia Moss", "", "true", "false", "", "2022-03-16T08:03:11.000Z",
     "", "Go, Databases", "Free"],
    ["6232", "ned@example.org", "Ned", "met at a talk", "false", "false", "",
     "2022-03-16T08:03:11.000Z", "", "", "Free"],
    ["6233", "ola@example.org", "", "", "true", "true", "cus_GdsYH4fZbHx9hF",
     "2022-03-16T08:03:11.000Z", "", "VIP", "Gold"],
    ["6234", "pia@example.org", "Pia", "", "true", "false", "", "2022-03-16T08:03:11.000Z",
     "", "", "Free"],
    ["6235", "quin@example.org", "", "", "true", "false", "", "2022-03-16T08:03:11.000Z",
     "", "Go", "Free"],
]  # fmt: skip


def test_ghost_subscribed_to_emails_labels_and_existing_rows(site: Path, tmp_path: Path) -> None:
    add(site, "ola@example.org", "--name", "Ola Here", "--tags", "databases")
    add(site, "pia@example.org")
    add(site, "quin@example.org")  # no filter: every post
    ff(site, "subscribers", "remove", "pia@example.org")
    file = write_csv(tmp_path / "members.2026-11-28.csv", GHOST)
    proc = ff(site, "subscribers", "import", str(file), "--dry-run")
    assert "would add 1, would update 1, would suppress 1, would leave unchanged 1, would keep " \
        "suppressed 1" in proc.stdout  # fmt: skip
    assert ff(site, "subscribers", "import", str(file)).returncode == 0
    rows = stored(site)
    assert rows["mia@example.org"] == ("Mia Moss", "go,databases", "active")
    assert rows["ned@example.org"] == ("Ned", "-", "unsubscribed")
    # Labels merge into a filter; an empty Ghost name keeps ours.
    assert rows["ola@example.org"] == ("Ola Here", "databases,vip", "active")
    assert rows["pia@example.org"][2] == "unsubscribed"
    assert rows["quin@example.org"] == ("-", "-", "active")  # still every post
    assert mailed(site) == {"mia@example.org", "ola@example.org", "quin@example.org"}


def test_pending_stays_pending_and_complained_round_trips(site: Path, tmp_path: Path) -> None:
    own = tmp_path / "ours.csv"
    own.write_text(
        "email,name,tags,status\n"
        "r@example.org,Rex,,complained\n"
        "s@example.org,Sal,,pending\n"
        "tom@example.org,,go,active\n",
        encoding="utf-8",
    )
    assert ff(site, "subscribers", "import", str(own)).returncode == 0
    # A Mailchimp "subscribed" row does not confirm a pending address, nor revive a complaint.
    lines = [MAILCHIMP_COLUMNS] + [mailchimp_row(f"{n}@example.org", "", "", "") for n in "rs"]
    file = write_csv(tmp_path / "subscribed.csv", lines, mailchimp=True)
    proc = ff(site, "subscribers", "import", str(file))
    assert "0 updated, 0 suppressed, 1 unchanged, 1 kept suppressed" in proc.stdout
    rows = stored(site)
    assert rows["r@example.org"][2] == "complained" and rows["s@example.org"][2] == "pending"
    assert ff(site, "subscribers", "list", "--status", "complained").stdout.split()[0] == (
        "r@example.org"
    )
    assert mailed(site) == {"tom@example.org"}
    export = tmp_path / "export.csv"
    assert ff(site, "subscribers", "export", str(export)).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    make_site(other, port=None)
    assert ff(other, "subscribers", "import", str(export)).returncode == 0
    again = tmp_path / "again.csv"
    assert ff(other, "subscribers", "export", str(again)).returncode == 0
    assert again.read_text(encoding="utf-8") == export.read_text(encoding="utf-8")


def test_unknown_header_and_wrong_format(site: Path, tmp_path: Path) -> None:
    file = tmp_path / "x.csv"
    file.write_text("Mail,Who\na@example.org,A\n", encoding="utf-8")
    proc = ff(site, "subscribers", "import", str(file))
    assert proc.returncode == 1 and f"{file}:1: not a list export fieldfeed knows" in proc.stderr
    ghost = write_csv(tmp_path / "ghost.csv", GHOST)
    proc = ff(site, "subscribers", "import", str(ghost), "--format", "mailchimp")
    assert proc.returncode == 1
    assert "does not look like a mailchimp export (it looks like ghost)" in proc.stderr
    assert ff(site, "subscribers", "import", str(ghost), "--format", "nope").returncode == 2
    proc = ff(site, "subscribers", "import", str(ghost), "--no-tags")
    assert proc.returncode == 0 and stored(site)["mia@example.org"][1] == "-"


def test_parse_list_headers_lines_and_headerless_own_format() -> None:
    """Pure reader checks: a BOM'd header is a header, lines are physical lines."""
    listing = parse_list(
        '\ufeffemail,name,tags\r\na@example.org,"Multi\nline",go\r\nb@example.org,,\r\n', "f.csv"
    )
    assert listing.format == "fieldfeed" and not listing.errors
    assert [(r.line, r.email, r.name, r.tags) for r in listing.rows] == [
        (2, "a@example.org", "Multi\nline", ("go",)),
        (4, "b@example.org", None, ()),
    ]
    headerless = parse_list("a@example.org,Ann,go\n", "f.csv")
    assert headerless.rows[0].name == "Ann" and headerless.rows[0].status == "active"
    only_header = parse_list('"Email Address","First Name","Last Name","TAGS"\r\n', "f.csv")
    assert only_header.format == "mailchimp" and not only_header.rows and not only_header.errors
    assert detect_format(["email", "subscriber_type", "tags"]) == "buttondown"
    assert detect_format(["email", "first"]) is None
