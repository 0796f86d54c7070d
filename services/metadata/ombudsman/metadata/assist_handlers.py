"""The language model's help (part of `handlers.Handlers`), each use off unless `OMB_LLM_PROVIDER` is
set (409 naming that otherwise) and each answer marked as the model's:

- `describe_columns`: the model drafts a description of each column of a table
  (`ColumnDescriptionsSuggested`); `approve_description` / `reject_description` are a person's
  decision (`ColumnDescriptionApproved` / `ColumnDescriptionRejected`); an approved one is the
  column's description in the catalog; the `descriptions` query lists them with the drafts;
- `explain_step`: a failed step explained in plain words from its facts (names, counts, the message
  without values: contracts StepFacts), recorded as `StepExplained` with the model's name;
- `draft_check`: a custom_query step drafted from a sentence, its SQL checked for each side's
  dialect; nothing is recorded: it is saved only when a person saves it in a pipeline.
"""

from __future__ import annotations

from typing import Any

from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.metadata import (
    ApproveDescription,
    DescribeColumns,
    DescriptionsQuery,
    DraftCheck,
    ExplainStep,
    RejectDescription,
)
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Invalid
from ombudsman.metadata import descriptions, domain, model_drafts
from ombudsman.metadata import projections as read
from ombudsman.metadata.descriptions import DescriptionRecord
from ombudsman.metadata.domain import MetadataState
from ombudsman.metadata.handler_base import HandlerBase, parse
from ombudsman.metadata.keys import find_table
from ombudsman.metadata.llm import ask, required_model

ASSIST_COMMANDS = ("describe_columns", "approve_description", "reject_description", "explain_step", "draft_check")
ASSIST_QUERIES = ("descriptions",)


