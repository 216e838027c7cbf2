"""The newsletter: pick the issue, freeze it, render once, send through the ledger.

Read :func:`fieldfeed.mail.run.publish_digest` top to bottom for the whole run. The digest
runs, in the direction their imports point:

- :mod:`~fieldfeed.mail.run`: the run (publish, resume, dry run) and the send pass;
- :mod:`~fieldfeed.mail.preview`: previews on disk and test sends, which record nothing;
- :mod:`~fieldfeed.mail.freezing`: planning the next issue and freezing it in one transaction;
- :mod:`~fieldfeed.mail.edge`: what a send takes from the environment (secret, transport);
- :mod:`~fieldfeed.mail.report`: the record of what a run did.

and the parts they are built from: :mod:`~fieldfeed.mail.issues` (choosing an issue's posts),
:mod:`~fieldfeed.mail.render` and :mod:`~fieldfeed.mail.templating` (rendering it once),
:mod:`~fieldfeed.mail.message`, :mod:`~fieldfeed.mail.headers` and :mod:`~fieldfeed.mail.dkim`
(one message per recipient), :mod:`~fieldfeed.mail.tokens` (signed links),
:mod:`~fieldfeed.mail.schedule` (when an issue is due), :mod:`~fieldfeed.mail.sending` and
:mod:`~fieldfeed.mail.transports` (delivery through the ledger).

What the layers above use is re-exported here, so the pipeline, the runner, the web and the
CLI import from ``fieldfeed.mail``.
"""

from fieldfeed.mail.edge import (
    SendingEdge,
    check_sending_setup,
    envelope_sender,
    load_site_secret,
    send_policy,
    transport_factory,
)
from fieldfeed.mail.freezing import (
    NO_SUBSCRIBERS,
    PAGE,
    freeze_next_issue,
    rendered_from_dict,
    rendered_to_dict,
)
from fieldfeed.mail.preview import (
    SAMPLE_READER,
    Preview,
    sample_subscriber,
    send_test,
    write_preview,
)
from fieldfeed.mail.report import DigestReport
from fieldfeed.mail.run import publish_digest, send_digest, send_issue
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
