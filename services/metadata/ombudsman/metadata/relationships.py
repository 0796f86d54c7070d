"""Relationship inference: which column of which table references which other table. Pure.

Four kinds of evidence, merged per (child table, child columns, parent table, parent columns):
- `declared`: a FOREIGN KEY of the catalog (confidence 1.0);
- `name_pattern`: `CustomerKey` / `customer_id` / `cust_sk` in a table other than the customer
  table → the table whose entity is `customer` (`DimCustomer`, `customers`, `dim_customer`),
  onto its primary key;
- `workload`: join pairs the workload service saw in production queries (more executions, more
  confidence);
- `data`: value inclusion measured on the data (`apply_inclusion`): share of non-null child values
  found in the parent.
Independent evidence is combined as 1 - Π(1 - confidence).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field
from sqlglot import exp

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.metadata import naming
from ombudsman.metadata.types import column_compatibility

EvidenceKind = Literal["declared", "name_pattern", "workload", "data"]


class Evidence(BaseModel):
    kind: EvidenceKind
    confidence: float
    detail: str


class Relationship(BaseModel):
    """`child_table(child_columns)` references `parent_table(parent_columns)`; tables as schema.table."""

    child_table: str
    child_columns: list[str]
    parent_table: str
    parent_columns: list[str]
    confidence: float
    evidence: list[Evidence] = Field(default_factory=list)

    @property
    def key(self) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
        return (
            self.child_table.lower(),
            tuple(c.lower() for c in self.child_columns),
            self.parent_table.lower(),
            tuple(c.lower() for c in self.parent_columns),
        )

    @property
    def kinds(self) -> list[str]:
        return sorted({e.kind for e in self.evidence})


class JoinPair(BaseModel):
    """A join seen by the workload service: `left_table.left_column = right_table.right_column`."""

    left_table: str
    left_column: str
    right_table: str
    right_column: str
    executions: int = Field(default=1, ge=0)


def combine(confidences: list[float]) -> float:
    """Independent evidence combined: 1 - Π(1 - c)."""
    remaining = 1.0
    for value in confidences:
        remaining *= 1.0 - max(0.0, min(1.0, value))
    return round(1.0 - remaining, 4)


def merge(relationships: list[Relationship]) -> list[Relationship]:
    """One relationship per key, with every piece of evidence and the combined confidence."""
    merged: dict[tuple[str, tuple[str, ...], str, tuple[str, ...]], Relationship] = {}
    for rel in relationships:
        existing = merged.get(rel.key)
        if existing is None:
            merged[rel.key] = rel.model_copy(deep=True)
        else:
            existing.evidence.extend(rel.evidence)
    for rel in merged.values():
        by_kind: dict[str, float] = {}
        for ev in rel.evidence:
            by_kind[ev.kind] = max(by_kind.get(ev.kind, 0.0), ev.confidence)
        rel.confidence = combine(list(by_kind.values()))
    return sorted(merged.values(), key=lambda r: (-r.confidence, r.child_table.lower(), r.child_columns))


def declared(catalog: Catalog) -> list[Relationship]:
    """The catalog's FOREIGN KEY constraints."""
    found = []
    for table in catalog.tables:
        for fk in table.foreign_keys:
            parent = catalog.table(fk.ref_schema, fk.ref_table)
            parent_name = parent.qualified_name if parent else f"{fk.ref_schema}.{fk.ref_table}"
            ref_columns = fk.ref_columns or (parent.primary_key if parent else [])
            found.append(
                Relationship(
                    child_table=table.qualified_name,
                    child_columns=list(fk.columns),
                    parent_table=parent_name,
                    parent_columns=list(ref_columns),
                    confidence=1.0,
                    evidence=[Evidence(kind="declared", confidence=1.0,
                                       detail=f"foreign key {fk.name or '(unnamed)'} declared")],
                )
            )
    return found


def _single_key(table: TableInfo) -> str | None:
    if len(table.primary_key) == 1:
        return table.primary_key[0]
    for unique in table.unique_constraints:
        if len(unique) == 1:
            return unique[0]
    return None


def _parent_column(parent: TableInfo, child_column: str) -> tuple[str, float, str] | None:
    """The column of `parent` a child column points at, with a confidence and why."""
    key = _single_key(parent)
    child_normal = naming.column_name(child_column)
    if key is not None:
        if key.lower() == child_column.lower():
            return key, 0.85, f"same name as {parent.name}'s key {key}"
        if naming.column_name(key) == child_normal:
            return key, 0.8, f"{child_column} matches {parent.name}'s key {key} after normalising"
        key_class = child_normal.rsplit(" ", 1)[-1]
        if naming.column_name(key).endswith(key_class) or naming.column_name(key) in {"#id", "#key", "id", "key"}:
            return key, 0.65, f"{child_column} names {parent.name}; its key is {key}"
    same = parent.column(child_column)
    if same is not None:
        return same.name, 0.55, f"{parent.name} has a column named {child_column}"
    return None


