"""Reading the upload form (SPEC 12): the body streams through a multipart parser and
is refused as soon as it passes ``max_file_bytes`` (plus a small allowance for the
form's other fields), so no more than the limit is ever held."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from sftp_watcher.errors import UploadTooLarge, WebError

FILE_FIELD = "call_list"
# The form's other fields (flow, start time, token) and the parts' headers.
FORM_ALLOWANCE = 16 * 1024
_MAX_FIELD_BYTES = 1024
_MAX_PARTS = 8


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    """The parser's callbacks: small fields into ``fields``, the file into ``data``."""

    def __init__(self, limit: int) -> None:
        self.form = UploadForm()
        self._limit = limit
        self._parts = 0
        self._header_name = b""
        self._header_value = b""
        self._name = ""
        self._is_file = False
        self._value = bytearray()

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > _MAX_PARTS:
            raise WebError("The form has too many fields.")
        self._name, self._is_file, self._value = "", False, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            _, options = parse_options_header(self._header_value)
            self._name = options.get(b"name", b"").decode("utf-8", "replace")
            if b"filename" in options and self._name == FILE_FIELD:
                self._is_file = True
                self.form.filename = options[b"filename"].decode("utf-8", "replace")
        self._header_name = self._header_value = b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            if len(self.form.data) + (end - start) > self._limit:
                raise UploadTooLarge(self._limit)
            self.form.data += data[start:end]
            return
        if len(self._value) + (end - start) > _MAX_FIELD_BYTES:
            raise WebError("A form field is too long.")
        self._value += data[start:end]

    def _part_end(self) -> None:
        if not self._is_file and self._name:
            self.form.fields[self._name] = self._value.decode("utf-8", "replace")


async def read_upload_form(request: Request, limit: int) -> UploadForm:
    """The form's fields and file; ``UploadTooLarge`` without reading past the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_ALLOWANCE:
        raise UploadTooLarge(limit)  # said up front: not a byte of the body is read
    content_type, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise WebError("Send the form with a file (multipart/form-data).")
    collector = _Collector(limit)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + FORM_ALLOWANCE:
                raise UploadTooLarge(limit)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise WebError("The form could not be read.") from exc
    return collector.form
