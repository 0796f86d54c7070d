"""Table classification: fact, dimension, bridge or staging; surrogate and business keys; SCD type 2.
Pure: reads a catalog and the inferred relationships, every conclusion with its evidence.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo
from ombudsman.metadata import classify_kinds, naming
from ombudsman.metadata.classify_kinds import DimensionKind, FactKind
from ombudsman.metadata.relationships import Relationship
from ombudsman.metadata.types import type_info

Role = Literal["fact", "dimension", "bridge", "staging", "unknown"]
ColumnRole = Literal["surrogate_key", "business_key", "foreign_key", "degenerate_dimension", "measure", "date",
                     "validity", "current_flag", "version", "audit", "attribute"]
# a fact's own identifiers that reference no other table (order/invoice/ticket numbers and lines)
_DEGENERATE = re.compile(r"(number|num|no|nbr|id|code|ticket|line|line_number|line_no)$")
_DATE_DIMENSION = re.compile(r"(^|_)(date|day|calendar|time)(_|$)")
_VALID_FROM = re.compile(
    r"^(valid|effective|eff|start|row_?start|dw_?from|from|begin|scd_?start|record_?start)"
    r"_?(from|start|date|dt|ts|time|timestamp)?(_?(date|dt|ts|time))?$"
)
_VALID_TO = re.compile(
    r"^(valid|effective|eff|end|expiry|expiration|expire|expired|row_?end|dw_?to|to|scd_?end|record_?end)"
    r"_?(to|end|until|thru|date|dt|ts|time|timestamp)?(_?(date|dt|ts|time))?$"
)
_CURRENT_FLAG = re.compile(r"^(is_?current|current_?(flag|ind|indicator|row|record)?|is_?active|active_?(flag|ind)|is_?latest|latest_?flag|cur_?flag)$")
_STAGING_COLUMNS = re.compile(r"^(load|loaded|etl|batch|ingest|ingested|import|imported|file|source_file|raw)_?")
_AUDIT_COLUMNS = re.compile(r"^(created|updated|modified|inserted|load|loaded|etl|batch|dw)_?")
_IDENTITY_DEFAULT = re.compile(r"nextval|identity|autoincrement|seq", re.IGNORECASE)
# words a versioned table's name adds to the entity it versions: customer_history, hist_customer,
# product_versions, dim_account_scd2 keep their rows of one customer, product, account
_VERSIONING_WORDS = {"history", "hist", "historical", "version", "versioned", "scd", "scd2", "type2", "archive",
                     "changes", "change", "snapshot", "snapshots", "timeline"}


class Scd2(BaseModel):
    valid_from: str | None = None
    valid_to: str | None = None
    current_flag: str | None = None
    version: str | None = None  # row-version counter (version, row_version, scd_version, version_number)
    evidence: list[str] = Field(default_factory=list)


class TableClass(BaseModel):
    """What a table is, and why."""

    table: str  # schema.table
    role: Role
    confidence: float
    surrogate_key: list[str] = Field(default_factory=list)
    business_key: list[str] = Field(default_factory=list)
    scd2: Scd2 | None = None
    measures: list[str] = Field(default_factory=list)  # numeric non-key columns (facts)
    date_columns: list[str] = Field(default_factory=list)
    foreign_keys: list[str] = Field(default_factory=list)  # child columns referencing other tables
    date_dimension: bool = False  # a dimension of dates/days/calendar (continuity checks apply)
    columns: dict[str, ColumnRole] = Field(default_factory=dict)  # what each column is, in this table's role
    fact_kind: FactKind | None = None  # facts only: transaction, periodic or accumulating snapshot
    dimension_kinds: list[DimensionKind] = Field(default_factory=list)  # dimensions only: date, time, junk, …
    evidence: list[str] = Field(default_factory=list)


def _snake(name: str) -> str:
    words = list(naming.tokens(name))
    if len(words) > 2 and len(words[0]) <= 2 and words[1] == "rec":  # TPC-DS: i_rec_start_date
        words = ["record", *words[2:]]
    return "_".join(words)


def detect_scd2(table: TableInfo, kind: str) -> Scd2 | None:
    """Validity columns (valid_from/valid_to, effective/expiry …) and a current flag → SCD type 2."""
    temporal = [c for c in table.columns if type_info(c, kind).family in ("date", "timestamp", "timestamptz")]
    valid_from = next((c.name for c in temporal if _VALID_FROM.match(_snake(c.name))), None)
    valid_to = next((c.name for c in temporal if _VALID_TO.match(_snake(c.name)) and c.name != valid_from), None)
    flag = next(
        (
            c.name
            for c in table.columns
            if _CURRENT_FLAG.match(_snake(c.name))
            and type_info(c, kind).family in ("boolean", "integer", "string")
        ),
        None,
    )
    version = next((c.name for c in table.columns if classify_kinds.is_version_column(c, kind, _snake(c.name))), None)
    found = [x for x in (valid_from, valid_to, flag, version) if x]
    if len(found) < 2 or not (valid_from or valid_to):
        return None
    evidence = []
    if valid_from:
        evidence.append(f"validity start column {valid_from}")
    if valid_to:
        evidence.append(f"validity end column {valid_to}")
    if flag:
        evidence.append(f"current-row flag {flag}")
    if version:
        evidence.append(f"row-version column {version}")
    return Scd2(valid_from=valid_from, valid_to=valid_to, current_flag=flag, version=version, evidence=evidence)


def _is_surrogate(table: TableInfo, column: ColumnInfo, kind: str) -> tuple[bool, str]:
    info = type_info(column, kind)
    if info.family != "integer":
        return False, ""
    if column.default and _IDENTITY_DEFAULT.search(column.default):
        return True, f"{column.name} is a generated integer key ({column.default})"
    normal = naming.column_name(column.name)
    if normal.endswith("#key"):
        return True, f"{column.name} is an integer key named like a surrogate (…key / …sk)"
    if normal in {"id", "#id"} or (normal.endswith("#id") and naming.column_stem(column.name)
                                  == naming.table_name(table.name).entity):
        return True, f"{column.name} is the table's own integer id"
    return False, ""


def _business_key(table: TableInfo, surrogate: list[str], scd2: Scd2 | None) -> tuple[list[str], str]:
    skip = {c.lower() for c in surrogate}
    if scd2:
        skip |= {c.lower() for c in (scd2.valid_from, scd2.valid_to, scd2.current_flag, scd2.version) if c}
    for unique in table.unique_constraints:
        remaining = [c for c in unique if c.lower() not in skip]
        if remaining and len(remaining) < len(unique) + 1:
            return remaining, f"unique constraint on {', '.join(unique)}"
    if table.primary_key and not surrogate:
        return list(table.primary_key), "primary key that is not a surrogate"
    entity = naming.table_name(table.name).entity
    entities = {entity, naming.singular(entity)}
    if scd2:
        entities.add(versioned_entity(entity))
    for column in table.columns:
        if column.name.lower() in skip:
            continue
        normal = naming.column_name(column.name)
        stem = naming.column_stem(column.name)
        if normal.endswith("#id") and stem in entities:
            return [column.name], f"{column.name} names the {stem} (…id / …code) beside the surrogate key"
    for column in table.columns:
        if column.name.lower() in skip or column.nullable:
            continue
        if naming.column_name(column.name).endswith("#id") and not naming.column_stem(column.name):
            return [column.name], f"{column.name} is a non-null id column"
    return [], ""


def versioned_entity(entity: str) -> str:
    """The entity a versioned table's rows are versions of: `customer history` → `customer`,
    `hist customer` → `customer`, `product version` → `product` (unchanged without such a word)."""
    words = entity.split()
    while len(words) > 1 and words[-1] in _VERSIONING_WORDS:
        words.pop()
    while len(words) > 1 and words[0] in _VERSIONING_WORDS:
        words.pop(0)
    return " ".join([*words[:-1], naming.singular(words[-1])])


def _versions_business_key(table: TableInfo, business: list[str]) -> bool:
    """SCD2 needs a business key that may repeat: one declared unique or the primary key holds one row each."""
    if not business:
        return False
    lowered = sorted(c.lower() for c in business)
    declared = [table.primary_key, *table.unique_constraints]
    return not any(sorted(c.lower() for c in unique) == lowered for unique in declared)


def classify_table(table: TableInfo, kind: str, relationships: list[Relationship]) -> TableClass:
    """Classify one table from its name, keys, columns and relationships."""
    name = table.qualified_name.lower()
    outgoing = [r for r in relationships if r.child_table.lower() == name and r.parent_table.lower() != name]
    incoming = [r for r in relationships if r.parent_table.lower() == name and r.child_table.lower() != name]
    fk_columns = {c.lower() for r in outgoing for c in r.child_columns}
    scd2 = detect_scd2(table, kind)
    evidence: list[str] = []
    surrogate: list[str] = []
    if len(table.primary_key) == 1:
        pk = table.column(table.primary_key[0])
        if pk is not None:
            is_sk, why = _is_surrogate(table, pk, kind)
            if is_sk:
                surrogate = [pk.name]
                evidence.append(why)
    business, why = _business_key(table, surrogate, scd2)
    if scd2 and not _versions_business_key(table, business):
        evidence.append("validity columns do not version a business key (one row per key): no SCD2")
        scd2 = None
    if why:
        evidence.append(f"business key {', '.join(business)}: {why}")
    key_like = {c.lower() for c in [*table.primary_key, *surrogate, *business]} | fk_columns
    measures, dates = [], []
    for column in table.columns:
        info = type_info(column, kind)
        lowered = column.name.lower()
        if info.family in ("date", "timestamp", "timestamptz"):
            if not (scd2 and column.name in (scd2.valid_from, scd2.valid_to)) and not _AUDIT_COLUMNS.match(_snake(column.name)):
                dates.append(column.name)
        elif info.family in ("decimal", "float", "integer") and lowered not in key_like:
            normal = naming.column_name(column.name)
            if (not normal.endswith(("#key", "#id")) and not _CURRENT_FLAG.match(_snake(column.name))
                    and not (scd2 and column.name == scd2.version)):
                measures.append(column.name)

    scores: dict[Role, float] = {"fact": 0.0, "dimension": 0.0, "bridge": 0.0, "staging": 0.0}
    role_by_name = naming.table_name(table.name).role
    if role_by_name in scores:
        scores[role_by_name] += 0.5  # type: ignore[index]
        evidence.append(f"name prefix says {role_by_name}")
    if len(outgoing) >= 2:
        scores["fact"] += 0.2 + 0.05 * min(len(outgoing), 6)
        evidence.append(f"references {len(outgoing)} tables")
    decimal_measures = [m for m in measures if type_info(table.column(m), kind).family in ("decimal", "float")]  # type: ignore[arg-type]
    if measures and outgoing:
        scores["fact"] += 0.1 + (0.1 if decimal_measures else 0.0)
        evidence.append(f"numeric measures {', '.join(measures[:5])}")
    if incoming:
        scores["dimension"] += 0.3 + 0.05 * min(len(incoming), 4)
        evidence.append(f"referenced by {len(incoming)} table(s)")
    if scd2:
        scores["dimension"] += 0.4
        evidence.extend(scd2.evidence)
    if surrogate and business:
        scores["dimension"] += 0.2
    non_key = [c for c in table.columns if c.name.lower() not in key_like and not _AUDIT_COLUMNS.match(_snake(c.name))]
    levels, snapshot_name = classify_kinds.snapshot_signs(table, measures)
    if len(outgoing) >= 2 and len(non_key) <= 1 and len(table.columns) <= len(fk_columns) + 2:
        if measures and (levels or snapshot_name):  # inventory(date, item, quantity_on_hand): a snapshot
            evidence.append(f"links {len(outgoing)} tables but measures {', '.join(measures)}: no bridge")
        else:
            scores["bridge"] += 0.6
            evidence.append("only keys of the tables it links")
    if not table.primary_key and not outgoing and not incoming:
        scores["staging"] += 0.2
        staging_cols = [c.name for c in table.columns if _STAGING_COLUMNS.match(_snake(c.name))]
        if staging_cols:
            scores["staging"] += 0.3
            evidence.append(f"load columns {', '.join(staging_cols)}")
        evidence.append("no keys and no relationships")
    role: Role = max(scores, key=lambda r: scores[r])  # type: ignore[arg-type]
    confidence = round(min(scores[role], 1.0), 4)
    if confidence < 0.2:
        role = "unknown"
    kept_measures = measures if role == "fact" else [m for m in measures if m in decimal_measures]
    date_dimension = role == "dimension" and bool(dates) and bool(_DATE_DIMENSION.search(_snake(table.name)))
    if date_dimension:
        evidence.append(f"a dimension of dates ({table.name}, date column {dates[0]})")
    fact_kind = None
    kinds: list[DimensionKind] = []
    if role == "fact":
        fact_kind, why = classify_kinds.fact_kind(table, kind, outgoing, kept_measures, dates)
        evidence.append(why)
    elif role == "dimension":
        audit = [c.name for c in table.columns if _AUDIT_COLUMNS.match(_snake(c.name))]
        kinds, why_kinds = classify_kinds.dimension_kinds(
            table, kind, incoming, date_dimension=date_dimension, scd2=scd2 is not None, surrogate=surrogate,
            business=business, audit=audit)
        evidence.extend(why_kinds)
    column_roles = column_classes(table, kind, role, surrogate=surrogate, business=business, fk_columns=fk_columns,
                                  measures=kept_measures, dates=dates, scd2=scd2)
    return TableClass(
        table=table.qualified_name,
        role=role,
        confidence=confidence,
        surrogate_key=surrogate,
        business_key=business,
        scd2=scd2,
        measures=kept_measures,
        date_columns=dates,
        foreign_keys=sorted({c for r in outgoing for c in r.child_columns}),
        date_dimension=date_dimension,
        columns=column_roles,
        fact_kind=fact_kind,
        dimension_kinds=kinds,
        evidence=evidence,
    )


def column_classes(table: TableInfo, kind: str, role: Role, *, surrogate: list[str], business: list[str], fk_columns: set[str],
                   measures: list[str], dates: list[str], scd2: Scd2 | None) -> dict[str, ColumnRole]:
    """What each column of a table is: its keys (surrogate, business, foreign), a fact's degenerate
    dimensions (its own identifiers that reference nothing, e.g. SalesOrderNumber), measures, dates,
    SCD2 validity and current-flag columns, load/audit columns, and attributes (the rest)."""
    lowered = {c.lower() for c in surrogate}, {c.lower() for c in business}
    validity = {c for c in (scd2.valid_from, scd2.valid_to) if c} if scd2 else set()
    found: dict[str, ColumnRole] = {}
    for column in table.columns:
        name, snake = column.name, _snake(column.name)
        if name.lower() in lowered[0]:
            found[name] = "surrogate_key"
        elif name.lower() in fk_columns:
            found[name] = "foreign_key"
        elif name in validity:
            found[name] = "validity"
        elif scd2 and name == scd2.current_flag:
            found[name] = "current_flag"
        elif scd2 and name == scd2.version:
            found[name] = "version"
        elif role == "fact" and name not in measures and _DEGENERATE.search(snake):
            found[name] = "degenerate_dimension"
        elif name.lower() in lowered[1]:
            found[name] = "business_key"
        elif name in measures:
            found[name] = "measure"
        elif name in dates:
            found[name] = "date"
        elif _AUDIT_COLUMNS.match(snake) and type_info(column, kind).family in ("date", "timestamp", "timestamptz"):
            found[name] = "audit"
        else:
            found[name] = "attribute"
    return found


def classify(catalog: Catalog, relationships: list[Relationship]) -> list[TableClass]:
    """Classify every table of a catalog."""
    return [classify_table(t, catalog.kind, relationships) for t in catalog.tables]


def counts(classes: list[TableClass]) -> dict[str, int]:
    """How many tables of each role (for TablesClassified)."""
    result: dict[str, int] = {}
    for item in classes:
        result[item.role] = result.get(item.role, 0) + 1
    if any(c.scd2 for c in classes):
        result["scd2"] = sum(1 for c in classes if c.scd2)
    return result
