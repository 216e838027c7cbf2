"""Jekyll and Hugo template syntax left in posts (issue 9): resolved where it has a plain
meaning, otherwise kept as visible text with a ``check`` warning, and never inside a URL.

Real builds of real-shaped sites read back with feedparser: Jekyll's own news posts with their
Liquid (tests/sites/jekyll-liquid, MIT, see its LICENSE-NOTE.md) and Hugo posts with shortcodes
(tests/sites/hugo-shortcodes); ``check`` through the CLI as a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from fieldfeed import pipeline
from fieldfeed.config import load_settings
from fieldfeed.site.markdown import render_markdown

SITES = Path(__file__).parent / "sites"
NOW = "2026-11-24T12:00:00+00:00"
TEMPLATE = re.compile(r"\{%|\{\{|%\}|\}\}|%7B|fieldfeed")
URL_ATTR = re.compile(r"""\b(?:href|src|srcset|poster)\s*=\s*"([^"]*)\"""")


def cli(site: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", command, "--site", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIELDFEED_NOW": NOW, "COLUMNS": "300"},
        timeout=120,
        check=False,
    )


def build(site: Path) -> None:
    pipeline.build(load_settings(site), datetime.fromisoformat(NOW))


def entries(site: Path) -> dict[str, Any]:
    """Atom entries by permalink; every feed (Atom, RSS, JSON Feed) checked for URLs first."""
    out = site / "public"
    bodies: list[str] = []
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((out / name).read_bytes())
        assert parsed.bozo == 0, parsed.bozo_exception
        bodies += [e.content[0].value if "content" in e else e.summary for e in parsed.entries]
    items = json.loads((out / "feed.json").read_text(encoding="utf-8"))["items"]
    bodies += [item["content_html"] for item in items]
    for body in bodies:
        for url in URL_ATTR.findall(body):
            assert not TEMPLATE.search(url), url
    atom = feedparser.parse((out / "atom.xml").read_bytes())
    return {e.link: e for e in atom.entries}


def html_of(entry: Any) -> str:
    return str(entry.content[0].value)


def hrefs(entry: Any) -> list[str]:
    return URL_ATTR.findall(html_of(entry))


@pytest.fixture(scope="module")
def jekyll(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("jekyll") / "site"
    shutil.copytree(SITES / "jekyll-liquid", site)
    build(site)
    return site


@pytest.fixture(scope="module")
def hugo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("hugo") / "site"
    shutil.copytree(SITES / "hugo-shortcodes", site)
    build(site)
    return site


J = "https://jekyllrb.com/posts/"


def test_jekyll_post_url_and_link_resolve_to_the_target_posts(jekyll: Path) -> None:
    feed = entries(jekyll)
    assert f"{J}jekyll-1-0-0-released/" in hrefs(feed[f"{J}jekyll-turns-2-0-0/"])
    # {% link _posts/FILE %} with the file's extension
    assert f"{J}jekyll-3-4-1-released/" in hrefs(feed[f"{J}jekyll-3-4-2-released/"])
    assert f"{J}jekyll-3-4-0-released/" in hrefs(feed[f"{J}jekyll-3-4-3-released/"])
    for entry in feed.values():  # the targets are the posts' own permalinks, as published
        for url in hrefs(entry):
            if url.startswith(J):
                assert url in feed


def test_jekyll_highlight_is_a_code_block_and_raw_markers_go(jekyll: Path) -> None:
    feed = entries(jekyll)
    yaml_post = html_of(feed[f"{J}jekyll-3-0-4-released/"])
    assert '<pre><code class="language-yaml">' in yaml_post
    ruby_post = html_of(feed[f"{J}jekyll-1-5-1-released/"])
    assert ruby_post.count('<pre><code class="language-ruby">') == 2
    for entry in feed.values():
        assert "highlight %}" not in html_of(entry)
        assert "raw %}" not in html_of(entry)
    # {% raw %} content stays literal, inside the code block it was in
    assets = html_of(feed[f"{J}jekyll-3-3-is-here/"])
    assert "{{ &quot;/docs/assets/&quot; | relative_url }} =&gt; /docs/assets" in assets
    assert "{{ &quot;example :page&quot; | uri_escape }}" in html_of(
        feed[f"{J}jekyll-3-4-3-released/"]
    )


def test_jekyll_relative_url_resolves_and_unknown_liquid_leaves_no_link(jekyll: Path) -> None:
    feed = entries(jekyll)
    assert "https://jekyllrb.com/docs/themes/#assets" in hrefs(feed[f"{J}jekyll-3-3-is-here/"])
    released = html_of(feed[f"{J}jekyll-3-4-0-released/"])
    # [search the issues]({{ site.repository }}/issues): the text stays, the link goes
    assert "search the issues" in released
    assert not re.search(r"<a [^>]*>search the issues", released)


def test_jekyll_check_warns_with_path_and_line(jekyll: Path) -> None:
    result = cli(jekyll, "check")
    assert result.returncode == 0, result.stderr
    post = "content/2017-01-18-jekyll-3-4-0-released.markdown"
    for line in (33, 34):
        assert f"{post}:{line}: warning: `{{{{ site.repository }}}}` in a link" in result.stderr
    assert "jekyll-3-3-is-here" not in result.stderr  # raw blocks and relative_url: no warning


H = "https://notes.example.net/posts/"


def test_hugo_ref_relref_highlight_and_figure(hugo: Path) -> None:
    feed = entries(hugo)
    timeouts = html_of(feed[f"{H}go-timeouts/"])
    assert f'<a href="{H}retries/">follow-up on retries</a>' in timeouts
    assert f'<a href="{H}trail-notes/">trail notes</a>' in timeouts  # relref, a bundle
    assert '<pre><code class="language-go">client := &amp;http.Client{' in timeouts
    retries = html_of(feed[f"{H}retries/"])
    assert f'<a href="{H}go-timeouts/#the-client">' in retries  # {{% ref %}}, with a fragment
    assert '<pre><code class="language-python">delay' in retries
    # Hugo's comment escape shows the shortcode itself
    assert "<code>{{&lt; ref &quot;x&quot; &gt;}}</code>" in retries
    trail = html_of(feed[f"{H}trail-notes/"])
    assert (
        f'<figure><img alt="The ridge above Schierke" src="{H}trail-notes/ridge.svg" />'
        "<figcaption>Morning on the &lt;Brocken&gt; ridge</figcaption></figure>"
    ) in trail


def test_hugo_unknown_shortcodes_are_visible_text_and_warned(hugo: Path) -> None:
    feed = entries(hugo)
    assert "<p>{{&lt; youtube w7Ft2ymGmfc &gt;}}</p>" in html_of(feed[f"{H}go-timeouts/"])
    retries = html_of(feed[f"{H}retries/"])
    assert "site's about page" in retries and "about.md" not in retries
    assert "<img" not in html_of(feed[f"{H}trail-notes/"]).split("</figure>")[1]
    result = cli(hugo, "check")
    assert result.returncode == 0, result.stderr
    expected = [
        "content/posts/go-timeouts.md:19: warning: `{{< youtube w7Ft2ymGmfc >}}` is not "
        "supported: left as text",
        "content/posts/retries.md:8: warning: `{{< ref \"about.md\" >}}`: no post 'about.md'",
        "content/posts/retries.md:16: warning: `{{< notice warning >}}`",
        'content/posts/trail-notes/index.md:9: warning: `{{< param "mapImage" >}}` in a link '
        "or image URL",
    ]
    for text in expected:
        assert text in result.stderr


CONFIG = '[site]\ntitle = "T"\nurl = "https://blog.example.org/"\ntimezone = "UTC"\n'


def write(site: Path, name: str, text: str) -> None:
    path = site / "content" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_reference_follows_the_target_when_only_the_target_changes(tmp_path: Path) -> None:
    """The referring post is a cache hit on the second build, yet links to the new URL: the
    cache holds a placeholder, resolved after loading."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    write(site, "2026-01-02-a.md", "---\ntitle: A\n---\nSee [B]({% post_url 2026-01-01-b %}).\n")
    write(site, "2026-01-01-b.md", "---\ntitle: B\n---\nB.\n")
    build(site)
    assert 'href="https://blog.example.org/posts/b/"' in html_of(
        entries(site)["https://blog.example.org/posts/a/"]
    )
    write(site, "2026-01-01-b.md", "---\ntitle: B\nslug: bee\n---\nB.\n")
    settings = load_settings(site)
    report = pipeline.build(settings, datetime.fromisoformat(NOW))
    assert report.content.rendered == 1  # only B; A came from the cache
    a = html_of(entries(site)["https://blog.example.org/posts/a/"])
    assert '<a href="https://blog.example.org/posts/bee/">B</a>' in a


