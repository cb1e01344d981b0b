"""Stand-in for ``sftp_watcher.calllist.template.template_csv`` (the `template` command's
output) until that lands; the page serves the same bytes."""

from __future__ import annotations

from sftp_watcher.config import FlowConfig


def template_csv(flow: FlowConfig) -> bytes:
    variables = list(getattr(flow, "variables", None) or [])
    return (",".join(["tel1", "tel2", "tel3", *variables, "starttime"]) + "\r\n").encode()
