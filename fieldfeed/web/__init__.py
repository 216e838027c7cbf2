"""``fieldfeed serve`` (Starlette): subscribe, confirm and one-click unsubscribe, the issue
archive, /health, and the feeds as static files. An edge: it uses the layers below and never
the runner or the CLI."""
