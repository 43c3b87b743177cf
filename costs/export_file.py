"""Opening an export file: plain or gzip (detected from its first bytes), read in
streaming fashion, its SHA-256 computed from the bytes as read."""

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, as some editors save text
CHUNK = 1 << 20
MAX_LINE = 16 << 20  # an export row is a few KB; a longer line is not one (and memory stays flat)


class RefusedFile(Exception):
    """The file cannot be imported; the message is the sentence shown to the user."""


def refused(where: str, what: str) -> RefusedFile:
    return RefusedFile(f"{where}: {what} — refused, nothing imported")


class HashingReader:
    """A binary file object that feeds every byte read into SHA-256 and counts them."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:  # gzip reads through readinto when it can
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def sniff(path: Path) -> bytes:
    """The first non-blank bytes of the content (decompressed), to detect the format."""
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as fh:
            return fh.read(4096).removeprefix(BOM).lstrip()[:64]
    except (OSError, EOFError, zlib.error) as exc:
        raise refused(path.name, f"not a readable gzip file ({exc})") from exc


def lines(path: Path, reader: HashingReader) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the content, decompressing gzip, without a leading byte
    order mark; memory flat in file size."""
    stream = gzip.GzipFile(fileobj=reader, mode="rb") if is_gzip(path) else reader
    buffered = _buffered(stream)
    number = 0
    try:
        for number, line in enumerate(buffered, start=1):  # noqa: B007 - used after the loop
            yield number, line.removeprefix(BOM) if number == 1 else line
    except (OSError, EOFError, zlib.error) as exc:
        raise refused(f"{path.name}:{number + 1}", f"the gzip data is broken ({exc})") from exc
    except _LineTooLong:
        raise refused(
            f"{path.name}:{number + 1}",
            f"a line longer than {MAX_LINE >> 20} MiB, which no export row is (one JSON "
            "object a line is expected)",
        ) from None


class _LineTooLong(Exception):
    pass


def _buffered(stream) -> Iterator[bytes]:
    """Lines of a binary stream read in 1 MiB chunks (a partial last line included)."""
    rest = b""
    while chunk := stream.read(CHUNK):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
        if len(rest) > MAX_LINE:
            raise _LineTooLong
    if rest:
        yield rest
