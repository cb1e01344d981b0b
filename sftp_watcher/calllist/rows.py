"""The records of a call list (SPEC 5): numbers, start times, duplicates, then the policy.

Work is done column by column rather than row by row: each column is judged once per
distinct value, and records are assembled with C-level ``zip``/``map``, which keeps a
200,000-row file within a few times the cost of merely reading it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import TypeVar

from sftp_watcher.calllist.headers import Columns
from sftp_watcher.calllist.numbers import NumberJudge
from sftp_watcher.calllist.reader import Sheet
from sftp_watcher.calllist.report import CallRecord, RowError
from sftp_watcher.calllist.times import StartTimeJudge

T = TypeVar("T")


@dataclass(slots=True)
class RowVerdicts:
    """What the rows of all sheets of one upload came to, before the policy is applied."""

    total: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0
    records: list[CallRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Table:
    """A sheet's non-blank records, as columns: ``cells[i][k]`` is cell i of record k."""

    member: str | None
    lines: list[int]
    cells: list[tuple[str, ...]]
    problems: dict[int, list[RowError]]


def data_rows(sheet: Sheet, header_at: int) -> list[tuple[int, list[str]]]:
    """(line, cells) of every record after the header that is not entirely blank."""
    return [
        (index + 1, row)
        for index, row in enumerate(sheet.rows[header_at + 1 :], start=header_at + 1)
        if row and (row[0].strip() or "".join(row).strip())
    ]


class RowJudge:
    """Judges the records of one upload; sheets of a zip share duplicate detection."""

    def __init__(
        self, numbers: NumberJudge, times: StartTimeJudge, default_start: datetime
    ) -> None:
        self._numbers = numbers
        self._times = times
        self._default_start = default_start
        self._first_line: dict[str, tuple[int, str | None]] = {}  # tel1 -> where first seen
        self.verdicts = RowVerdicts()

    def add(self, sheet: Sheet, columns: Columns, rows: list[tuple[int, list[str]]]) -> None:
        table = _table(sheet.member, columns, rows)
        verdicts = self.verdicts
        verdicts.total += len(table.lines)
        if not table.lines:
            return
        tel_digits = [
            self._tel_column(table, idx, name, n == 0) for n, (idx, name) in enumerate(columns.tel)
        ]
        starts = self._start_column(table, columns)
        valid = self._unique_valid(table, tel_digits[0])
        verdicts.rejected += len(table.lines) - len(valid)
        verdicts.errors.extend(e for line in sorted(table.problems) for e in table.problems[line])
        keep = None if len(valid) == len(table.lines) else valid
        kept_digits = [_pick(d, keep) for d in tel_digits]
        numbers: Iterable[tuple[str, ...]] = zip(*kept_digits, strict=True)
        if any("" in column for column in kept_digits[1:]):  # empty alternates are left out
            numbers = [tuple(filter(None, t)) for t in numbers]
        variables: Iterable[tuple[tuple[str, str], ...]] = repeat(())
        if columns.variables:
            variables = zip(
                *(zip(repeat(key), _pick(table.cells[i], keep)) for i, _, key in columns.variables),
                strict=True,
            )
        verdicts.records.extend(
            map(
                CallRecord,
                _pick(table.lines, keep),
                repeat(table.member),
                numbers,
                _pick(starts, keep),
                variables,
            )
        )

    def _tel_column(self, table: _Table, index: int, name: str, required: bool) -> list[str]:
        values = table.cells[index]
        digits, problems = self._numbers.column(values)
        for k, reason in problems.items():
            _problem(table, k, name, values[k], reason)
        if required:
            for k in [k for k, d in enumerate(digits) if not d and k not in problems]:
                _problem(
                    table, k, name, values[k], f"{name} is empty: every row needs a number to call"
                )
        return digits

    def _start_column(self, table: _Table, columns: Columns) -> Sequence[datetime]:
        if columns.starttime is None:
            return [self._default_start] * len(table.lines)
        index, name = columns.starttime
        values = table.cells[index]
        starts, problems = self._times.column(values)
        for k, reason in problems.items():
            _problem(table, k, name, values[k], reason)
        return starts

    def _unique_valid(self, table: _Table, tel1: list[str]) -> list[int]:
        """Indexes of rows that pass; a repeated tel1 rejects the later row.

        Only rows that pass every other rule claim a number, so a row is never called
        off as the duplicate of a row that is not called either.
        """
        lines, problems = table.lines, table.problems
        passing = [k for k in range(len(lines)) if lines[k] not in problems]
        keys = [tel1[k] for k in passing]
        first = dict(zip(reversed(keys), reversed(passing), strict=True))
        valid = []
        for k, digits in zip(passing, keys, strict=True):
            earlier = self._first_line.get(digits)
            if earlier is None and first[digits] == k:
                valid.append(k)
                continue
            line, member = earlier or (lines[first[digits]], table.member)
            where = f"line {line}" + (f" of {member}" if member else "")
            _problem(table, k, "tel1", digits, f"duplicate of {where} (same tel1 number)")
        self._first_line.update((tel1[k], (lines[k], table.member)) for k in valid)
        return valid


def _table(member: str | None, columns: Columns, rows: list[tuple[int, list[str]]]) -> _Table:
    width = columns.width
    problems: dict[int, list[RowError]] = {}
    padded: list[list[str]] = []
    for line, cells in rows:
        if len(cells) != width:
            extra = [(i, c) for i, c in enumerate(cells) if i >= width and c.strip()]
            if extra:
                reason = (
                    f"the row has {len(cells)} cells but the header names only {width} columns: "
                    "remove the extra cells or name their column"
                )
                column = f"column {extra[0][0] + 1}"
                problems[line] = [RowError(line, column, extra[0][1], reason, member)]
            cells = (cells + [""] * width)[:width]  # noqa: PLW2901 - short rows: empty cells
        padded.append(cells)
    by_column: list[tuple[str, ...]] = list(zip(*padded, strict=True)) if padded else []
    if not by_column:
        by_column = [() for _ in range(width)]
    return _Table(member, [line for line, _ in rows], by_column, problems)


def _problem(table: _Table, k: int, column: str, value: str, reason: str) -> None:
    line = table.lines[k]
    table.problems.setdefault(line, []).append(RowError(line, column, value, reason, table.member))


def _pick(column: Sequence[T], keep: list[int] | None) -> Sequence[T]:
    """The valid rows of a column (``keep`` is None when every row is valid)."""
    return column if keep is None else [column[k] for k in keep]
