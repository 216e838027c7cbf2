"""fieldfeed: Markdown posts to RSS, Atom and JSON feeds and HTML email digests.

The pipeline (see ``fieldfeed.pipeline``) is the one place that runs the whole job; the CLI
and the scheduler call it. Modules import in one direction: edges (cli, web, runner) ->
pipeline -> IO modules -> pure modules -> model.
"""

__version__ = "0.1.0"
