"""`sftp-watcher history`: recent uploads and their outcome, read from the state database."""

from __future__ import annotations

from typing import Any

from sftp_watcher.state.store import Store


def history_rows(store: Store, *, customer_id: str | None, limit: int) -> list[dict[str, Any]]:
    rows = []
    for upload in store.recent(customer_id=customer_id, limit=limit):
        report = upload.report or {}
        rows.append(
            {
                "upload_id": upload.id,
                "customer": upload.customer_id,
                "channel": upload.channel,
                "file": upload.original_name,
                "state": upload.state,
                "outcome": upload.destination,
                "flow_id": upload.flow_id,
                "rows_total": upload.rows_total,
                "rows_valid": upload.rows_valid,
                "rows_rejected": upload.rows_rejected,
                "rows_triggered": upload.rows_triggered,
                "archived_as": upload.archived_as,
                "reason": upload.reason,
                "request_ids": report.get("request_ids", []),
                "created_at": upload.created_at.isoformat(),
                "finished_at": upload.finished_at.isoformat() if upload.finished_at else None,
                "steps": [
                    {"state": step.state, "at": step.at.isoformat()}
                    for step in store.steps(upload.id)
                ],
            }
        )
    return rows


def render_history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No uploads recorded yet."
    header = ("WHEN (UTC)", "CUSTOMER", "VIA", "FILE", "STATE", "OUTCOME", "CALLS", "REASON")
    table = [header]
    for row in rows:
        table.append(
            (
                row["created_at"][:19].replace("T", " "),
                row["customer"],
                row["channel"],
                row["file"],
                row["state"],
                row["outcome"] or "-",
                f"{row['rows_triggered']}/{row['rows_total']}",
                (row["reason"] or "")[:60],
            )
        )
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )
