"""The valid rows of an upload as a sequence of ``CallRecord``, built when read.

Judging a 200,000-row file must not cost a million Python objects that only the
request builder reads, once, in order: the columns stay as they were judged and
each ``CallRecord`` is made on access. The sequence is immutable and compares,
hashes and slices like the tuple of its records.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import TypeVar, overload

from sftp_watcher.calllist.report import CallRecord

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RecordColumns:
    """The valid rows of one sheet: its judged columns (all of one length) and which rows."""

    lines: Sequence[int]
    member: str | None
    tel: tuple[Sequence[str], ...]  # tel1, tel2, ... digits; "" for an empty alternate
    start_times: Sequence[datetime]
    variables: tuple[tuple[str, Sequence[str]], ...]  # ("$flow.key.Name", values)
    rows: Sequence[int] | None = None  # indexes of the valid rows; None: every row

    def __post_init__(self) -> None:
        count = len(self.lines)
        columns = [*self.tel, self.start_times, *(values for _, values in self.variables)]
        if any(len(column) != count for column in columns):
            raise ValueError("every column needs one value per row")

    def __len__(self) -> int:
        return len(self.lines) if self.rows is None else len(self.rows)

    def record(self, k: int) -> CallRecord:
        i = k if self.rows is None else self.rows[k]
        return CallRecord(
            line=self.lines[i],
            member=self.member,
            numbers=tuple(column[i] for column in self.tel if column[i]),
            start_time=self.start_times[i],
            variables=tuple((key, values[i]) for key, values in self.variables),
        )

    def __iter__(self) -> Iterator[CallRecord]:
        pick = _picker(self.rows)
        tel = [pick(column) for column in self.tel]
        numbers: Iterator[tuple[str, ...]] = zip(*tel, strict=True)
        if any("" in column for column in tel[1:]):  # empty alternates are left out
            numbers = map(tuple, map(filter, repeat(None), numbers))
        variables: Iterator[tuple[tuple[str, str], ...]] = repeat(())
        if self.variables:
            variables = zip(
                *(zip(repeat(key), pick(values)) for key, values in self.variables), strict=True
            )
        return map(
            CallRecord,
            pick(self.lines),
            repeat(self.member),
            numbers,
            pick(self.start_times),
            variables,
        )


def _picker(rows: Sequence[int] | None) -> Callable[[Sequence[T]], Sequence[T]]:
    """Selects ``rows`` of a column, in one C-level pass."""
    if rows is None:
        return lambda column: column
    if len(rows) == 1:
        return lambda column: [column[rows[0]]]
    getter: Callable[[Sequence[T]], Sequence[T]] = itemgetter(*rows)  # a tuple of the rows
    return getter


class CallRecords(Sequence[CallRecord]):
    """The records of every sheet of an upload, in order."""

    __slots__ = ("_ends", "_parts")

    def __init__(self, parts: Sequence[RecordColumns] = ()) -> None:
        self._parts = tuple(part for part in parts if len(part))
        self._ends = tuple(accumulate(len(part) for part in self._parts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    @overload
    def __getitem__(self, index: int) -> CallRecord: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[CallRecord, ...]: ...

    def __getitem__(self, index: int | slice) -> CallRecord | tuple[CallRecord, ...]:
        if isinstance(index, slice):
            return tuple(self[k] for k in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("record index out of range")
        part = bisect_right(self._ends, index)
        start = self._ends[part - 1] if part else 0
        return self._parts[part].record(index - start)

    def __iter__(self) -> Iterator[CallRecord]:
        return chain.from_iterable(self._parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"CallRecords({len(self)} records)"
