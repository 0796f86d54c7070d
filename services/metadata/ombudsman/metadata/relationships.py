"""Relationship inference: which column of which table references which other table. Pure.

Four kinds of evidence, merged per (child table, child columns, parent table, parent columns):
- `declared`: a FOREIGN KEY of the catalog (confidence 1.0);
- `name_pattern`: `CustomerKey` / `customer_id` / `cust_sk` in a table other than the customer
  table → the table whose entity is `customer` (`DimCustomer`, `customers`, `dim_customer`),
  onto its primary key;
- `workload`: join pairs the workload service saw in production queries, one side on its table's
  key (more executions, more confidence);
- `data`: value inclusion measured on the data (`apply_inclusion`): share of non-null child values
  found in the parent.
Independent evidence is combined as 1 - Π(1 - confidence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field
from sqlglot import exp

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.metadata import keynames, naming
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
    role: str | None = None  # role-playing key: `order` of OrderDateKey → DimDate
    hierarchy: bool = False  # a self-reference (ParentEmployeeKey → DimEmployee.EmployeeKey)
    match_length: int = Field(default=0, exclude=True)  # entity words the name matched (ranking only)

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
            existing.role = existing.role or rel.role
            existing.hierarchy = existing.hierarchy or rel.hierarchy
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


def _key_column(table: TableInfo) -> str | None:
    """The table's single-column key: declared, else a key-named column naming the table itself."""
    declared_key = _single_key(table)
    if declared_key is not None or table.primary_key:
        return declared_key
    entity = keynames.entity_words(table.name)
    prefix = keynames.column_prefix(table)
    for column in table.columns:
        parsed = keynames.parse_key(column.name, prefix)
        if parsed and parsed.key_class == "key" and keynames.split_role(parsed.entity, entity) == ():
            return column.name
    return None


@dataclass(frozen=True)
class _Parent:
    """A table other tables may reference: its key and the entity words that name it."""

    table: TableInfo
    key: str
    targets: list[tuple[str, ...]]


def _parents(catalog: Catalog) -> list[_Parent]:
    found = []
    for table in catalog.tables:
        key = _key_column(table)
        if key is None:
            continue
        targets = {keynames.entity_words(table.name), keynames.key_stem(table, key)}
        targets |= set(keynames.compound_targets(table, key))
        found.append(_Parent(table=table, key=key, targets=sorted((t for t in targets if t), key=len, reverse=True)))
    return found


def _business_column(parent: TableInfo, child_column: str) -> str | None:
    """A unique column of the parent named like the child column (`category_code` → its `category_code`)."""
    for unique in parent.unique_constraints:
        if len(unique) == 1 and naming.column_name(unique[0]) == naming.column_name(child_column):
            return unique[0]
    return None


def _candidate(child: TableInfo, column: str, parent: _Parent, catalog: Catalog,
               parsed: keynames.KeyName | None, prefixes: dict[str, str | None]) -> Relationship | None:
    """`child.column` (read by its name as `parsed`) → `parent` when the column's entity words end
    with one of the parent's names; `prefixes` holds each table's column prefix (computed once)."""
    if parsed is None:
        return None
    match = next(((t, r) for t in parent.targets if (r := keynames.split_role(parsed.entity, t)) is not None), None)
    if match is None:
        return None
    target, roles = match
    if len(roles) == 1 and len(roles[0]) <= 2:  # an undetected column prefix (`ss`), not a role
        roles = ()
    self_reference = parent.table is child
    if self_reference and (not roles or column.lower() == parent.key.lower()):
        return None  # the table's own key or business key
    parent_column = _business_column(parent.table, column) if parsed.key_class == "id" else None
    parent_column = parent_column or parent.key
    exact = parent_column.lower() == column.lower()
    if self_reference:
        confidence, why = 0.7, f"{column} names its own table's {'/'.join(target)} with role {' '.join(roles)}: hierarchy"
    elif roles:
        confidence, why = 0.7, f"role-playing key: role {' '.join(roles)} of {'/'.join(target)}"
    elif exact:
        confidence, why = 0.85, f"same name as {parent.table.name}'s key {parent_column}"
    elif target in keynames.compound_targets(parent.table, parent.key):
        confidence, why = 0.65, f"{column} abbreviates {parent.table.name}'s key {parent_column}"
    elif target == keynames.key_stem(parent.table, parent_column) or parent_column != parent.key:
        confidence, why = 0.8, f"{column} matches {parent.table.name}'s key {parent_column} (prefixes stripped)"
    else:
        confidence, why = 0.7, f"{column} names {parent.table.name}; its key is {parent_column}"
    parent_key_class = keynames.parse_key(parent_column, prefixes[parent.table.qualified_name])
    if parent_key_class is not None and parent_key_class.key_class != parsed.key_class:
        confidence -= 0.1
    child_info, parent_info = child.column(column), parent.table.column(parent_column)
    if child_info is not None and parent_info is not None:
        compat = column_compatibility(child_info, catalog.kind, parent_info, catalog.kind)
        if compat == "incompatible":
            return None
        if compat == "lossy":
            confidence -= 0.1
    if naming.table_name(parent.table.name).role == "dimension" or keynames.entity_words(parent.table.name) != tuple(
            keynames._words(parent.table.name)):
        confidence += 0.05  # a dimension-named parent is the expected home of a key
    confidence = round(min(confidence, 0.95), 4)
    return Relationship(
        child_table=child.qualified_name, child_columns=[column], parent_table=parent.table.qualified_name,
        parent_columns=[parent_column], confidence=confidence, role=" ".join(roles) or None,
        hierarchy=self_reference, match_length=len(target),
        evidence=[Evidence(kind="name_pattern", confidence=confidence, detail=f"{column} → {parent.table.name}: {why}")],
    )