def test_reference_to_a_draft_or_missing_post_is_a_warning_without_link(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    body = "See [the draft]({% post_url 2026-01-01-d %}) and\n[gone]({% post_url nope %}).\n"
    write(site, "2026-01-02-a.md", "---\ntitle: A\n---\n" + body)
    write(site, "2026-01-01-d.md", "---\ntitle: D\ndraft: true\n---\nD.\n")
    build(site)
    a = html_of(entries(site)["https://blog.example.org/posts/a/"])
    assert "<a" not in a and "the draft" in a and "gone" in a
    result = cli(site, "check")
    assert "content/2026-01-02-a.md:4: warning: `{% post_url 2026-01-01-d %}`" in result.stderr
    assert "content/2026-01-02-a.md:5: warning: `{% post_url nope %}`: no post" in result.stderr


def render(body: str, site: str = "https://example.org/blog/") -> tuple[str, list[str]]:
    rendered = render_markdown(body, site + "posts/x/", site_url=site)
    return rendered.html, [f"{n.line}: {n.message}" for n in rendered.notes]


def test_site_url_and_baseurl_under_a_path() -> None:
    html, notes = render(
        "[a]({{ site.baseurl }}/about/) [b]({{ site.url }}{{ site.baseurl }}/c/)\n"
        '[d]({{ "/docs/" | absolute_url }}) [e]({{site.baseurl}}/e/)'
    )
    assert notes == []
    for url in ("about/", "c/", "docs/", "e/"):
        assert f'href="https://example.org/blog/{url}"' in html


def test_raw_html_and_images_never_carry_template_syntax() -> None:
    html, notes = render(
        '<a href="{{ page.url }}">here</a> ![alt text]({{ site.logo }})\n\n'
        "{{<youtube abc>}} {% include note.html %}"
    )
    assert "here" in html and "alt text" in html
    assert "<a" not in html and "<img" not in html and "<youtube" not in html
    assert "{{&lt;youtube abc&gt;}}" in html and "{% include note.html %}" in html
    assert [n.split(": ", 1)[0] for n in notes] == ["0", "0", "2", "2"]


def test_raw_keeps_syntax_literal_and_highlight_survives_backtick_fences() -> None:
    html, notes = render(
        "{% raw %}\n```liquid\n{% if a %}{{ b }}{% endif %}\n```\n{% endraw %}\n\n"
        "{% highlight markdown linenos %}\n```python\nx = 1\n```\n{% endhighlight %}\n"
    )
    assert notes == []
    assert '<pre><code class="language-liquid">{% if a %}{{ b }}{% endif %}' in html
    assert '<pre><code class="language-markdown">```python\nx = 1\n```\n</code></pre>' in html


def test_image_key_with_template_syntax_is_left_out(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    write(site, "2026-01-02-a.md", '---\ntitle: A\nimage: "{{ page.cover }}"\n---\nA.\n')
    build(site)
    entries(site)
    items = json.loads((site / "public" / "feed.json").read_text(encoding="utf-8"))["items"]
    assert "image" not in items[0] and "page.cover" not in json.dumps(items)
    result = cli(site, "check")
    assert "content/2026-01-02-a.md:3: warning: image: template syntax" in result.stderr
