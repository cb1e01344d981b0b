"""A .zip upload to its .csv members, enforcing the zip limits while inflating (SPEC 4).

The sizes in a zip's directory are claims, not facts: every limit is checked against
the bytes actually produced, chunk by chunk, so a bomb is stopped long before it is
inflated whole.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from sftp_watcher.config import Limits
from sftp_watcher.errors import FileRejected

_CHUNK = 64 * 1024
_ENCRYPTED = 0x1
_ARCHIVES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".zst")
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError)


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    data: bytes


def read_members(data: bytes, limits: Limits) -> list[Member]:
    """The .csv members in archive order; ``FileRejected`` rejects the whole zip."""
    return list(iter_members(data, limits))


def iter_members(data: bytes, limits: Limits) -> Iterator[Member]:
    """The .csv members in archive order, each inflated only when asked for.

    The directory is checked whole before the first member is inflated; a reader that
    stops early (too many records) never inflates the rest.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = [info for info in archive.infolist() if not _ignored(info)]
            _check_entries(infos, limits)
            yield from _inflate(archive, infos, limits)
    except _CORRUPT as exc:
        raise FileRejected(
            f"the zip file is damaged and cannot be opened ({exc}): create it again"
        ) from exc


def _ignored(info: zipfile.ZipInfo) -> bool:
    """Folders and the metadata macOS adds to every zip it makes."""
    parts = info.filename.replace("\\", "/").split("/")
    return info.is_dir() or parts[0] == "__MACOSX" or parts[-1].startswith("._")


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Everything the directory alone can tell, before a byte is inflated."""
    if len(infos) > limits.max_zip_members:
        raise FileRejected(
            f"the zip holds {len(infos)} files; at most {limits.max_zip_members} are allowed"
        )
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise FileRejected(f"the zip member {name!r} has an unsafe path (absolute or '..')")
        if info.flag_bits & _ENCRYPTED:
            raise FileRejected(
                f"the zip member {name!r} is encrypted: zip the files without a password"
            )
        if name.lower().endswith(_ARCHIVES):
            raise FileRejected(
                f"the zip member {name!r} is an archive: zips inside zips are not read"
            )
        if not name.lower().endswith(".csv"):
            raise FileRejected(f"the zip member {name!r} is not a .csv file: zip only .csv files")
    if not infos:
        raise FileRejected("the zip holds no .csv file")


def _inflate(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: Limits
) -> Iterator[Member]:
    compressed_total = sum(max(info.compress_size, 1) for info in infos)
    total = 0
    for info in infos:
        member_limit = min(limits.max_file_bytes, limits.max_zip_ratio * max(info.compress_size, 1))
        chunks = []
        size = 0
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                total += len(chunk)
                if size > member_limit:
                    raise FileRejected(_member_too_big(info, limits))
                if total > limits.max_zip_uncompressed_bytes:
                    raise FileRejected(
                        "the zip holds more than "
                        f"{limits.max_zip_uncompressed_bytes:,} bytes uncompressed: split it"
                    )
                if total > limits.max_zip_ratio * compressed_total:
                    raise FileRejected(_ratio_exceeded(limits))
                chunks.append(chunk)
        yield Member(name=info.filename, data=b"".join(chunks))


def _member_too_big(info: zipfile.ZipInfo, limits: Limits) -> str:
    if limits.max_zip_ratio * max(info.compress_size, 1) < limits.max_file_bytes:
        return (
            f"the zip member {info.filename!r} inflates more than {limits.max_zip_ratio}:1, "
            "which is how zip bombs look: zip the call list normally"
        )
    return (
        f"the zip member {info.filename!r} is larger than {limits.max_file_bytes:,} bytes "
        "uncompressed: split it into smaller files"
    )


def _ratio_exceeded(limits: Limits) -> str:
    return (
        f"the zip inflates more than {limits.max_zip_ratio}:1 overall, which is how zip bombs "
        "look: zip the call list normally"
    )
