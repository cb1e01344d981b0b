"""Customer text in reasons, the human-readable report ``sftp-watcher validate`` prints,
and terminal escaping.

Customer text (file names, cells, headers) reaches the operator's terminal: an ESC or
OSC sequence in it could retitle, clear or rewrite the screen, a bidi override reorder
what is shown. Every such character is printed as an escape (SPEC 10).
"""

from __future__ import annotations

import re

from sftp_watcher.calllist.report import Report

MAX_QUOTED = 200  # SPEC 4: a reason quotes at most this many characters of a customer value
_MAX_VALUE = 40  # long cells would push the reason column off the screen
# C0 (tab and line breaks included: one value, one line), DEL, C1 (0x9b is an 8-bit
# CSI), and the bidi controls (embeddings, overrides, isolates, marks).
_TERMINAL_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# The same, less what JSON escapes itself (C0): json.dumps leaves these as they are.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_terminal(text: str) -> str:
    """``text`` with every control or bidi character shown as an escape (``\\x1b``)."""
    return _TERMINAL_UNSAFE.sub(_escape, text)


def escape_json_text(dumped: str) -> str:
    """``json.dumps`` output (``ensure_ascii=False``) with DEL, C1 and bidi as ``\\uXXXX``.

    Still the same JSON: those characters only occur inside its strings.
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", dumped)


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def quoted(value: str, limit: int = MAX_QUOTED) -> str:
    """A customer value (cell, header, name) as a reason may quote it: at most ``limit``
    characters of it, then how long it really is."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


def render_text(report: Report) -> str:
    lines = [
        f"file:     {escape_terminal(report.file)}",
        f"outcome:  {report.outcome.value}",
        f"records:  {report.rows_total} total, {report.rows_valid} valid, "
        f"{report.rows_rejected} rejected",
    ]
    if report.start_time is not None:
        lines.append(f"start:    {report.start_time.isoformat()} (from the file name)")
    lines += [f"error:    {escape_terminal(e)}" for e in report.file_errors]
    lines += [f"warning:  {escape_terminal(w)}" for w in report.warnings]
    if report.row_errors:
        lines += ["", "rejected rows:", *_table(report)]
    return "\n".join(lines) + "\n"


def _table(report: Report) -> list[str]:
    with_member = any(e.member is not None for e in report.row_errors)
    header = ["member"] if with_member else []
    header += ["line", "column", "value", "reason"]
    rows = [header]
    for e in report.row_errors:
        value = escape_terminal(" ".join(e.value.split()))  # a cell may hold line breaks
        if len(value) > _MAX_VALUE:
            value = value[: _MAX_VALUE - 1] + "…"
        cells = [escape_terminal(e.member or "")] if with_member else []
        column, reason = escape_terminal(e.column), escape_terminal(e.reason)
        rows.append([*cells, str(e.line), column, value, reason])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        for row in rows
    ]
