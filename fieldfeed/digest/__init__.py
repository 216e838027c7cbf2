"""The email digest: pick the issue, freeze it, render once, send through the ledger.

Read :func:`fieldfeed.digest.run.publish_digest` top to bottom for the whole run. The modules,
in the direction their imports point:

- :mod:`~fieldfeed.digest.run`: the run (publish, resume, dry run) and the send pass;
- :mod:`~fieldfeed.digest.preview`: previews on disk and test sends, which record nothing;
- :mod:`~fieldfeed.digest.freezing`: planning the next issue and freezing it in one transaction;
- :mod:`~fieldfeed.digest.edge`: what a send takes from the environment (secret, transport);
- :mod:`~fieldfeed.digest.report`: the record of what a run did.

Everything public is re-exported here, so callers import from ``fieldfeed.digest`` and the
split stays an internal matter. ``_template`` and ``_jobs`` are imported here too, outside
``__all__``, because the memory benchmark (benchmarks/bench_send.py) drives them directly.
"""

from fieldfeed.digest.edge import (
    SendingEdge,
    check_sending_setup,
    envelope_sender,
    load_site_secret,
    send_policy,
    transport_factory,
)
from fieldfeed.digest.freezing import (
    NO_SUBSCRIBERS,
    PAGE,
    freeze_next_issue,
    rendered_from_dict,
    rendered_to_dict,
)
from fieldfeed.digest.freezing import _template as _template
from fieldfeed.digest.preview import (
    SAMPLE_READER,
    Preview,
    sample_subscriber,
    send_test,
    write_preview,
)
from fieldfeed.digest.report import DigestReport
from fieldfeed.digest.run import _jobs as _jobs
from fieldfeed.digest.run import publish_digest, send_digest, send_issue
from fieldfeed.model import ProgressCallback

__all__ = [
    "NO_SUBSCRIBERS",
    "PAGE",
    "SAMPLE_READER",
    "DigestReport",
    "Preview",
    "ProgressCallback",
    "SendingEdge",
    "check_sending_setup",
    "envelope_sender",
    "freeze_next_issue",
    "load_site_secret",
    "publish_digest",
    "rendered_from_dict",
    "rendered_to_dict",
    "sample_subscriber",
    "send_digest",
    "send_issue",
    "send_policy",
    "send_test",
    "transport_factory",
    "write_preview",
]
