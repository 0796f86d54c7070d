"""Mapping suggestions from the language model, for the columns the fuzzy matcher left unpaired.

After the deterministic suggestions (mapping.py), each suggested table pair whose two sides both
still have unmapped columns is put to the model (names and types only). Its pairs are checked: both
names must be among that table's unmapped columns, each used once. They join the table's
suggestion with `suggested_by: "model"` and the evidence "suggested by model <name>"; like every
suggestion they become mappings only when a person approves the table. Any failure of the model
leaves the deterministic suggestions as they are.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.metadata.llm import LanguageModel, LlmError
from ombudsman.metadata.mapping import ColumnSuggestion, MappingSuggestions, TableSuggestion
from ombudsman.metadata.types import column_compatibility

log = logging.getLogger("ombudsman.metadata.llm")

MODEL_CONFIDENCE = 0.5  # below the matcher's threshold: a model's guess is never as sure as a name match
SYSTEM = ("You map columns of a source database table onto columns of the migrated target table. "
          "Answer with JSON only: {\"pairs\": [{\"source\": \"<source column>\", \"target\": \"<target column>\"}]}. "
          "Pair only columns that hold the same data; leave out any column you are not sure of.")


def _table(catalog: Catalog, qualified: str) -> TableInfo | None:
    schema, _, name = qualified.rpartition(".")
    return catalog.table(schema, name) if schema else None


def prompt_for(suggestion: TableSuggestion, source: TableInfo, target: TableInfo) -> str:
    """The question about one table pair: its unmapped columns with their types, and the pairs known."""
    def listing(table: TableInfo, names: list[str]) -> list[dict[str, str]]:
        wanted = {n.lower() for n in names}
        return [{"name": c.name, "type": c.data_type} for c in table.columns if c.name.lower() in wanted]

    return json.dumps({
        "source_table": suggestion.source_table, "target_table": suggestion.target_table,
        "already_paired": suggestion.column_map(),
        "unmapped_source_columns": listing(source, suggestion.unmapped_source_columns),
        "unmapped_target_columns": listing(target, suggestion.unmapped_target_columns),
    })


def parse_pairs(answer: str, sources: list[str], targets: list[str]) -> list[tuple[str, str]]:
    """The pairs in the model's answer whose names are among `sources` and `targets` (matched without
    case, each used once); anything else it says is dropped."""
    found = re.search(r"\{.*\}", answer, re.S)
    if not found:
        return []
    try:
        data: Any = json.loads(found.group(0))
    except ValueError:
        return []
    by_source = {s.lower(): s for s in sources}
    by_target = {t.lower(): t for t in targets}
    pairs: list[tuple[str, str]] = []
    for item in data.get("pairs", []) if isinstance(data, dict) else []:
        if not isinstance(item, dict):
            continue
        s = by_source.pop(str(item.get("source", "")).lower(), None)
        t = by_target.get(str(item.get("target", "")).lower())
        if s is None or t is None:
            continue
        by_target.pop(t.lower())
        pairs.append((s, t))
    return pairs


async def add_model_suggestions(model: LanguageModel, suggestions: MappingSuggestions, source: Catalog,
                                target: Catalog, max_tables: int) -> int:
    """Ask the model about the unmapped columns of up to `max_tables` suggested table pairs and add
    its checked pairs to `suggestions` (in place); the number of column pairs it added."""
    added = 0
    asked = [t for t in suggestions.tables if t.unmapped_source_columns and t.unmapped_target_columns]
    for suggestion in asked[:max_tables]:
        src, tgt = _table(source, suggestion.source_table), _table(target, suggestion.target_table)
        if src is None or tgt is None:
            continue
        try:
            answer = await model.complete(SYSTEM, prompt_for(suggestion, src, tgt))
        except LlmError as exc:
            log.warning("model suggestions skipped: %s", exc)
            return added
        for s_name, t_name in parse_pairs(answer, suggestion.unmapped_source_columns, suggestion.unmapped_target_columns):
            s_col = next(c for c in src.columns if c.name == s_name)
            t_col = next(c for c in tgt.columns if c.name == t_name)
            compat = column_compatibility(s_col, source.kind, t_col, target.kind)
            suggestion.columns.append(ColumnSuggestion(
                source=s_name, target=t_name, confidence=MODEL_CONFIDENCE, name_similarity=0.0,
                type_compatibility=compat, source_type=s_col.data_type, target_type=t_col.data_type,
                suggested_by="model", evidence=[f"suggested by model {model.name}",
                                                f"types {s_col.data_type} → {t_col.data_type}: {compat}"]))
            suggestion.unmapped_source_columns.remove(s_name)
            suggestion.unmapped_target_columns.remove(t_name)
            added += 1
        order = {c.name: i for i, c in enumerate(src.columns)}
        suggestion.columns.sort(key=lambda c: order.get(c.source, len(order)))
    if added:
        log.info("model %s suggested %d column pair(s)", model.name, added)
    return added
