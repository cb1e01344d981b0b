"""A flow's call-list template (SPEC 10): the header row a customer fills in, and nothing else.

Header only, so that a template uploaded unchanged calls nobody. ``sftp-watcher template``
and the upload page's ``/template/<FlowID>.csv`` serve these very bytes.
"""

from __future__ import annotations

import csv
import io

from sftp_watcher.config import FlowConfig

TEMPLATE_TEL_COLUMNS = ("tel1", "tel2", "tel3")


def template_csv(flow: FlowConfig) -> bytes:
    """``tel1,tel2,tel3``, the flow's declared variables, ``starttime``; UTF-8, CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*TEMPLATE_TEL_COLUMNS, *(flow.variables or ()), "starttime"])
    return buffer.getvalue().encode("utf-8")
