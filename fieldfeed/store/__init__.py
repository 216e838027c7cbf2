"""The state store: subscribers, frozen issues and the send ledger (SQLAlchemy Core).

SQLite by default (a file under the site's ``.fieldfeed/``), any SQLAlchemy URL later
(PostgreSQL). Modules: ``engine`` (connect + pragmas + migrate), ``schema`` (tables and the
numbered migrations), ``subscribers``, ``issues`` and ``ledger`` (plain functions over an
Engine), ``postjson`` (posts frozen to JSON), ``postmarks`` (which posts the issues sent,
carried or held back). Nothing here knows about SMTP or rendering.
"""

from fieldfeed.store.engine import open_store

__all__ = ["open_store"]
