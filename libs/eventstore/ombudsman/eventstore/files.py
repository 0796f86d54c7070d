"""Files too large for one bus message (the export of a long run, of the audit log) travel through the
JetStream Object Store bucket `OMB_FILES`: the service puts the file there and answers with a
reference; the gateway reads it back and sends it to the client. Objects expire after `FILE_TTL`,
so nothing needs cleaning up; any replica can serve either side.

A file small enough rides inline in the reply (`content_b64`), as before.
"""

from __future__ import annotations

import base64
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError

from ombudsman.contracts.envelope import new_id
from ombudsman.contracts.replies import NotFound

FILES_BUCKET = "OMB_FILES"
FILE_TTL = 3600.0  # seconds an object is kept: time enough to download it
INLINE_MAX = 512 * 1024  # bytes sent inside the reply itself (base64 grows them by a third)


async def files_store(js: JetStreamContext, *, replicas: int = 1) -> Any:
    """The `OMB_FILES` object store (created on first use)."""
    try:
        return await js.object_store(FILES_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        config = ObjectStoreConfig(description="Ombudsman files too large for one message (exports)",
                                   ttl=FILE_TTL, storage=StorageType.FILE, replicas=replicas)
        return await js.create_object_store(FILES_BUCKET, config=config)


async def file_reply(js: JetStreamContext, content: bytes, *, content_type: str, filename: str,
                     replicas: int = 1) -> dict[str, Any]:
    """A reply carrying a file: inline (`content_b64`) when small, else a reference (`object`) to it
    in the object store."""
    reply: dict[str, Any] = {"content_type": content_type, "filename": filename, "size": len(content)}
    if len(content) <= INLINE_MAX:
        return {**reply, "content_b64": base64.b64encode(content).decode()}
    key = f"{new_id()}-{filename}"
    store = await files_store(js, replicas=replicas)
    await store.put(key, content)
    return {**reply, "object": key}


async def read_file(js: JetStreamContext, key: str) -> bytes:
    """The content of an object a service put in `OMB_FILES`; NotFound once it has expired."""
    try:
        store = await js.object_store(FILES_BUCKET)
        found = await store.get(key)
    except (BucketNotFoundError, ObjectNotFoundError, NotFoundError):
        raise NotFound(f"the file {key!r} is gone (files are kept {FILE_TTL / 60:g} minutes): export it again",
                       {"object": key}) from None
    return bytes(found.data or b"")
