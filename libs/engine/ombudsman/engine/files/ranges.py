"""Parts of one local file read at once: the duplicates' locate pass numbers a file's raw lines with
`row_number() OVER ()`, which DuckDB runs on one thread, so on a large file it cost about a third of the
whole validation on two cores (and more with more cores, where the main pass scales and it does not).

The file is cut just after an LF into `parts` byte ranges; each is read by DuckDB as a file of its own
(`ombrange://<path>@<start>-<end>`, through the fsspec filesystem `ByteRanges` registered on the
scanner), on its own connection, and its lines are numbered from the physical line it starts on (the
LFs before it, counted at C speed). A raw line never spans two ranges, as the raw reader splits on every
LF whatever the quoting. Only for plain local files in an encoding whose LF is one byte (UTF-8, Latin-1).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fsspec import AbstractFileSystem

PROTOCOL = "ombrange"
MIN_BYTES = 64 << 20  # below this a file is read in one part (the parts' start-up is not worth it)
_COMPRESSED = {".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz"}


class _RangeFile(io.RawIOBase):
    """Bytes [start, end) of a local file, seekable within them."""

    def __init__(self, path: str, start: int, end: int) -> None:
        super().__init__()
        self._file = open(path, "rb", buffering=0)
        self._start, self._size, self._pos = start, end - start, 0
        self._file.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, min(self._size, base + offset))
        self._file.seek(self._start + self._pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        """Straight from the file (RawIOBase's default goes through readinto and a second copy)."""
        left = self._size - self._pos
        data = self._file.read(left if size is None or size < 0 else min(size, left)) or b""
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._pos)
        if wanted <= 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:wanted]) or 0
        self._pos += got
        return got

    def close(self) -> None:
        self._file.close()
        super().close()


class ByteRanges(AbstractFileSystem):  # type: ignore[misc]
    """`ombrange://<path>@<start>-<end>`: a byte range of a local file, as a file of its own."""

    protocol = PROTOCOL

    def _parse(self, path: str) -> tuple[str, int, int]:
        stripped = self._strip_protocol(path)
        name, _, span = stripped.rpartition("@")
        start, _, end = span.partition("-")
        return "/" + name.lstrip("/"), int(start), int(end)

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode:
            raise PermissionError(f"{PROTOCOL}:// is read-only")
        return _RangeFile(*self._parse(path))

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        _, start, end = self._parse(path)
        return {"name": path, "size": end - start, "type": "file"}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        entry = self.info(path)
        return [entry] if detail else [entry["name"]]


def range_url(path: str, start: int, end: int) -> str:
    return f"{PROTOCOL}://{Path(path).resolve()}@{start}-{end}"


def splittable(path: str, compression: str, encoding: str) -> bool:
    """Whether a file may be read in byte ranges: local, plain (not compressed), LF a single byte."""
    file = Path(path)
    return (file.is_file() and compression in ("auto", "none") and file.suffix.lower() not in _COMPRESSED
            and encoding in ("utf-8", "latin-1") and file.stat().st_size >= MIN_BYTES)


def line_ranges(path: str, parts: int) -> list[tuple[int, int]]:
    """[start, end) byte ranges covering the file, about `parts` of them, each starting a line."""
    size = Path(path).stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(cuts[-1], size * i // parts))
            f.readline()  # to just after the next LF
            if f.tell() < size and f.tell() > cuts[-1]:
                cuts.append(f.tell())
    return list(zip(cuts, [*cuts[1:], size], strict=True))


def count_lines(path: str, start: int, end: int, *, chunk: int = 1 << 20) -> int:
    """The LFs in bytes [start, end) of a file."""
    count, left = 0, end - start
    with open(path, "rb") as f:
        f.seek(start)
        while left > 0 and (block := f.read(min(chunk, left))):
            count += block.count(b"\n")
            left -= len(block)
    return count
