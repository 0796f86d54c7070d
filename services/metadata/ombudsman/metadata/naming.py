"""Name normalisation and similarity for mapping suggestions. Pure.

`CustomerKey`, `CUSTOMER_SK` and `customer_skey` all normalise to `customer #key`; `CustomerID`,
`customer_id` and `CUST_CODE` to `customer #id`: the key suffix is kept as a class token so a
surrogate key does not map onto a business key of the same entity. Table role prefixes (`dim_`,
`fact_`, `tbl`, `stg_` …) and plural endings are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

TABLE_PREFIXES: dict[str, str] = {
    "dim": "dimension",
    "d": "dimension",
    "dimension": "dimension",
    "fact": "fact",
    "fct": "fact",
    "f": "fact",
    "tbl": "",
    "tb": "",
    "t": "",
    "stg": "staging",
    "staging": "staging",
    "src": "",
    "raw": "",
    "brg": "bridge",
    "bridge": "bridge",
    "lnk": "bridge",
    "vw": "",
    "v": "",
}
SURROGATE_SUFFIXES = {"sk", "key", "skey", "surrogate", "surrogatekey"}
BUSINESS_SUFFIXES = {"id", "code", "cd", "bk", "nk", "nbr", "number", "num", "no"}
ABBREVIATIONS: dict[str, str] = {
    "cust": "customer",
    "prod": "product",
    "qty": "quantity",
    "amt": "amount",
    "desc": "description",
    "descr": "description",
    "dt": "date",
    "ts": "timestamp",
    "addr": "address",
    "nm": "name",
    "cat": "category",
    "emp": "employee",
    "dept": "department",
    "txn": "transaction",
    "trans": "transaction",
    "acct": "account",
    "curr": "currency",
    "pct": "percent",
    "avg": "average",
    "tot": "total",
    "yr": "year",
    "mo": "month",
    "mth": "month",
    "loc": "location",
    "sls": "sales",
    "ord": "order",
    "inv": "invoice",
    "org": "organisation",
    "organization": "organisation",
    "effective": "valid",
    "eff": "valid",
    "expiry": "valid to",
    "expiration": "valid to",
}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


@lru_cache(maxsize=65536)
def tokens(name: str) -> tuple[str, ...]:
    """Lower-case words of an identifier: camelCase, PascalCase, snake_case, spaces and digits split."""
    words: list[str] = []
    for part in _SEPARATORS.split(name):
        words.extend(w.lower() for w in _CAMEL.split(part) if w)
    return tuple(words)


def singular(word: str) -> str:
    """A naive singular: customers → customer, categories → category, addresses → address."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@dataclass(frozen=True)
class TableName:
    """A table name split into its role prefix (dimension, fact, …) and its entity words."""

    role: str
    entity: str


@lru_cache(maxsize=65536)
def table_name(name: str) -> TableName:
    """`DimCustomer` → (dimension, customer); `FCT_SALES` → (fact, sale); `tblOrders` → ('', order)."""
    words = list(tokens(name))
    role = ""
    if len(words) > 1 and words[0] in TABLE_PREFIXES:
        role = TABLE_PREFIXES[words[0]]
        words = words[1:]
    words = [ABBREVIATIONS.get(w, w) for w in words]
    if words:
        words[-1] = singular(words[-1])
    return TableName(role=role, entity=" ".join(words))


@lru_cache(maxsize=65536)
def column_name(name: str) -> str:
    """`CustomerKey` → `customer #key`; `customer_id` → `customer #id`; `OrderDate` → `order date`."""
    words = [ABBREVIATIONS.get(w, w) for w in tokens(name)]
    if len(words) > 1 and words[-1] in SURROGATE_SUFFIXES:
        words[-1] = "#key"
    elif len(words) > 1 and words[-1] in BUSINESS_SUFFIXES:
        words[-1] = "#id"
    elif len(words) > 1 and words[-2:] == ["surrogate", "#key"]:
        words = [*words[:-2], "#key"]
    return " ".join(words)


def column_stem(name: str) -> str:
    """The entity a key column names, without its key class: `CustomerKey` → `customer`."""
    normal = column_name(name)
    return normal.removesuffix(" #key").removesuffix(" #id")


def similarity(a: str, b: str) -> float:
    """0..1 similarity of two already-normalised names (best of plain and token-order-free ratio)."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    return max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b)) / 100.0


def column_similarity(a: str, b: str) -> float:
    """Similarity of two column names after normalisation; an exact raw match (any case) is 1."""
    if a.lower() == b.lower():
        return 1.0
    return similarity(column_name(a), column_name(b))


def table_similarity(a: str, b: str) -> float:
    """Similarity of two table names: entity words compared, a role mismatch costs 0.15."""
    if a.lower() == b.lower():
        return 1.0
    left, right = table_name(a), table_name(b)
    score = similarity(left.entity, right.entity)
    if left.role and right.role and left.role != right.role:
        score -= 0.15
    return max(score, 0.0)


DEFAULT_SCHEMAS = {"dbo", "public", "main"}


def schema_similarity(a: str, b: str) -> float:
    """Similarity of schema names; the engines' default schemas (dbo, public, main) match each other."""
    la, lb = a.lower(), b.lower()
    if la == lb or (la in DEFAULT_SCHEMAS and lb in DEFAULT_SCHEMAS):
        return 1.0
    return similarity(" ".join(tokens(a)), " ".join(tokens(b)))
