"""The header row (SPEC 4, 5): which cell is tel1..tel10, starttime, or which flow variable."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sftp_watcher.calllist.text import quoted
from sftp_watcher.errors import FileRejected

MAX_TEL = 10
VARIABLE_PREFIX = "$flow.key."
# Exactly tel1..tel10 (any case): tel01 is not tel1, and tel11 or tel<5,000 digits> is refused.
_TELS = {f"tel{n}": n for n in range(1, MAX_TEL + 1)}
_TEL_LIKE = re.compile(r"tel[0-9]+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Columns:
    """Cell indexes of the meaningful columns; every other cell index is ignored."""

    width: int  # cells in the header row, empty trailing ones included
    tel: tuple[tuple[int, str], ...]  # (cell index, header as written) for tel1, tel2, ... in order
    starttime: tuple[int, str] | None
    variables: tuple[tuple[int, str, str], ...]  # (cell index, header, "$flow.key.Name")
    ignored_empty: int = 0  # columns with neither a header nor a value


def map_columns(header: list[str], columns: list[list[str]], member: str | None = None) -> Columns:
    """Read the header; the record cells in ``columns`` tell an empty column from an unnamed one."""
    tel: dict[int, tuple[int, str]] = {}
    starttime: tuple[int, str] | None = None
    variables: list[tuple[int, str, str]] = []
    meaning_at: dict[str, int] = {}
    ignored = 0
    where = f" in {quoted(member)}" if member else ""
    for index, cell in enumerate(header):
        name = cell.strip()
        if not name:
            if index < len(columns) and any(map(str.strip, columns[index])):
                raise FileRejected(
                    f"column {index + 1}{where} has values but no header: name it "
                    "(tel1..tel10, starttime or a variable name) or delete it"
                )
            ignored += 1
            continue
        meaning = _meaning(name)
        if meaning in meaning_at:
            first = quoted(header[meaning_at[meaning]].strip())
            raise FileRejected(
                f"columns {meaning_at[meaning] + 1} ({first}) and {index + 1} ({quoted(name)})"
                f"{where} both mean {quoted(meaning.removeprefix(VARIABLE_PREFIX))}: "
                "keep one of them"
            )
        meaning_at[meaning] = index
        tel_number = _TELS.get(name.lower())
        if tel_number is not None:
            tel[tel_number] = (index, name)
        elif meaning == "starttime":
            starttime = (index, name)
        else:
            variables.append((index, name, meaning))
    if 1 not in tel:
        found = quoted(", ".join(h.strip() for h in header if h.strip())) or "nothing"
        raise FileRejected(
            f"the file{where} has no tel1 column (the header row has: {found}): "
            "the first row must name the columns, with the number to call under tel1"
        )
    return Columns(
        width=len(header),
        tel=tuple(tel[n] for n in sorted(tel)),
        starttime=starttime,
        variables=tuple(variables),
        ignored_empty=ignored,
    )


def _meaning(name: str) -> str:
    """What a header stands for: ``tel3``, ``starttime`` or ``$flow.key.<Name>``."""
    lowered = name.lower()
    if lowered in _TELS:
        return lowered
    if _TEL_LIKE.fullmatch(name):
        raise FileRejected(
            f"column {quoted(name)} is not allowed: the number columns are tel1..tel{MAX_TEL} "
            f"(at most {MAX_TEL} numbers a row, written without leading zeros)"
        )
    if lowered == "starttime":
        return "starttime"
    variable = name[len(VARIABLE_PREFIX) :] if lowered.startswith(VARIABLE_PREFIX) else name
    if not variable.strip():
        raise FileRejected(
            f"column {quoted(name)} names no variable: write e.g. {VARIABLE_PREFIX}Name"
        )
    return VARIABLE_PREFIX + variable


def check_variables(
    columns: Columns, declared: Sequence[str], flow_id: str, member: str | None = None
) -> list[str]:
    """A flow's declared variables against the file's (SPEC 5): an undeclared one rejects
    the file, naming the closest declared one; the warnings name the declared ones missing."""
    where = f" in {quoted(member)}" if member else ""
    present = set()
    for _, header, meaning in columns.variables:
        name = meaning.removeprefix(VARIABLE_PREFIX)
        if name not in declared:
            raise FileRejected(
                f"`{quoted(header.strip())}`{where}: not a variable of flow {flow_id}; "
                + _closest(name, declared)
            )
        present.add(name)
    return [
        f"variable {name} of flow {flow_id} is not in the file{where}: "
        "its calls get no value for it"
        for name in declared
        if name not in present
    ]


def _closest(name: str, declared: Sequence[str]) -> str:
    if not declared:
        return f"the flow takes no variables, only tel1..tel{MAX_TEL} and starttime"
    same_letters = [d for d in declared if d.lower() == name.lower()]
    close = same_letters or difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"its variables are {', '.join(declared)} (and tel1..tel{MAX_TEL}, starttime)"
