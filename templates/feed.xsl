<?xml version="1.0" encoding="UTF-8"?>
<!--
  fieldfeed: renders an RSS 2.0 or Atom 1.0 feed as a readable page when it is opened in a
  browser. Feed readers ignore this file. Plain XSLT 1.0 (what browsers implement), no scripts.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="atom dc">
  <xsl:output method="html" version="5.0" encoding="UTF-8" indent="yes"
      doctype-system="about:legacy-compat"/>

  <xsl:variable name="title" select="/rss/channel/title | /atom:feed/atom:title"/>
  <xsl:variable name="home"
      select="/rss/channel/link | /atom:feed/atom:link[@rel='alternate']/@href"/>
  <xsl:variable name="self"
      select="/rss/channel/atom:link[@rel='self']/@href | /atom:feed/atom:link[@rel='self']/@href"/>

  <xsl:template match="/">
    <html>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="color-scheme" content="light dark"/>
        <title><xsl:value-of select="$title"/> (feed)</title>
        <style>
          :root { color-scheme: light dark; --fg: #1d1d1f; --bg: #fdfdfc; --muted: #6b6b70;
                  --accent: #0b5cad; --box: #f1f0ec; }
          @media (prefers-color-scheme: dark) {
            :root { --fg: #e8e8ea; --bg: #161618; --muted: #a0a0a8; --accent: #7db7ff;
                    --box: #232327; }
          }
          /* overflow-wrap: anywhere lets a 200-character URL or a hash in a title or summary
             wrap instead of widening the page on a phone. */
          body { margin: 0 auto; max-width: 42rem; padding: 2rem 1.25rem 4rem;
                 font: 17px/1.6 system-ui, -apple-system, "Segoe UI", sans-serif;
                 color: var(--fg); background: var(--bg); overflow-wrap: anywhere; }
          a { color: var(--accent); }
          .about { background: var(--box); border-radius: 8px; padding: 0.9rem 1.1rem;
                   font-size: 0.95rem; }
          .about code { word-break: break-all; }
          h1 { font-size: 1.8rem; line-height: 1.25; margin: 1.5rem 0 0.25rem; }
          .sub { color: var(--muted); margin: 0 0 2rem; }
          article { border-top: 1px solid var(--box); padding: 1.1rem 0; }
          article h2 { font-size: 1.2rem; margin: 0 0 0.2rem; }
          time, .tags { color: var(--muted); font-size: 0.9rem; }
          .summary { margin: 0.4rem 0 0; }
          .summary p { margin: 0 0 0.6rem; }
          /* An Atom summary is plain text whose paragraphs are separated by a blank line. */
          .summary.text { white-space: pre-line; }
        </style>
      </head>
      <body>
        <p class="about">
          This is a <strong>web feed</strong>. Copy its address into your feed reader to
          follow new posts: <code><xsl:value-of select="$self"/></code>
        </p>
        <h1><xsl:value-of select="$title"/></h1>
        <p class="sub">
          <xsl:value-of select="/rss/channel/description | /atom:feed/atom:subtitle"/>
          <xsl:text> · </xsl:text>
          <a href="{$home}">Visit the site</a>
        </p>
        <xsl:apply-templates select="/rss/channel/item | /atom:feed/atom:entry"/>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="item">
    <article>
      <h2><a href="{link}"><xsl:value-of select="title"/></a></h2>
      <time><xsl:value-of select="substring(pubDate, 1, 16)"/></time>
      <xsl:if test="category">
        <span class="tags"><xsl:text> · </xsl:text>
          <xsl:for-each select="category">
            <xsl:value-of select="."/><xsl:if test="position() != last()">, </xsl:if>
          </xsl:for-each>
        </span>
      </xsl:if>
      <!-- description is HTML-escaped plain text, or <p> paragraphs of it (see
           fieldfeed.feeds.build.rss_description): unescape once. -->
      <div class="summary"><xsl:value-of select="description" disable-output-escaping="yes"/></div>
    </article>
  </xsl:template>

  <xsl:template match="atom:entry">
    <article>
      <h2><a href="{atom:link/@href}"><xsl:value-of select="atom:title"/></a></h2>
      <time><xsl:value-of select="substring(atom:published, 1, 10)"/></time>
      <xsl:if test="atom:category">
        <span class="tags"><xsl:text> · </xsl:text>
          <xsl:for-each select="atom:category">
            <xsl:value-of select="@label"/><xsl:if test="position() != last()">, </xsl:if>
          </xsl:for-each>
        </span>
      </xsl:if>
      <div class="summary text"><xsl:value-of select="atom:summary"/></div>
    </article>
  </xsl:template>
</xsl:stylesheet>
