"""Command and query handlers of the metadata service: validate, load, decide, append, reply.

`Handlers` gathers the handlers by capability, each in its own module:
- catalog_handlers.py: extract, upload_ddl; catalog, changes, status;
- mapping_handlers.py: suggest, approve, reject, exclude; suggestions, mappings, exclusions;
- relationship_handlers.py: infer_relationships, classify; relationships, classification;
- pipeline_handlers.py: generate_pipelines; target_ddl, dbt_sources;
- automate_handlers.py: automate; automate_job;
- key_handlers.py: discover_keys, confirm_key, override_key; keys;
- codegen_handlers.py: generate_code; code_files (migration code, codegen/);
- assist_handlers.py: describe_columns, approve_description, reject_description, explain_step,
  draft_check; descriptions (the language model's help, off by default).
What they share (`Ports`, the commit, the catalogs): handler_base.py.
"""

from __future__ import annotations

from ombudsman.metadata.assist_handlers import ASSIST_COMMANDS, ASSIST_QUERIES, AssistHandlers
from ombudsman.metadata.automate_handlers import Automate, AutomateHandlers
from ombudsman.metadata.catalog_handlers import introspect
from ombudsman.metadata.codegen_handlers import CodegenHandlers
from ombudsman.metadata.handler_base import Ports, describe, parse
from ombudsman.metadata.key_handlers import KEY_COMMANDS, KEY_QUERIES
from ombudsman.metadata.relationship_handlers import measure_inclusion

__all__ = ["COMMANDS", "QUERIES", "Automate", "Handlers", "Ports", "describe", "introspect", "measure_inclusion",
           "parse"]


class Handlers(AutomateHandlers, CodegenHandlers, AssistHandlers):
    """Every command and query of the metadata service (the names in COMMANDS and QUERIES)."""


COMMANDS = ("extract", "upload_ddl", "suggest", "approve", "reject", "exclude", "infer_relationships", "classify",
            "generate_pipelines", "automate", "generate_code", *KEY_COMMANDS, *ASSIST_COMMANDS)
QUERIES = ("catalog", "changes", "suggestions", "mappings", "exclusions", "relationships", "classification",
           "target_ddl", "dbt_sources", "status", "automate_job", "code_files", *KEY_QUERIES, *ASSIST_QUERIES)
