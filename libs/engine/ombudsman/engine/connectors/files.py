"""`file://`: a file config as a database, so a file set can be one side of every table validator.

    file:///abs/path/config.yaml                     a file config (ombudsman.engine.files.config)
    file:///abs/base/folder?config=<url-encoded YAML> the config inline, its patterns relative to the folder
    options: memory_limit=512MB, threads=2, bad_lines=fail|skip

Each file family of the config is a view (`main.<name>`) over `read_csv` / `read_parquet` of its files,
with the config's declared columns and types, in an in-process DuckDB whose memory and threads are
capped: validators push their SQL down into DuckDB, which streams over the files (spilling to a private
temporary folder past `memory_limit`). A family whose pattern matches no file is a view whose every
read fails naming it (a missing file is a failure, never an empty table). A line that does not match the columns is an error naming it
(`bad_lines=fail`, the default) or is left out (`bad_lines=skip`; the `file_checks` validator lists them).

Connection URLs are hostile input: the config and every file it names must lie inside
`OMB_FILE_ROOTS` once resolved (`..` and symlinks followed), checked where connections are saved
(`check_file_url`: the config's path) and again when the connector opens (every file). The database can
read exactly those files (`allowed_paths` with external access off, configuration locked) and runs
nothing but single SELECT statements (DuckDB would write an allowed path with `COPY ... TO`).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ombudsman.contracts.replies import Invalid, invalid_fields
from ombudsman.engine.connectors.duckdb import DuckDBConnector
from ombudsman.engine.connectors.sandbox import file_roots
from ombudsman.engine.connectors.urls import parse_url

_OPTIONS = {"memory_limit", "threads", "bad_lines", "config"}
_MEMORY = re.compile(r"^\d{1,6}(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$", re.IGNORECASE)


@dataclass(frozen=True)
class FileTarget:
    """What a file:// URL names: the config file (or the base folder of an inline config) and options."""

    path: Path  # resolved
    inline: str | None
    memory_limit: str
    threads: int
    bad_lines: str

    @property
    def base(self) -> Path:
        return self.path if self.inline is not None else self.path.parent


def file_target(url: str) -> FileTarget:
    """The parts of a file:// URL; `Invalid` naming what is wrong."""
    parsed = parse_url(url)
    if parsed.kind != "file":
        raise Invalid(f"not a file URL: {parsed.scheme}://", {"field": "url"})
    if parsed.host or parsed.username:
        raise Invalid("a file URL has no host: write file:///absolute/path/config.yaml", {"field": "url"})
    unknown = sorted(set(parsed.query) - _OPTIONS)
    if unknown:
        raise Invalid(f"unknown file URL option(s): {', '.join(unknown)} (known: {', '.join(sorted(_OPTIONS))})",
                      {"field": "url", "refused": unknown})
    memory = parsed.query.get("memory_limit", "512MB")
    threads = parsed.query.get("threads", "2")
    bad_lines = parsed.query.get("bad_lines", "fail")
    if not _MEMORY.match(memory):
        raise Invalid(f"file URL: memory_limit {memory!r} is not a size such as 512MB or 2GB", {"field": "url"})
    if not threads.isdigit() or not 1 <= int(threads) <= 64:
        raise Invalid(f"file URL: threads {threads!r} is not a number from 1 to 64", {"field": "url"})
    if bad_lines not in ("fail", "skip"):
        raise Invalid(f"file URL: bad_lines {bad_lines!r} is neither fail nor skip", {"field": "url"})
    from urllib.parse import unquote

    path = "/" + unquote(parsed.path)
    return FileTarget(Path(path).expanduser().resolve(), parsed.query.get("config"), memory, int(threads), bad_lines)


def is_platform(env: Mapping[str, str]) -> bool:
    """Running as part of the platform (its database or bus configured), not the standalone CLI."""
    return bool(env.get("OMB_DATABASE_URL") or env.get("OMB_NATS_URL"))


def check_file_url(url: str, *, field: str = "url", platform: bool = True, env: Mapping[str, str] | None = None) -> None:
    """`Invalid` naming `field` when a file:// URL's config (or inline config's folder) lies outside
    `OMB_FILE_ROOTS` once resolved. With no root configured the standalone CLI allows any path and the
    platform refuses every file."""
    target = file_target(url)
    roots = file_roots(env)
    if not roots and not platform:
        return
    if any(target.path == root or root in target.path.parents for root in roots):
        return
    allowed = ", ".join(str(r) for r in roots) or "none configured"
    raise Invalid(
        f"{field}: file config {str(target.path)!r} is outside the folders an administrator allowed "
        f"(OMB_FILE_ROOTS: {allowed})", {"field": field, "setting": "OMB_FILE_ROOTS"})


