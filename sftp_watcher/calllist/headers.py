"""The header row (SPEC 4): which cell is tel1..tel10, starttime, or which flow variable."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sftp_watcher.errors import FileRejected

MAX_TEL = 10
VARIABLE_PREFIX = "$flow.key."
_TEL = re.compile(r"tel([0-9]+)", re.IGNORECASE)


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
    where = f" in {member}" if member else ""
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
            first = header[meaning_at[meaning]].strip()
            raise FileRejected(
                f"columns {meaning_at[meaning] + 1} ({first}) and {index + 1} ({name}){where} "
                f"both mean {meaning.removeprefix(VARIABLE_PREFIX)}: keep one of them"
            )
        meaning_at[meaning] = index
        tel_match = _TEL.fullmatch(name)
        if tel_match is not None:
            tel[int(tel_match[1])] = (index, name)
        elif meaning == "starttime":
            starttime = (index, name)
        else:
            variables.append((index, name, meaning))
    if 1 not in tel:
        found = ", ".join(h.strip() for h in header if h.strip()) or "nothing"
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
    tel_match = _TEL.fullmatch(name)
    if tel_match is not None:
        number = int(tel_match[1])
        if not 1 <= number <= MAX_TEL:
            raise FileRejected(
                f"column {name} is not allowed: a row may have at most {MAX_TEL} numbers "
                f"(tel1..tel{MAX_TEL})"
            )
        return f"tel{number}"
    if name.lower() == "starttime":
        return "starttime"
    variable = name[len(VARIABLE_PREFIX) :] if name.lower().startswith(VARIABLE_PREFIX) else name
    if not variable.strip():
        raise FileRejected(f"column {name} names no variable: write e.g. {VARIABLE_PREFIX}Name")
    return VARIABLE_PREFIX + variable
