"""Migration code generation (the metadata service): `GET /projects/{id}/codegen/{platform}` answers a
zip of the generated files. The metadata service records each generation as `CodeGenerated`; its
files come in bus-sized pages, fetched here until the last one."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from ombudsman.contracts.replies import Conflict, OmbudsmanError
from ombudsman.gateway.deps import BusDep, CurrentUser, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.project_params import PID

router = APIRouter(tags=["projects"], responses=COMMON_ERRORS)

Platform = Literal["snowflake", "bigquery", "databricks", "beam", "dbt"]
SAFE_PATH = re.compile(r"^[a-z0-9_]+(/[a-z0-9_][a-z0-9_.-]*)+$")  # what the generators write; no `..`, no root
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same files give the same zip


def zip_files(files: list[dict[str, Any]]) -> bytes:
    """A deflated zip of {path, content} files (paths checked: nothing outside the archive's root)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in files:
            path = str(item["path"])
            if not SAFE_PATH.match(path) or ".." in path.split("/"):
                raise OmbudsmanError(f"generated file with an unsafe path {path!r}", {"path": path})
            info = zipfile.ZipInfo(path, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, item["content"])
    return buffer.getvalue()


@router.get(
    "/projects/{project_id}/codegen/{platform}", tags=["metadata"],
    summary="Migration code for a platform, generated from the approved mappings (a zip)",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The generated files"}},
)
async def codegen(project_id: PID, platform: Platform, user: CurrentUser, bus: BusDep) -> Response:
    """Generate (and record) the platform's files and answer them as a zip: 404 when the project has
    no approved mapping, 422 for an unknown platform."""
    await visible_project(bus, user, project_id)
    payload = {"project_id": project_id, "platform": platform}
    reply = await bus.command("metadata", "generate_code", payload, user.actor, wait=120)
    files = list(reply["files"])
    following = reply.get("next_offset")
    while following is not None:
        page = await bus.query("metadata", "code_files", payload | {"offset": following}, user.actor, wait=120)
        files += page["files"]
        following = page.get("next_offset")
    recorded = {a["path"]: a["sha256"] for a in reply["artefacts"]}
    if {f["path"]: hashlib.sha256(f["content"].encode()).hexdigest() for f in files} != recorded:
        # a later page was rendered after the mappings changed: never hand out a mixed bundle
        raise Conflict("the approved mappings changed while the code was fetched: ask again",
                       {"project_id": project_id, "platform": platform})
    return Response(zip_files(files), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{project_id}-{platform}.zip"',
        "X-Ombudsman-Generator-Version": str(reply.get("generator_version", "")),
    })
