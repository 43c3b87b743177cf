"""A parse worker of a big import: `python -m costs.parse_worker PATH NAME INDEX COUNT
ACCOUNT` (the billing account its rows must be of; "" for any).

Each of COUNT workers reads the whole file (decompressing it: the cheap part) and
parses every COUNT-th block of lines from block INDEX (the costly part), so the blocks
need not travel between processes. For each of its blocks it writes one frame to
stdout: the staged rows and credits in PostgreSQL COPY text, and the rollup keys it had
not sent before; a bad line ends its frames with the refusal, the end of the file with
`End`. The importer reads the frames in block order and stages them. No Django here.

A worker stops at the first error writing to stdout, so it does not outlive its
importer; it ignores Ctrl-C, which the importer handles (and then stops it).
"""

import signal
import struct
import sys
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import msgspec

from costs.bq_rows import RowKey
from costs.export_file import CountingReader, RefusedFile, blocks
from costs.staged_rows import stage_lines

LENGTH = struct.Struct("<I")  # each frame: its length, then its msgpack


class Block(msgspec.Struct, tag="block", array_like=True):
    rows: int
    bytes_read: int  # of the file, up to the end of this block (for progress)
    staged: bytes
    credits: bytes
    new_keys: list[tuple[bytes, RowKey]]


class Refused(msgspec.Struct, tag="refused", array_like=True):
    message: str


class End(msgspec.Struct, tag="end", array_like=True):
    pass


Frame = Block | Refused | End
decode = msgspec.msgpack.Decoder(Frame).decode
_encode = msgspec.msgpack.Encoder().encode
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@lru_cache(maxsize=1_000)  # a few credit types repeat on every row
def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


def _usage(value: Decimal | None) -> str:
    return "\\N" if value is None else str(value)


def copy_rows(rows: list[tuple]) -> bytes:
    """Staged rows (see `staging.write`) as COPY text."""
    return "".join(
        [
            f"{seq}\t\\\\x{row_hash.hex()}\t{month}\t\\\\x{key.hex()}\t{cost}\t{credit}\t"
            f"{_usage(usage)}\n"
            for seq, row_hash, month, key, cost, credit, usage in rows
        ]
    ).encode()


def copy_credits(credits: list[tuple]) -> bytes:
    return "".join(
        [f"{seq}\t{_copy_text(kind)}\t{amount}\n" for seq, kind, amount in credits]
    ).encode()


def run(path: Path, name: str, index: int, count: int, out, account: str = "") -> None:
    digests: dict[RowKey, bytes] = {}
    with open(path, "rb") as raw:
        reader = CountingReader(raw)
        try:
            for number, (first, lines) in enumerate(blocks(path, reader, name)):
                if number % count != index:
                    continue
                rows: list[tuple] = []
                credits: list[tuple] = []
                new_keys: list[tuple[bytes, RowKey]] = []
                numbered = enumerate(lines, first)
                staged = stage_lines(numbered, name, digests, rows, credits, new_keys, account)
                staged_text, credits_text = copy_rows(rows), copy_credits(credits)
                send(out, Block(staged, reader.bytes_read, staged_text, credits_text, new_keys))
        except RefusedFile as exc:
            send(out, Refused(str(exc)))
            return
    send(out, End())


def send(out, frame: Frame) -> None:
    data = _encode(frame)
    out.write(LENGTH.pack(len(data)))
    out.write(data)
    out.flush()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path, name, index, count, account = argv
    run(Path(path), name, int(index), int(count), sys.stdout.buffer, account)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
