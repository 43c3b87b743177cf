"""Opening an export file: plain or gzip (detected from its first bytes), read in
streaming fashion, its SHA-256 computed from the bytes as read.

gzip is read with ISA-L's inflate (python-isal's igzip, the standard library's gzip
interface): about four times zlib's speed, and every parse worker of a big import
decompresses the whole file."""

import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path

from isal import igzip, isal_zlib

GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, as some editors save text
CHUNK = 1 << 20
BROKEN_GZIP = (OSError, EOFError, zlib.error, isal_zlib.error)
MAX_LINE = 16 << 20  # an export row is a few KB; a longer line is not one (and memory stays flat)


class RefusedFile(Exception):
    """The file cannot be imported; the message is the sentence shown to the user."""


def refused(where: str, what: str) -> RefusedFile:
    return RefusedFile(f"{where}: {what} — refused, nothing imported")


class CountingReader:
    """A binary file object that counts the bytes read through it."""

    def __init__(self, raw):
        self.raw = raw
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer) -> int:  # gzip reads through readinto when it can
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


class HashingReader(CountingReader):
    """A counting reader that also feeds every byte read into SHA-256."""

    def __init__(self, raw):
        super().__init__(raw)
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.sha256.update(data)
        return data


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def sniff(path: Path, name: str = "") -> bytes:
    """The first non-blank bytes of the content (decompressed), to detect the format;
    `name`: the file's name as the user knows it (default: the path's)."""
    opener = igzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as fh:
            return fh.read(4096).removeprefix(BOM).lstrip()[:64]
    except BROKEN_GZIP as exc:
        raise refused(name or path.name, f"not a readable gzip file ({exc})") from exc


def lines(path: Path, reader: HashingReader, name: str = "") -> Iterator[tuple[int, bytes]]:
    """(line number, line) of the content, decompressing gzip, without a leading byte
    order mark; memory flat in file size."""
    for first, block in blocks(path, reader, name):
        yield from enumerate(block, start=first)


def blocks(path: Path, reader, name: str = "") -> Iterator[tuple[int, list[bytes]]]:
    """The content's lines a block at a time (those of about 1 MiB of content): (the
    first one's line number, lines), decompressing gzip, without a leading byte order
    mark. The same file always gives the same blocks. A broken gzip stream or an
    over-long line raises RefusedFile naming the line and `name` (default: the path's)."""
    name = name or path.name
    stream = igzip.IGzipFile(fileobj=reader, mode="rb") if is_gzip(path) else reader
    number = 1  # of the next line
    rest = b""
    try:
        while chunk := stream.read(CHUNK):
            if number == 1 and not rest:
                chunk = chunk.removeprefix(BOM)
            block = (rest + chunk).split(b"\n")
            rest = block.pop()
            if block:
                yield number, block
                number += len(block)
            if len(rest) > MAX_LINE:
                raise refused(
                    f"{name}:{number}",
                    f"a line longer than {MAX_LINE >> 20} MiB, which no export row is (one "
                    "JSON object a line is expected)",
                )
    except BROKEN_GZIP as exc:
        raise refused(f"{name}:{number}", f"the gzip data is broken ({exc})") from exc
    if rest:
        yield number, [rest]
