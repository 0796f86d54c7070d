"""How warehouses name their keys, for relationship inference. Pure.

A key column is read as `[table prefix] [fk] <role words…> <entity words…> <key class>`:
- `ss_customer_sk` (TPC-DS: column prefix `ss_` of `store_sales`) → entity `customer`, class key;
- `CustomerKey` / `customer_id` / `fk_customer_id` / `customer_fk` → entity `customer`;
- `OrderDateKey`, `ss_sold_date_sk` → role `order` / `sold` + entity `date` (role-playing keys:
  the role word need not be known, the longest entity suffix that names a table wins);
- `ParentEmployeeKey` in `DimEmployee` → role `parent` + entity `employee`: a self-reference.
Table names lose their role words at either end (`DimCustomer`, `dim_customer`, `fact_sales`,
`date_dim`) and their plural ending, so `customers`, `DimCustomer` and `customer` all name `customer`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from ombudsman.contracts.catalog import TableInfo
from ombudsman.metadata import naming

KEY_CLASSES = {"sk": "key", "key": "key", "skey": "key", "fk": "key", "id": "id", "code": "id", "cd": "id",
               "bk": "id", "nk": "id"}
TABLE_ROLE_WORDS = {"dim", "dimension", "fact", "fct", "bridge", "brg", "tbl", "stg"}
FK_WORDS = {"fk"}


def _words(name: str) -> list[str]:
    words = [naming.ABBREVIATIONS.get(w, w) for w in naming.tokens(name)]
    return [w for part in words for w in part.split(" ")]


@lru_cache(maxsize=65536)
def entity_words(table_name: str) -> tuple[str, ...]:
    """A table's entity: role words dropped at either end, last word singular (`date_dim` → date)."""
    words = _words(table_name)
    while len(words) > 1 and words[0] in TABLE_ROLE_WORDS | {"d", "f", "t", "tb", "vw"}:
        words = words[1:]
    while len(words) > 1 and words[-1] in TABLE_ROLE_WORDS:
        words = words[:-1]
    return tuple(naming.singular(w) for w in words)


def column_prefix(table: TableInfo) -> str | None:
    """The short prefix most columns of a table share (`ss` of `ss_item_sk`, `c` of `c_customer_sk`)."""
    firsts = Counter(
        naming.tokens(c.name)[0] for c in table.columns if "_" in c.name and len(naming.tokens(c.name)) > 1
    )
    if not firsts or len(table.columns) < 2:
        return None
    word, count = firsts.most_common(1)[0]
    if len(word) <= 4 and count >= max(2, 0.6 * len(table.columns)):
        return word
    return None


@dataclass(frozen=True)
class KeyName:
    """A key column read by its name: role words, entity words and the key class (`key` or `id`)."""

    column: str
    prefix: str | None
    roles: tuple[str, ...]
    entity: tuple[str, ...]
    key_class: str


def parse_key(column: str, prefix: str | None) -> KeyName | None:
    """The parts of a key column's name, or None when the name does not end like a key."""
    raw = list(naming.tokens(column))
    if len(raw) < 2:
        return None
    key_class = KEY_CLASSES.get(raw[-1])
    if key_class is None:
        return None
    raw = raw[:-1]
    used_prefix = None
    if prefix and len(raw) > 1 and raw[0] == prefix:  # before abbreviations: `inv_item_sk` is not an invoice
        used_prefix, raw = prefix, raw[1:]
    while len(raw) > 1 and raw[0] in FK_WORDS:
        raw = raw[1:]
    body = [w for word in raw for w in naming.ABBREVIATIONS.get(word, word).split(" ")]
    if not body:
        return None
    body[-1] = naming.singular(body[-1])
    return KeyName(column=column, prefix=used_prefix, roles=(), entity=tuple(body), key_class=key_class)


def key_stem(table: TableInfo, column: str) -> tuple[str, ...]:
    """The entity words of a table's own key column, its column prefix dropped (`c_customer_sk` → customer)."""
    parsed = parse_key(column, column_prefix(table))
    if parsed is None:
        return ()
    words = parsed.entity
    if parsed.prefix is None and len(words) > 1 and len(words[0]) <= 2:  # a prefix too rare to detect
        words = words[1:]
    return words


def compound_targets(table: TableInfo, key: str) -> list[tuple[str, ...]]:
    """Abbreviated names of a table's key (TPC-DS): `cdemo` for `customer_demographics.cd_demo_sk`,
    the initials of the table's leading entity words glued to the key's stem."""
    entity, stem = entity_words(table.name), key_stem(table, key)
    if len(entity) < 2 or len(stem) != 1 or stem[0] in entity:
        return []
    return [("".join(w[0] for w in entity[:-1]) + stem[0],)]


def split_role(words: tuple[str, ...], entity: tuple[str, ...]) -> tuple[str, ...] | None:
    """The role words in front of `entity` when `words` ends with it (None when it does not)."""
    if entity and len(words) >= len(entity) and words[len(words) - len(entity):] == entity:
        return words[: len(words) - len(entity)]
    return None
