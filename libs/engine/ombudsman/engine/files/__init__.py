"""Files as a source: extracts (TSV, CSV, Parquet; local paths and globs) described by a YAML config,
scanned by an in-process DuckDB that streams them (memory bounded by `memory_limit`, whatever the size),
and checked against their config: counts per file and period, date completeness, type conformance
with the bad lines named, duplicate keys with their line numbers, anomalies in daily counts."""
