"""Workload uploads through the folder shared with the workload service.

NATS refuses messages over its max_payload (1 MiB by default), so an upload's content cannot cross
the bus inline. The gateway writes it to a file of its own in `OMB_WORKLOAD_UPLOAD_DIR` (the same
folder and default as the workload service: `<OMB_HOME>/uploads`), sends the path, and deletes the
file once the workload service has answered (it reads the file while handling the command).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from fastapi import UploadFile

from ombudsman.contracts.replies import Invalid

CHUNK = 1024 * 1024


def _new_file(folder: Path) -> tuple[Path, BinaryIO]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gw-{uuid.uuid4().hex}.upload"
    return path, path.open("xb")  # exclusive: never overwrite another upload


@contextlib.asynccontextmanager
async def staged_file(upload: UploadFile, folder: Path, max_bytes: int) -> AsyncIterator[Path]:
    """Stream `upload` into a new file in `folder` (at most `max_bytes`); yield its path; delete it after."""
    path, out = await asyncio.to_thread(_new_file, folder)
    try:
        size = 0
        try:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise Invalid(f"file is larger than {max_bytes} bytes", {"field": "file", "max_bytes": max_bytes})
                await asyncio.to_thread(out.write, chunk)
        finally:
            await asyncio.to_thread(out.close)
        if size == 0:
            raise Invalid("file is empty", {"field": "file"})
        yield path
    finally:
        await asyncio.to_thread(path.unlink, True)


@contextlib.asynccontextmanager
async def staged_text(content: str, folder: Path) -> AsyncIterator[Path]:
    """Write `content` (UTF-8) to a new file in `folder`; yield its path; delete it after."""

    def write() -> Path:
        path, out = _new_file(folder)
        try:
            with out:
                out.write(content.encode("utf-8"))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    path = await asyncio.to_thread(write)
    try:
        yield path
    finally:
        await asyncio.to_thread(path.unlink, True)
