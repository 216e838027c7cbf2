"""Reading posts: the content folder's files, front matter, Markdown, text helpers and the
build cache, to validated :class:`~fieldfeed.model.Post` records (:mod:`.content`)."""
