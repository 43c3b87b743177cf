"""Staging a big export with parse workers (PostgreSQL): parsing is the import's costly
part and Python runs it on one core, so a big file is parsed by one worker process per
core (`parse_worker`) while this process copies their blocks, in the file's order, into
the staging tables. What it stages is exactly what the importer's own loop stages."""

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection

from costs import parse_worker, progress, staging
from costs.export_file import RefusedFile
from costs.staged_rows import Staged

FLUSH_BYTES = 2 << 20  # COPY text gathered before it is sent


def worker_count(size_bytes: int) -> int:
    """How many parse workers a file of this size gets: 0 = the importer parses it (as
    it does all on SQLite, whose staging is not COPY text)."""
    workers = settings.BILLING_IMPORT_WORKERS
    if workers < 2 or size_bytes <= settings.BILLING_PARALLEL_IMPORT_BYTES:
        return 0
    return workers if connection.vendor == "postgresql" else 0


def shared_path(path: Path, opened) -> Path | None:
    """The path by which the workers open the very file the importer has open; None if
    there is none (a pipe, or a file deleted or replaced since it was opened)."""
    try:
        resolved = path.resolve()
        mine = os.fstat(opened.fileno())
        same = os.path.samestat(os.stat(resolved), mine) and stat.S_ISREG(mine.st_mode)
    except (OSError, ValueError):
        return None
    return resolved if same else None


class _Worker:
    def __init__(self, path: Path, name: str, index: int, count: int, account: str):
        self.index = index
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own module, the file's path
            [sys.executable, "-m", "costs.parse_worker", str(path), name, str(index), str(count)]
            + [account],
            cwd=settings.BASE_DIR,  # where `costs` is
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )

    def next_frame(self) -> parse_worker.Frame:
        head = self.process.stdout.read(parse_worker.LENGTH.size)
        if len(head) == parse_worker.LENGTH.size:
            (length,) = parse_worker.LENGTH.unpack(head)
            data = self.process.stdout.read(length)
            if len(data) == length:
                return parse_worker.decode(data)
        code = self.process.wait()
        self.stderr.seek(0)
        said = self.stderr.read()[-4000:].decode(errors="replace").strip()
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise RuntimeError(f"parse worker {self.index} {how}" + (f":\n{said}" if said else ""))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.stderr.close()


def stage(path: Path, name: str, count: int, progress_id: int | None, account: str) -> Staged:
    """Stage the file at `path` (see `shared_path`) with `count` workers; a bad line
    raises RefusedFile (the first one in the file, as the importer's own loop would),
    a row of another billing account than `account` too."""
    staged = Staged()
    workers: list[_Worker] = []
    rows: list[bytes] = []
    credits: list[bytes] = []
    pending = 0
    try:
        for index in range(count):
            workers.append(_Worker(path, name, index, count, account))
        turn = 0
        while True:
            frame = workers[turn % count].next_frame()
            if isinstance(frame, parse_worker.End):
                break
            if isinstance(frame, parse_worker.Refused):
                raise RefusedFile(frame.message)
            rows.append(frame.staged)
            credits.append(frame.credits)
            pending += len(frame.staged) + len(frame.credits)
            staged.keys.update(frame.new_keys)
            before, staged.rows_read = staged.rows_read, staged.rows_read + frame.rows
            if pending >= FLUSH_BYTES:
                staging.write_copy_text(b"".join(rows), b"".join(credits))
                rows, credits, pending = [], [], 0
            if progress_id is not None and progress.due(before, staged.rows_read):
                progress.report(progress_id, staged.rows_read, frame.bytes_read)
            turn += 1
        staging.write_copy_text(b"".join(rows), b"".join(credits))
        for worker in workers[turn % count + 1 :] + workers[: turn % count]:
            end = worker.next_frame()  # each reached the end of the same file
            if not isinstance(end, parse_worker.End):
                raise RuntimeError(f"parse worker {worker.index} did not end with the file")
    finally:
        for worker in workers:
            worker.stop()
    return staged
