"""Object-store file patterns (`s3://bucket/prefix/*.tsv`, and `gs://`, `az://` where their fsspec package
is installed), read by DuckDB through the fsspec filesystem registered on its connection
(`register_filesystem`): DuckDB's own httpfs extension would have to be downloaded, and extensions are
never downloaded here (`autoinstall_known_extensions = false`).

Which buckets and prefixes may be read is an administrator's setting, like `OMB_FILE_ROOTS` for folders:
`OMB_FILE_BUCKETS` (comma-separated `s3://bucket/prefix` roots). On the platform an object URL outside
them is refused, and with none configured every object URL is; the standalone CLI reads any bucket unless
the setting is given. Credentials come from the filesystem's usual environment (for S3: `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for an S3-compatible server), never from a config or an event.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ombudsman.contracts.replies import invalid_fields

SCHEMES = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}
_URL = re.compile(r"^([a-z0-9]+)://", re.IGNORECASE)


def scheme_of(pattern: str) -> str | None:
    """The object-store scheme of a pattern (`s3`, `gs`, `az`…), None for a local path."""
    match = _URL.match(pattern)
    return match.group(1).lower() if match and match.group(1).lower() in SCHEMES else None


@dataclass(frozen=True, order=True)
class ObjectFile:
    """One object matched by a pattern: its URL (what DuckDB reads) and size."""

    url: str
    size: int

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.url


def bucket_roots(env: Mapping[str, str] | None = None) -> list[str]:
    """The object-store prefixes files may be read under (`OMB_FILE_BUCKETS`), each ending in `/`."""
    raw = (os.environ if env is None else env).get("OMB_FILE_BUCKETS", "")
    return [p.strip().rstrip("/") + "/" for p in raw.split(",") if p.strip()]


def filesystem(scheme: str) -> Any:
    """The fsspec filesystem of `scheme` (credentials from its environment); `Invalid` when its package
    is not installed."""
    try:
        import fsspec

        return fsspec.filesystem(scheme)
    except (ImportError, ValueError) as error:
        raise invalid_fields(f"{scheme}:// files need the {SCHEMES[scheme]} package ({error})",
                             {"pattern": f"{scheme}:// unsupported here"}) from None


def resolve_objects(name: str, pattern: str, *, platform: bool, env: Mapping[str, str] | None = None) -> list[ObjectFile]:
    """The objects a pattern matches, sorted; `Invalid` when the pattern (or an object) lies outside the
    allowed buckets, or the store cannot be listed."""
    scheme = str(scheme_of(pattern))
    roots = bucket_roots(env)
    if "/../" in pattern or pattern.endswith("/..") or "/./" in pattern:
        raise invalid_fields(f"{name}: {pattern} has a relative segment", {f"files.{name}.pattern": "relative segment"})
    if roots or platform:
        if not any(pattern.startswith(root) for root in roots):
            allowed = ", ".join(roots) or "none configured"
            raise invalid_fields(f"{name}: {pattern} is outside the buckets an administrator allowed "
                                 f"(OMB_FILE_BUCKETS: {allowed})", {f"files.{name}.pattern": "outside OMB_FILE_BUCKETS"},
                                 setting="OMB_FILE_BUCKETS")
    fs = filesystem(scheme)
    try:
        found = fs.glob(pattern.split("://", 1)[1], detail=True)
    except (OSError, ValueError) as error:
        raise invalid_fields(f"{name}: cannot list {pattern}: {error}", {f"files.{name}.pattern": "cannot list"}) from None
    files = sorted(ObjectFile(f"{scheme}://{key}", int(info.get("size") or 0)) for key, info in found.items()
                   if info.get("type", "file") == "file")
    if roots or platform:
        outside = [f for f in files if not any(f.url.startswith(root) for root in roots)]
        if outside:
            raise invalid_fields(f"{name}: {outside[0].url} is outside OMB_FILE_BUCKETS",
                                 {f"files.{name}.pattern": "outside OMB_FILE_BUCKETS"}, setting="OMB_FILE_BUCKETS")
    return files


def register_filesystems(con: Any, files: list[Any]) -> None:
    """Register on a DuckDB connection the filesystem of every object-store scheme among `files`."""
    for scheme in sorted({s for f in files if (s := scheme_of(str(f)))}):
        con.register_filesystem(filesystem(scheme))
