"""Mapping suggestions: source schema → target schema, table → table, column → column. Pure.

Each suggestion carries a confidence in 0..1 and its evidence:
- columns: 0.70 name similarity (normalised, see naming.py) + 0.20 type compatibility (lossless 1,
  lossy 0.5, incompatible 0) + 0.10 position (relative ordinal distance);
- tables: 0.55 name similarity + 0.35 share of columns that found a partner + 0.10 schema mapping;
- schemas: name similarity (default schemas dbo/public/main match) blended with shared table names.
Pairs are assigned greedily by descending confidence, one partner each; below the threshold a
name is left unmapped and listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, Field
from rapidfuzz import fuzz, process

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.engine.typemap import Fidelity
from ombudsman.metadata import naming
from ombudsman.metadata.types import column_compatibility

TYPE_SCORE: dict[str, float] = {"lossless": 1.0, "lossy": 0.5, "incompatible": 0.0}
COLUMN_THRESHOLD = 0.55
TABLE_THRESHOLD = 0.5
SCHEMA_THRESHOLD = 0.5
TABLE_CANDIDATES = 5  # targets scored in full per source table


class ColumnSuggestion(BaseModel):
    source: str
    target: str
    confidence: float
    name_similarity: float
    type_compatibility: Fidelity
    source_type: str
    target_type: str
    evidence: list[str] = Field(default_factory=list)
    # "model": the language model paired these names (model_mapping.py); a person approves them. Sent
    # only on the model's pairs: a page of suggestions is bounded in bytes (rpc.fit_page), and a field
    # repeated on every matcher column made pages of 900-table catalogs hold fewer tables
    suggested_by: Literal["matcher", "model"] = Field(default="matcher", exclude_if=lambda v: v == "matcher")


class TableSuggestion(BaseModel):
    source_table: str  # schema.table
    target_table: str
    confidence: float
    name_similarity: float
    column_coverage: float
    columns: list[ColumnSuggestion] = Field(default_factory=list)
    unmapped_source_columns: list[str] = Field(default_factory=list)
    unmapped_target_columns: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(default_factory=list)

    def column_map(self, include_model: bool = True) -> dict[str, str]:
        """Source column → target column; `include_model=False` leaves out the model's pairs
        (automatic approval takes only what the matcher found)."""
        return {c.source: c.target for c in self.columns if include_model or c.suggested_by != "model"}


class SchemaSuggestion(BaseModel):
    source: str
    target: str
    confidence: float
    evidence: list[str] = Field(default_factory=list)


class MappingSuggestions(BaseModel):
    """Everything suggested for a project, with what found no partner on either side."""

    schemas: list[SchemaSuggestion] = Field(default_factory=list)
    tables: list[TableSuggestion] = Field(default_factory=list)
    unmapped_source_tables: list[str] = Field(default_factory=list)
    unmapped_target_tables: list[str] = Field(default_factory=list)

    def table(self, source_table: str) -> TableSuggestion | None:
        wanted = source_table.lower()
        return next((t for t in self.tables if t.source_table.lower() == wanted), None)


X = TypeVar("X")
Y = TypeVar("Y")


def assign(
    left: Iterable[X], right: Iterable[Y], score: Callable[[X, Y], float], threshold: float
) -> list[tuple[X, Y, float]]:
    """Greedy one-to-one assignment by descending score (ties keep input order), scores ≥ threshold."""
    lefts, rights = list(left), list(right)
    scored = [(score(a, b), i, j) for i, a in enumerate(lefts) for j, b in enumerate(rights)]
    return [(lefts[i], rights[j], value) for value, i, j in assign_scored(scored, threshold)]


def assign_scored(scored: Iterable[tuple[float, int, int]], threshold: float) -> list[tuple[float, int, int]]:
    """Greedy one-to-one assignment of (score, left index, right index) triples."""
    used_left: set[int] = set()
    used_right: set[int] = set()
    chosen: list[tuple[float, int, int]] = []
    for value, i, j in sorted(scored, key=lambda x: (-x[0], x[1], x[2])):
        if value < threshold:
            break
        if i in used_left or j in used_right:
            continue
        used_left.add(i)
        used_right.add(j)
        chosen.append((value, i, j))
    return chosen


def name_matrix(left: list[str], right: list[str]) -> np.ndarray:
    """0..1 similarity of every pair of normalised names (best of ratio and token-sort ratio), vectorised."""
    if not left or not right:
        return np.zeros((len(left), len(right)), dtype=np.float32)
    plain = process.cdist(left, right, scorer=fuzz.ratio, workers=1)
    sorted_tokens = process.cdist(left, right, scorer=fuzz.token_sort_ratio, workers=1)
    return np.maximum(plain, sorted_tokens) / 100.0


def suggest_columns(
    source: TableInfo, source_kind: str, target: TableInfo, target_kind: str, threshold: float = COLUMN_THRESHOLD
) -> tuple[list[ColumnSuggestion], list[str], list[str]]:
    """Column pairs of two tables (source order), and the unmapped columns of each side."""
    n_source, n_target = max(len(source.columns), 1), max(len(target.columns), 1)
    names = name_matrix([naming.column_name(c.name) for c in source.columns],
                        [naming.column_name(c.name) for c in target.columns])
    scored: list[tuple[float, int, int]] = []
    details: dict[tuple[int, int], tuple[float, Fidelity]] = {}
    for i, s in enumerate(source.columns):
        for j, t in enumerate(target.columns):
            name = 1.0 if s.name.lower() == t.name.lower() else float(names[i, j])
            if name < 0.5:  # types and positions alone never pair two unrelated names
                continue
            compat = column_compatibility(s, source_kind, t, target_kind)
            position = 1.0 - abs(i / n_source - j / n_target)
            confidence = round(0.70 * name + 0.20 * TYPE_SCORE[compat] + 0.10 * position, 4)
            scored.append((confidence, i, j))
            details[(i, j)] = (name, compat)
    suggestions: list[ColumnSuggestion] = []
    for confidence, i, j in sorted(assign_scored(scored, threshold), key=lambda x: x[1]):
        s, t = source.columns[i], target.columns[j]
        name, compat = details[(i, j)]
        evidence = ["same name" if s.name.lower() == t.name.lower() else f"name similarity {name:.2f}",
                    f"types {s.data_type} → {t.data_type}: {compat}"]
        suggestions.append(ColumnSuggestion(
            source=s.name, target=t.name, confidence=confidence, name_similarity=round(name, 4),
            type_compatibility=compat, source_type=s.data_type, target_type=t.data_type, evidence=evidence,
        ))
    mapped_source = {x.source for x in suggestions}
    mapped_target = {x.target for x in suggestions}
    return (
        suggestions,
        [c.name for c in source.columns if c.name not in mapped_source],
        [c.name for c in target.columns if c.name not in mapped_target],
    )


def suggest_schemas(source: Catalog, target: Catalog, threshold: float = SCHEMA_THRESHOLD) -> list[SchemaSuggestion]:
    """Schema pairs: name similarity, blended with how many table entities the two schemas share."""
    def entities(catalog: Catalog, schema: str) -> set[str]:
        return {naming.table_name(t.name).entity for t in catalog.tables if t.schema_name == schema}

    source_schemas = source.schemas or sorted({t.schema_name for t in source.tables})
    target_schemas = target.schemas or sorted({t.schema_name for t in target.tables})

    def score(a: str, b: str) -> float:
        name = naming.schema_similarity(a, b)
        left, right = entities(source, a), entities(target, b)
        overlap = len(left & right) / max(len(left), 1) if left else 0.0
        return round(0.6 * name + 0.4 * overlap, 4) if left else round(name, 4)

    pairs = assign(source_schemas, target_schemas, score, threshold)
    if not pairs and len(source_schemas) == 1 and len(target_schemas) == 1:
        pairs = [(source_schemas[0], target_schemas[0], score(source_schemas[0], target_schemas[0]))]
    return [
        SchemaSuggestion(source=a, target=b, confidence=value, evidence=[f"schema names {a} ~ {b}"])
        for a, b, value in pairs
    ]


def suggest(
    source: Catalog,
    target: Catalog,
    *,
    schema_map: dict[str, str] | None = None,
    table_threshold: float = TABLE_THRESHOLD,
    column_threshold: float = COLUMN_THRESHOLD,
) -> MappingSuggestions:
    """Suggest schema, table and column mappings from a source catalog onto a target catalog.

    `schema_map` (source schema → target schema, e.g. the project's schema mappings) overrides the
    suggested schema pairs.
    """
    schemas = suggest_schemas(source, target)
    if schema_map:
        given = {k.lower(): v for k, v in schema_map.items()}
        schemas = [s for s in schemas if s.source.lower() not in given]
        schemas += [SchemaSuggestion(source=k, target=v, confidence=1.0, evidence=["given schema mapping"])
                    for k, v in schema_map.items()]
    schema_pairs = {(s.source.lower(), s.target.lower()) for s in schemas}
    column_cache: dict[tuple[str, str], tuple[list[ColumnSuggestion], list[str], list[str]]] = {}

    def columns(s: TableInfo, t: TableInfo) -> tuple[list[ColumnSuggestion], list[str], list[str]]:
        key = (s.qualified_name, t.qualified_name)
        if key not in column_cache:
            column_cache[key] = suggest_columns(s, source.kind, t, target.kind, column_threshold)
        return column_cache[key]

    def table_score(s: TableInfo, t: TableInfo) -> float:
        name = naming.table_similarity(s.name, t.name)
        if name < 0.4:
            return 0.0
        pairs, _, _ = columns(s, t)
        coverage = len(pairs) / max(len(s.columns), len(t.columns), 1)
        in_schema = 1.0 if (s.schema_name.lower(), t.schema_name.lower()) in schema_pairs else 0.0
        return round(0.55 * name + 0.35 * coverage + 0.10 * in_schema, 4)

    # only the few best-named targets of each source table are scored in full (columns and all)
    entities = name_matrix([naming.table_name(t.name).entity for t in source.tables],
                           [naming.table_name(t.name).entity for t in target.tables])
    scored: list[tuple[float, int, int]] = []
    by_name: dict[str, list[int]] = {}  # targets by lower-case name (a scan per source table was quadratic)
    for j, t in enumerate(target.tables):
        by_name.setdefault(t.name.lower(), []).append(j)
    for i, s in enumerate(source.tables):
        if not len(target.tables):
            break
        row = entities[i]
        best = [int(j) for j in np.argsort(-row, kind="stable")[:TABLE_CANDIDATES] if row[j] >= 0.4]
        same = by_name.get(s.name.lower(), [])
        for j in dict.fromkeys(best + same):
            scored.append((table_score(s, target.tables[j]), i, j))
    pairs = [(source.tables[i], target.tables[j], value) for value, i, j in assign_scored(scored, table_threshold)]
    tables: list[TableSuggestion] = []
    for s, t, confidence in sorted(pairs, key=lambda p: p[0].qualified_name.lower()):
        cols, left, right = columns(s, t)
        name = naming.table_similarity(s.name, t.name)
        coverage = len(cols) / max(len(s.columns), len(t.columns), 1)
        tables.append(
            TableSuggestion(
                source_table=s.qualified_name,
                target_table=t.qualified_name,
                confidence=confidence,
                name_similarity=round(name, 4),
                column_coverage=round(coverage, 4),
                columns=cols,
                unmapped_source_columns=left,
                unmapped_target_columns=right,
                evidence=[
                    f"table names {s.name} ~ {t.name}: {name:.2f}",
                    f"{len(cols)} of {len(s.columns)} source columns mapped",
                ],
            )
        )
    mapped_source = {t.source_table for t in tables}
    mapped_target = {t.target_table for t in tables}
    return MappingSuggestions(
        schemas=schemas,
        tables=tables,
        unmapped_source_tables=[t.qualified_name for t in source.tables if t.qualified_name not in mapped_source],
        unmapped_target_tables=[t.qualified_name for t in target.tables if t.qualified_name not in mapped_target],
    )