class AssistHandlers(HandlerBase):
    """Column descriptions, explanations of failed steps and drafted checks, from the language model."""

    async def _description_record(self, project: str, side: str, table: str) -> DescriptionRecord | None:
        async with self._read() as conn:
            return (await read.load_descriptions(conn, project, side, [table])).get(table.lower())

    async def describe_columns(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Ask the model to draft descriptions of a table's columns (names and types only); they are
        recorded as drafts a person approves or rejects."""
        cmd = parse(DescribeColumns, payload)
        catalog = await self._catalog(cmd.project_id, cmd.side)
        table = find_table(catalog, cmd.table, cmd.side)
        if cmd.columns:
            unknown = [c for c in cmd.columns if table.column(c) is None]
            if unknown:
                raise Invalid(f"columns: no column {', '.join(unknown)} in table {table.qualified_name}",
                              {"field": "columns", "unknown": unknown})
        model = required_model("column descriptions")
        drafts: dict[str, str] = {}
        for question in model_drafts.describe_questions(table, catalog.kind, cmd.columns):
            answer = await ask(model, model_drafts.DESCRIBE_SYSTEM, question)
            drafts |= model_drafts.parse_descriptions(answer, table, cmd.columns)
        await self._commit(cmd.project_id, lambda s: descriptions.suggested(cmd.project_id, table, cmd.side,
                                                                            model.name, drafts), meta)
        return {"table": table.qualified_name, "side": cmd.side, "model": model.name, "suggested_by": "model",
                "drafts": drafts}

    async def _decide_description(self, cmd: ApproveDescription | RejectDescription, meta: Metadata,
                                  decide: Any) -> dict[str, Any]:
        table = find_table(await self._catalog(cmd.project_id, cmd.side), cmd.table, cmd.side)
        decided: list[Event] = []

        async def current() -> DescriptionRecord | None:
            return await self._description_record(cmd.project_id, cmd.side, table.qualified_name)

        record = await current()

        def decision(state: MetadataState) -> list[Event]:
            decided[:] = decide(table, record)
            return decided

        await self._commit(cmd.project_id, decision, meta)
        after = await current()
        column = descriptions.column_of(table, cmd.column)
        found = after.columns.get(column.lower()) if after else None
        return {"changed": bool(decided), "table": table.qualified_name, "side": cmd.side, "column": column,
                **descriptions.column_view(found)}

    async def approve_description(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A person approves the model's draft of a column's description, or gives their own text."""
        cmd = parse(ApproveDescription, payload)
        return await self._decide_description(cmd, meta, lambda table, record: descriptions.approve(cmd, table, record))

    async def reject_description(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A person rejects the model's draft of a column's description."""
        cmd = parse(RejectDescription, payload)
        return await self._decide_description(cmd, meta, lambda table, record: descriptions.reject(cmd, table, record))

    async def descriptions(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The column descriptions of one side (or one table): approved, and the model's drafts."""
        cmd = parse(DescriptionsQuery, payload)
        only = [find_table(await self._catalog(cmd.project_id, cmd.side), cmd.table, cmd.side).qualified_name] \
            if cmd.table else None
        async with self._read() as conn:
            records = await read.load_descriptions(conn, cmd.project_id, cmd.side, only)
        return {"side": cmd.side, "tables": [
            {"table": r.table, "columns": [{"column": c.column, **descriptions.column_view(c)}
                                           for c in sorted(r.columns.values(), key=lambda c: c.column.lower())]}
            for r in sorted(records.values(), key=lambda r: r.table.lower())]}

    async def explain_step(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Explain a failed step in plain words from its facts (no values); recorded as `StepExplained`."""
        cmd = parse(ExplainStep, payload)
        await self.ports.require_project(cmd.project_id)
        model = required_model("explanations of failed steps")
        answer = await ask(model, model_drafts.EXPLAIN_SYSTEM, model_drafts.explain_question(cmd.facts), 800)
        explanation = model_drafts.parse_explanation(answer)
        await self._commit(cmd.project_id, lambda s: [ev.StepExplained(
            project_id=cmd.project_id, run_id=cmd.run_id, step=cmd.facts.step, model=model.name,
            explanation=explanation)], meta)
        return {"run_id": cmd.run_id, "step": cmd.facts.step, "model": model.name, "suggested_by": "model",
                "explanation": explanation, "asked_with": cmd.facts.model_dump(mode="json", exclude_none=True)}

    async def draft_check(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A custom_query step drafted by the model from a sentence, over the approved mappings (or
        the given source tables), its SQL one SELECT checked in each side's dialect. Not saved."""
        from ombudsman.engine.dialects import dialect_for

        cmd = parse(DraftCheck, payload)
        state = await self.ports.load(cmd.project_id)
        domain.require_catalogs(state, "source", "target")
        source, target = await self._catalog(cmd.project_id, "source"), await self._catalog(cmd.project_id, "target")
        async with self._read() as conn:
            approved = read.approved_mappings(await read.load_approved(conn, cmd.project_id))
        wanted = {find_table(source, t, "source").qualified_name.lower() for t in cmd.tables or []}
        pairs = []
        for mapping in approved:
            if wanted and mapping.source_table.lower() not in wanted:
                continue
            src = source.table(*mapping.source_table.rsplit(".", 1))
            tgt = target.table(*mapping.target_table.rsplit(".", 1))
            if src is not None and tgt is not None:
                pairs.append((src, tgt, dict(mapping.columns)))
        if not pairs:
            raise Invalid("a check is drafted over approved table mappings: approve the mapping of the tables it is "
                          "about first", {"field": "tables"})
        dialects = {"source": dialect_for(source.kind), "target": dialect_for(target.kind)}
        model = required_model("drafting checks")
        answer = await ask(model, model_drafts.DRAFT_SYSTEM, model_drafts.draft_question(cmd.sentence, dialects, pairs))
        step = model_drafts.parse_draft(answer, cmd.sentence, model.name, dialects, source, target)
        return {"step": step, "model": model.name, "suggested_by": "model", "dialects": dialects,
                "saved": False, "note": "a draft: it is saved only when you save it in a pipeline"}