def by_name(catalog: Catalog) -> list[Relationship]:
    """Relationships suggested by column names (`CustomerKey` → `DimCustomer`, `customer_id` → `customers`)."""
    entities: dict[str, list[TableInfo]] = {}
    for table in catalog.tables:
        entities.setdefault(naming.table_name(table.name).entity, []).append(table)
    found: list[Relationship] = []
    for child in catalog.tables:
        child_entity = naming.table_name(child.name).entity
        own_key = [c.lower() for c in child.primary_key] if len(child.primary_key) == 1 else []
        for column in child.columns:
            normal = naming.column_name(column.name)
            if not normal.endswith(("#key", "#id")) or column.name.lower() in own_key:
                continue
            stem = naming.column_stem(column.name)
            if not stem or stem == child_entity:
                continue
            candidates = entities.get(stem) or entities.get(naming.singular(stem)) or []
            for parent in candidates:
                if parent is child:
                    continue
                target = _parent_column(parent, column.name)
                if target is None:
                    continue
                parent_column, confidence, why = target
                parent_info = parent.column(parent_column)
                if parent_info is not None:
                    compat = column_compatibility(column, catalog.kind, parent_info, catalog.kind)
                    if compat == "incompatible":
                        continue
                    if compat == "lossy":
                        confidence -= 0.1
                # a dimension-prefixed parent is the expected home of a key
                if naming.table_name(parent.name).role == "dimension":
                    confidence += 0.05
                found.append(
                    Relationship(
                        child_table=child.qualified_name,
                        child_columns=[column.name],
                        parent_table=parent.qualified_name,
                        parent_columns=[parent_column],
                        confidence=round(confidence, 4),
                        evidence=[Evidence(kind="name_pattern", confidence=round(confidence, 4),
                                           detail=f"{column.name} → {parent.name}: {why}")],
                    )
                )
    best: dict[tuple[str, str], Relationship] = {}
    for rel in found:  # one parent per child column: the best-supported candidate
        key = (rel.child_table.lower(), rel.child_columns[0].lower())
        if key not in best or rel.confidence > best[key].confidence:
            best[key] = rel
    return list(best.values())


def _find_table(catalog: Catalog, name: str) -> TableInfo | None:
    parts = name.split(".")
    if len(parts) >= 2:
        return catalog.table(parts[-2], parts[-1])
    matches = [t for t in catalog.tables if t.name.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def from_workload(catalog: Catalog, pairs: list[JoinPair]) -> list[Relationship]:
    """Join pairs seen in the workload; the side joined on its key is the parent."""
    found: list[Relationship] = []
    for pair in pairs:
        left, right = _find_table(catalog, pair.left_table), _find_table(catalog, pair.right_table)
        if left is None or right is None or left is right:
            continue
        left_col, right_col = left.column(pair.left_column), right.column(pair.right_column)
        if left_col is None or right_col is None:
            continue
        right_key = (_single_key(right) or "").lower() == right_col.name.lower()
        left_key = (_single_key(left) or "").lower() == left_col.name.lower()
        if left_key and not right_key:
            child, child_col, parent, parent_col = right, right_col.name, left, left_col.name
        else:
            child, child_col, parent, parent_col = left, left_col.name, right, right_col.name
        confidence = round(min(0.9, 0.5 + 0.1 * math.log10(pair.executions + 1)), 4)
        found.append(
            Relationship(
                child_table=child.qualified_name,
                child_columns=[child_col],
                parent_table=parent.qualified_name,
                parent_columns=[parent_col],
                confidence=confidence,
                evidence=[Evidence(kind="workload", confidence=confidence,
                                   detail=f"joined in {pair.executions} workload execution(s)")],
            )
        )
    return found


def infer(catalog: Catalog, join_pairs: list[JoinPair] | None = None, *, min_confidence: float = 0.5) -> list[Relationship]:
    """Every relationship of a catalog from declarations, names and workload joins, merged."""
    candidates = declared(catalog) + by_name(catalog) + from_workload(catalog, join_pairs or [])
    return [r for r in merge(candidates) if r.confidence >= min_confidence]


def inclusion_query(rel: Relationship, dialect: str) -> str:
    """SQL counting (child non-null values, those missing from the parent): one pushed-down query."""
    child_schema, child_name = rel.child_table.rsplit(".", 1)
    parent_schema, parent_name = rel.parent_table.rsplit(".", 1)
    child = exp.table_(child_name, db=child_schema, quoted=True).as_("c")
    parent = exp.table_(parent_name, db=parent_schema, quoted=True).as_("p")
    not_null = exp.and_(*[exp.column(col, "c", quoted=True).is_(exp.null()).not_() for col in rel.child_columns])
    join_on = exp.and_(
        *[
            exp.column(pc, "p", quoted=True).eq(exp.column(cc, "c", quoted=True))
            for cc, pc in zip(rel.child_columns, rel.parent_columns, strict=True)
        ]
    )
    missing = exp.Exists(this=exp.select("1").from_(parent).where(join_on)).not_()
    total = exp.func("COUNT", exp.Star()).as_("child_values")
    orphans = exp.func("SUM", exp.Case().when(missing, exp.Literal.number(1)).else_(exp.Literal.number(0))).as_("orphans")
    return exp.select(total, orphans).from_(child).where(not_null).sql(dialect=dialect)


def apply_inclusion(rel: Relationship, child_values: int, orphans: int) -> Relationship:
    """The relationship with data evidence: all values found → strong support, many orphans → refuted."""
    if child_values == 0:
        return rel
    included = 1.0 - orphans / child_values
    updated = rel.model_copy(deep=True)
    detail = f"{child_values - orphans} of {child_values} non-null values found in {rel.parent_table}"
    if included >= 0.999:
        updated.evidence.append(Evidence(kind="data", confidence=0.9, detail=detail))
        return merge([updated])[0]
    # Orphans weaken every other kind of evidence: the data disagrees with the names.
    updated.evidence.append(Evidence(kind="data", confidence=0.0, detail=detail))
    updated.confidence = round(merge([updated])[0].confidence * included, 4)
    return updated