def by_name(catalog: Catalog) -> list[Relationship]:
    """Relationships suggested by column names: `CustomerKey` → `DimCustomer`, `ss_customer_sk` →
    `customer.c_customer_sk`, `OrderDateKey` → `DimDate`, `ParentEmployeeKey` → `DimEmployee` (hierarchy)."""
    parents = _parents(catalog)
    # each table's column prefix once, and parents by the last word of their names: a column can only
    # name a parent whose name its entity words end with (900 tables: no tables x columns x parents scan)
    prefixes = {t.qualified_name: keynames.column_prefix(t) for t in catalog.tables}
    by_last: dict[str, list[_Parent]] = {}
    for parent in parents:
        for last in {t[-1] for t in parent.targets if t}:
            by_last.setdefault(last, []).append(parent)
    best: dict[tuple[str, str], Relationship] = {}
    ranks: dict[tuple[str, str], tuple[int, bool, float]] = {}
    for child in catalog.tables:
        own_key = (_key_column(child) or "").lower()
        for column in child.columns:
            if column.name.lower() == own_key:
                continue  # a table's own key names its own entity (a shared key would need the data)
            parsed = keynames.parse_key(column.name, prefixes[child.qualified_name])
            if parsed is None or not parsed.entity:
                continue
            for parent in by_last.get(parsed.entity[-1], []):
                rel = _candidate(child, column.name, parent, catalog, parsed, prefixes)
                if rel is None:
                    continue
                key = (rel.child_table.lower(), column.name.lower())
                # one parent per child column: the longest entity named, in the same schema, best supported
                rank = (rel.match_length, parent.table.schema_name.lower() == child.schema_name.lower(), rel.confidence)
                if key not in best or rank > ranks[key]:
                    best[key], ranks[key] = rel, rank
    return list(best.values())


def _find_table(catalog: Catalog, name: str) -> TableInfo | None:
    parts = name.split(".")
    if len(parts) >= 2:
        return catalog.table(parts[-2], parts[-1])
    matches = [t for t in catalog.tables if t.name.lower() == name.lower()]
    return matches[0] if len(matches) == 1 else None


def from_workload(catalog: Catalog, pairs: list[JoinPair]) -> list[Relationship]:
    """Join pairs seen in the workload; the side joined on its key is the parent. A join on columns
    that are neither table's key is no relationship."""
    found: list[Relationship] = []
    for pair in pairs:
        left, right = _find_table(catalog, pair.left_table), _find_table(catalog, pair.right_table)
        if left is None or right is None or left is right:
            continue
        left_col, right_col = left.column(pair.left_column), right.column(pair.right_column)
        if left_col is None or right_col is None:
            continue
        right_key = (_key_column(right) or "").lower() == right_col.name.lower()
        left_key = (_key_column(left) or "").lower() == left_col.name.lower()
        if not (left_key or right_key):
            # a join, not a reference: returns matched to their sales on the ticket number or the customer
            # (fact to fact), two date dimensions matched by date. Value inclusion cannot tell them apart
            # from a foreign key (every ticket of a return is a sale's), so they propose nothing.
            continue
        if left_key and not right_key:
            child, child_col, parent, parent_col = right, right_col.name, left, left_col.name
        else:
            child, child_col, parent, parent_col = left, left_col.name, right, right_col.name
        confidence = round(min(0.9, 0.5 + 0.1 * math.log10(pair.executions + 1)), 4)
        detail = f"joined in {pair.executions} workload execution(s)"
        found.append(
            Relationship(
                child_table=child.qualified_name,
                child_columns=[child_col],
                parent_table=parent.qualified_name,
                parent_columns=[parent_col],
                confidence=confidence,
                evidence=[Evidence(kind="workload", confidence=confidence, detail=detail)],
            )
        )
    return found


def infer(catalog: Catalog, join_pairs: list[JoinPair] | None = None, *, min_confidence: float = 0.5) -> list[Relationship]:
    """Every relationship of a catalog from declarations, names and workload joins, merged."""
    candidates = declared(catalog) + by_name(catalog) + from_workload(catalog, join_pairs or [])
    return [r for r in merge(candidates) if r.confidence >= min_confidence]


def inclusion_query(rel: Relationship, dialect: str, sample_rows: int | None = None) -> str:
    """SQL counting (child non-null values, those missing from the parent): one pushed-down query.
    With `sample_rows`, only that many child rows are checked (a big fact table stays cheap)."""
    child_schema, child_name = rel.child_table.rsplit(".", 1)
    parent_schema, parent_name = rel.parent_table.rsplit(".", 1)
    parent = exp.table_(parent_name, db=parent_schema, quoted=True).as_("p")
    not_null = exp.and_(*[exp.column(col, quoted=True).is_(exp.null()).not_() for col in rel.child_columns])
    rows = exp.select(*[exp.column(col, quoted=True) for col in rel.child_columns]).from_(
        exp.table_(child_name, db=child_schema, quoted=True)).where(not_null)
    if sample_rows is not None:
        rows = rows.limit(sample_rows)
    child = rows.subquery("c")
    join_on = exp.and_(
        *[
            exp.column(pc, "p", quoted=True).eq(exp.column(cc, "c", quoted=True))
            for cc, pc in zip(rel.child_columns, rel.parent_columns, strict=True)
        ]
    )
    missing = exp.Exists(this=exp.select("1").from_(parent).where(join_on)).not_()
    total = exp.func("COUNT", exp.Star()).as_("child_values")
    orphans = exp.func("SUM", exp.Case().when(missing, exp.Literal.number(1)).else_(exp.Literal.number(0))).as_("orphans")
    return exp.select(total, orphans).from_(child).sql(dialect=dialect)


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
