"""The records of a call list (SPEC 5): numbers, start times, duplicates, then the policy.

Work is done column by column rather than row by row: tel columns are judged in bulk
(numpy, ``bulknumbers``), start times once per distinct value, duplicates by hashing,
and the valid rows are handed over as the judged columns (``records``) rather than as
one object per row. That keeps a 200,000-row file within a few times the cost of
merely reading it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress
from operator import not_

import numpy as np
import pandas as pd

from sftp_watcher.calllist.headers import Columns
from sftp_watcher.calllist.numbers import NumberJudge
from sftp_watcher.calllist.reader import Sheet
from sftp_watcher.calllist.records import RecordColumns
from sftp_watcher.calllist.report import RowError
from sftp_watcher.calllist.text import quoted
from sftp_watcher.calllist.times import StartTimeJudge


@dataclass(slots=True)
class RowVerdicts:
    """What the rows of all sheets of one upload came to, before the policy is applied."""

    total: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0
    records: list[RecordColumns] = field(default_factory=list)  # per sheet


@dataclass(frozen=True, slots=True)
class _Table:
    """A sheet's records being judged; ``problems`` by record index, in the order found."""

    member: str | None
    lines: list[int]
    cells: list[list[str]]
    problems: dict[int, list[RowError]]


class RowJudge:
    """Judges the records of one upload; sheets of a zip share duplicate detection."""

    def __init__(
        self, numbers: NumberJudge, times: StartTimeJudge, default_start: datetime
    ) -> None:
        self._numbers = numbers
        self._times = times
        self._default_start = default_start
        # Earlier sheets' tel1 column, lines, member and the indexes of the rows called.
        self._claimed: list[tuple[list[str], list[int], str | None, list[int]]] = []
        self.verdicts = RowVerdicts()

    def add(self, sheet: Sheet, columns: Columns) -> None:
        table = _table(sheet)
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
        verdicts.errors.extend(e for k in sorted(table.problems) for e in table.problems[k])
        verdicts.records.append(
            RecordColumns(
                lines=table.lines,
                member=table.member,
                tel=tuple(tel_digits),
                start_times=starts,
                variables=tuple((key, table.cells[i]) for i, _, key in columns.variables),
                rows=None if len(valid) == len(table.lines) else valid,
            )
        )

    def _tel_column(self, table: _Table, index: int, name: str, required: bool) -> list[str]:
        values = table.cells[index]
        digits, problems = self._numbers.column(values)
        for k, reason in problems.items():
            _problem(table, k, name, values[k], reason)
        if required:
            empty = compress(range(len(digits)), map(not_, digits))
            for k in [k for k in empty if k not in problems]:
                _problem(
                    table, k, name, values[k], f"{name} is empty: every row needs a number to call"
                )
        return digits

    def _start_column(self, table: _Table, columns: Columns) -> Sequence[datetime]:
        if columns.starttime is None:
            reason = self._times.default_problem  # outside the calling hours
            if reason is not None:
                for k in range(len(table.lines)):
                    _problem(table, k, "starttime", "", reason)
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
        indexes = list(range(len(lines)))
        keys = tel1
        if problems:
            passes = np.ones(len(lines), dtype=np.bool_)
            passes[list(problems)] = False
            indexes = np.flatnonzero(passes).tolist()
            keys = list(compress(tel1, passes.tolist()))
        earlier = self._claimed_before(keys)
        if earlier or len(set(keys)) != len(keys):  # usually nothing repeats
            indexes = self._reject_repeats(table, keys, indexes, earlier)
        self._claimed.append((tel1, lines, table.member, indexes))
        return indexes

    def _reject_repeats(
        self,
        table: _Table,
        keys: list[str],
        indexes: list[int],
        earlier: dict[int, tuple[int, str | None]],
    ) -> list[int]:
        """``indexes`` without the rows whose tel1 (``keys``) an earlier row already calls."""
        codes, _ = pd.factorize(np.array(keys, dtype=object))
        first = np.unique(codes, return_index=True)[1][codes]  # codes count keys as first seen
        called = first == np.arange(len(keys))
        called[list(earlier)] = False
        for position in np.flatnonzero(~called).tolist():
            line, member = earlier.get(position) or (
                table.lines[indexes[first[position]]],
                table.member,
            )
            where = f"line {line}" + (f" of {quoted(member)}" if member else "")
            reason = f"duplicate of {where} (same tel1 number)"
            _problem(table, indexes[position], "tel1", keys[position], reason)
        return list(compress(indexes, called.tolist()))

    def _claimed_before(self, keys: list[str]) -> dict[int, tuple[int, str | None]]:
        """Positions of ``keys`` that an earlier sheet of the upload already calls."""
        if not self._claimed:
            return {}
        first_line: dict[str, tuple[int, str | None]] = {}
        for tel1, lines, member, called in self._claimed:
            first_line.update((tel1[k], (lines[k], member)) for k in called)
        return {p: first_line[key] for p, key in enumerate(keys) if key in first_line}


def _table(sheet: Sheet) -> _Table:
    problems: dict[int, list[RowError]] = {}
    width = len(sheet.columns)
    for k, extra in sheet.overflow.items():
        line = sheet.lines[k]
        reason = (
            f"the row has {extra.cells} cells but the header names only {width} columns: "
            "remove the extra cells or name their column"
        )
        column = f"column {extra.index + 1}"
        problems[k] = [RowError(line, column, extra.value, reason, sheet.member)]
    return _Table(sheet.member, sheet.lines, sheet.columns, problems)


def _problem(table: _Table, k: int, column: str, value: str, reason: str) -> None:
    line = table.lines[k]
    table.problems.setdefault(k, []).append(RowError(line, column, value, reason, table.member))