def read_file_config(url: str, *, env: Mapping[str, str] | None = None) -> tuple[Any, FileTarget]:
    """The checked FileConfig a file:// URL names, and the URL's parts; `Invalid` for a config outside
    the roots, unreadable or wrong (naming its fields)."""
    from ombudsman.engine.files.config import load_config, parse_config

    env = os.environ if env is None else env
    check_file_url(url, platform=is_platform(env), env=env)
    target = file_target(url)
    if target.inline is None:
        return load_config(target.path), target
    try:
        data = yaml.safe_load(target.inline)
    except yaml.YAMLError as error:
        raise invalid_fields(f"the inline file config is not YAML: {error}", {"config": str(error)}) from None
    return parse_config(data, target.path), target


def view_sql(spec: Any, files: Sequence[Path], *, skip_bad_lines: bool) -> str:
    """CREATE VIEW main.<spec name> over the spec's files, its columns as declared."""
    from ombudsman.engine.files.scan import quote_ident, reader, sql_string

    if not files:  # a missing file is a failure of whatever reads it, named, not a connection that cannot open
        typed = ", ".join(f"CAST(NULL AS {kind}) AS {quote_ident(name)}" for name, kind in spec.columns.items())
        missing = sql_string(f"{spec.name}: no file matches {spec.pattern!r}")
        return f"CREATE VIEW main.{quote_ident(spec.name)} AS SELECT {typed} FROM range(1) WHERE error({missing}) IS NULL"
    listed = "[" + ", ".join(sql_string(str(f)) for f in files) + "]"
    source = reader(spec, strict=not skip_bad_lines).replace("$files", listed)
    columns = ", ".join(quote_ident(c) for c in spec.columns)
    # every column parsed whatever the query reads: DuckDB's projection pushdown would otherwise skip
    # the columns a query does not name, so count(*) would count lines whose values do not parse
    # (and `bad_lines` would apply to some queries only); hash() is never NULL, the filter keeps all rows
    every = f" WHERE hash({columns}) IS NOT NULL" if spec.format != "parquet" else ""
    return f"CREATE VIEW main.{quote_ident(spec.name)} AS SELECT {columns} FROM {source}{every}"


class FileConnector(DuckDBConnector):
    """A file config's file families as DuckDB views (see the module docstring); read-only."""

    product = "DuckDB over files"

    def __init__(self, url: str, *, timeout: float = 60.0, pool_size: int = 4, connect_timeout: float = 10.0,
                 env: Mapping[str, str] | None = None) -> None:
        # the DuckDB connector's own URL parsing does not apply: the database is in memory
        super(DuckDBConnector, self).__init__(url, timeout=timeout, pool_size=pool_size, connect_timeout=connect_timeout)
        import threading

        self.target = file_target(url)
        self.path, self.read_only, self.config = ":memory:", False, {}
        self._database = None
        self._lock = threading.Lock()
        self._env = env
        self.files: dict[str, list[Path]] = {}
        self.file_config: Any = None  # the FileConfig, once open (the file_checks validator reads it)
        self._spill: str | None = None  # DuckDB's private spill folder, removed on close

    def prepare(self) -> duckdb.DuckDBPyConnection:
        """Resolve the config's files (inside the roots), open the capped DuckDB and create the views."""
        from ombudsman.engine.files.remote import register_filesystems
        from ombudsman.engine.files.scan import resolve_files

        env = os.environ if self._env is None else self._env
        config, target = read_file_config(self.url, env=env)
        self.file_config = config
        for spec in config.files:
            self.files[spec.name] = resolve_files(spec, config.base, platform=is_platform(env), env=env)
        allowed = sorted({str(f) for found in self.files.values() for f in found})
        self._spill = self._spill or tempfile.mkdtemp(prefix="omb-files-")
        database = duckdb.connect(":memory:", config={
            "memory_limit": target.memory_limit, "threads": target.threads,
            "temp_directory": self._spill,
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        })
        try:
            register_filesystems(database, [f for found in self.files.values() for f in found])  # s3:// …
            database.execute("SET allowed_paths = $paths", {"paths": allowed})
            database.execute("SET enable_external_access = false")
            for spec in config.files:
                database.execute(view_sql(spec, self.files[spec.name], skip_bad_lines=target.bad_lines == "skip"))
            database.execute("SET lock_configuration = true")
        except BaseException:
            database.close()
            raise
        return database

    async def open(self) -> None:
        """Check and resolve the files first, so a refusal (outside the roots, no file, a bad config)
        is the `Invalid` naming it rather than a connection failure."""
        if self._database is None:
            self._database = await asyncio.to_thread(self.prepare)
        await super().open()

    async def close(self) -> None:
        await super().close()
        spill, self._spill = self._spill, None
        if spill:
            shutil.rmtree(spill, ignore_errors=True)

    def _connect_raw(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._database is None:
                self._database = self.prepare()
            return self._database.cursor()

    def _relation(self, raw: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]) -> Any:
        statements = duckdb.extract_statements(sql)
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise Invalid("a file connection runs only single SELECT statements (files are read, never written)",
                          {"field": "sql"})
        return super()._relation(raw, sql, params)

    def _execute_blocking(self, raw: Any, sql: str, params: Sequence[Any], many: bool) -> None:
        raise Invalid("a file connection is read-only: files are read, never written", {"field": "sql"})
