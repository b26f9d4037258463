"""One peer's hints on disk: an append-only journal of segment files.

A :class:`FileJournal` is a directory (``hints_dir/<node>/<peer>/``) of segment files
``<number>.hints`` holding records (``dynotwist.core.hints.encode_record``) in the order
they were stored. A record is written with one ``write`` call as it is stored, so that
a crash of the process keeps it (not a crash of the machine: nothing is fsynced per
record). A segment is closed at :data:`SEGMENT_SIZE`; a node that starts again appends
to a new one, so that a record torn by a crash is never followed by others in its file
(reading a segment stops at the first damaged record).

What the queue has retired is released: segments wholly before the release cursor are
deleted, the cursor itself is kept in ``done`` (written every :meth:`sync`, so that a
restart replays at most what was acknowledged since), and once every record is
released the directory is emptied.
"""

from __future__ import annotations

import contextlib
import os
import re
from typing import BinaryIO, Dict, List, Optional, Tuple

from dynotwist.core.hints import HEADER_SIZE, Cursor, RecordError, decode_record, record_length

__all__ = ["SEGMENT_SIZE", "FileJournal", "peer_directory"]

#: bytes after which a segment is closed and the next one started
SEGMENT_SIZE = 4 << 20

_SEGMENT = re.compile(r"^(\d{16})\.hints$")
_DONE = "done"


def peer_directory(hints_dir: str, node: str, peer: str) -> str:
    """Where ``node`` keeps its hints for ``peer`` (names as ``host:port``)."""
    return os.path.join(hints_dir, _safe(node), _safe(peer))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]", "_", name)


class FileJournal:
    """A :class:`dynotwist.core.hints.Journal` in ``directory`` (made on first use)."""

    def __init__(self, directory: str, segment_size: int = SEGMENT_SIZE) -> None:
        self.directory = directory
        self.segment_size = segment_size
        self._done: Optional[Cursor] = self._read_done()
        self._done_written = self._done
        segments = self._segments()
        # appends go to a segment of their own after a restart (see the docstring)
        self._current = (segments[-1] + 1) if segments else 1
        self._file: Optional[BinaryIO] = None
        self._size = 0
        self._last: Optional[Cursor] = None  # after the newest record appended
        self._sizes: Dict[int, int] = {}  # closed segments' sizes, as first asked

    # -- writing ------------------------------------------------------------------------------
    def append(self, record: bytes) -> Cursor:
        file = self._file
        if file is None or self._size >= self.segment_size:
            file = self._open_next()
        file.write(record)
        self._size += len(record)
        self._last = (self._current, self._size)
        return self._last

    def _open_next(self) -> BinaryIO:
        if self._file is not None:
            self._file.close()
            self._current += 1
        os.makedirs(self.directory, exist_ok=True)
        # unbuffered: each record reaches the OS in the write that stores it
        self._file = open(self._path(self._current), "ab", buffering=0)  # noqa: SIM115
        self._size = self._file.tell()
        return self._file

    # -- reading ------------------------------------------------------------------------------
    def read(self, after: Optional[Cursor], max_bytes: int) -> List[Tuple[bytes, Cursor]]:
        start = after if after is not None else self._done
        found: List[Tuple[bytes, Cursor]] = []
        total = 0
        for number in self._segments():
            if start is not None and number < start[0]:
                continue
            offset = start[1] if start is not None and number == start[0] else 0
            for record, cursor in self._records(number, offset):
                found.append((record, cursor))
                total += len(record)
                if total >= max_bytes:
                    return found
        return found

    def _records(self, number: int, offset: int) -> List[Tuple[bytes, Cursor]]:
        records: List[Tuple[bytes, Cursor]] = []
        try:
            with open(self._path(number), "rb") as file:
                file.seek(offset)
                while True:
                    head = file.read(HEADER_SIZE)
                    if len(head) < HEADER_SIZE:
                        break
                    try:
                        rest = file.read(record_length(head) - HEADER_SIZE)
                        record = head + rest
                        decode_record(record)
                    except RecordError:
                        break  # a torn or damaged record: the rest of the file is not read
                    offset += len(record)
                    records.append((record, (number, offset)))
        except FileNotFoundError:
            pass
        return records

    # -- releasing ------------------------------------------------------------------------------
    def release(self, through: Cursor) -> None:
        previous = self._done
        self._done = through
        if through == self._last:
            self._clear()
            return
        number = through[0]
        if previous is not None and previous[0] == number and (
            number == self._current or through[1] < self._closed_size(number)
        ):
            return  # within a segment not yet read to its end: nothing to delete
        kept = 0
        for segment in self._segments():
            if segment < number or (
                segment == number
                and segment != self._current
                and through[1] >= self._closed_size(segment)
            ):
                self._remove(self._path(segment))  # wholly released
            else:
                kept += 1
        if not kept:
            self._clear()

    def _closed_size(self, number: int) -> int:
        size = self._sizes.get(number)
        if size is None:
            size = self._sizes[number] = _size(self._path(number))
        return size

    def _clear(self) -> None:
        """Every record is released: no file is left."""
        if self._file is not None:
            self._file.close()
            self._file = None
        for number in self._segments():
            self._remove(self._path(number))
        self._remove(os.path.join(self.directory, _DONE))
        self._current += 1
        self._done = self._done_written = self._last = None

    def sync(self) -> None:
        """Keep the release cursor on disk (a restart starts after it)."""
        done = self._done
        if done == self._done_written or done is None:
            return
        path = os.path.join(self.directory, _DONE)
        with open(path + ".new", "w") as file:
            file.write("%d %d\n" % done)
        os.replace(path + ".new", path)
        self._done_written = done

    def close(self) -> None:
        self.sync()
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- files ----------------------------------------------------------------------------------
    def _path(self, number: int) -> str:
        return os.path.join(self.directory, "%016d.hints" % number)

    def _segments(self) -> List[int]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(m.group(1)) for m in map(_SEGMENT.match, names) if m)

    def _read_done(self) -> Optional[Cursor]:
        try:
            with open(os.path.join(self.directory, _DONE)) as file:
                number, offset = file.read().split()
            return int(number), int(offset)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _remove(path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
