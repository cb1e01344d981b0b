"""Customer text in reasons, and the human-readable report ``sftp-watcher validate`` prints."""

from __future__ import annotations

from sftp_watcher.calllist.report import Report

MAX_QUOTED = 200  # SPEC 4: a reason quotes at most this many characters of a customer value
_MAX_VALUE = 40  # long cells would push the reason column off the screen


def quoted(value: str, limit: int = MAX_QUOTED) -> str:
    """A customer value (cell, header, name) as a reason may quote it: at most ``limit``
    characters of it, then how long it really is."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


def render_text(report: Report) -> str:
    lines = [
        f"file:     {report.file}",
        f"outcome:  {report.outcome.value}",
        f"records:  {report.rows_total} total, {report.rows_valid} valid, "
        f"{report.rows_rejected} rejected",
    ]
    if report.start_time is not None:
        lines.append(f"start:    {report.start_time.isoformat()} (from the file name)")
    lines += [f"error:    {e}" for e in report.file_errors]
    lines += [f"warning:  {w}" for w in report.warnings]
    if report.row_errors:
        lines += ["", "rejected rows:", *_table(report)]
    return "\n".join(lines) + "\n"


def _table(report: Report) -> list[str]:
    with_member = any(e.member is not None for e in report.row_errors)
    header = ["member"] if with_member else []
    header += ["line", "column", "value", "reason"]
    rows = [header]
    for e in report.row_errors:
        value = " ".join(e.value.split())  # a quoted cell may hold line breaks
        if len(value) > _MAX_VALUE:
            value = value[: _MAX_VALUE - 1] + "…"
        cells = [e.member or ""] if with_member else []
        rows.append([*cells, str(e.line), e.column, value, e.reason])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]
