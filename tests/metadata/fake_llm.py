"""A fake language model server for the tests: it speaks the OpenAI chat completions API
(`POST /v1/chat/completions`, Bearer key) and Anthropic's messages API (`POST /v1/messages`,
`x-api-key` and `anthropic-version`) over real HTTP, and answers a column-mapping question from a
fixed list of synonyms (plus one pair of names that do not exist, which the caller must drop).

The other questions (JSON with a `task`) are answered deterministically from what they carry:
`describe_columns` gives "<column> of <table> (<type>)." for each column plus one column that does
not exist; `explain_step` a sentence naming the step, the validator and the counts it was given;
`draft_check` a count of the first mapped table on each side, or `draft_sql` when a test sets it
(hostile SQL, a table no catalog has)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support import HttpServerThread

API_KEY = "test-llm-key-never-logged"


class FakeModel:
    """The server and what it was asked."""

    def __init__(self, synonyms: dict[str, str]):
        self.synonyms = {k.lower(): v for k, v in synonyms.items()}
        self.requests: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.draft_sql: str | None = None  # what draft_check answers as both sides' SQL, when set
        self._server: HttpServerThread | None = None
        self.url = ""

    def start(self) -> FakeModel:
        owner = self

        class Handler(_Handler):
            model = owner

        self._server = HttpServerThread(Handler)
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def answer(self, question: str) -> str:
        asked = json.loads(question)
        task = asked.get("task")
        if task == "describe_columns":
            drafts = {c["name"]: f"{c['name']} of {asked['table']} ({c['type']})." for c in asked["columns"]}
            return json.dumps({"descriptions": {**drafts, "no_such_column": "invented"}})
        if task == "explain_step":
            counts = {side: asked.get(side) for side in ("source", "target") if asked.get(side)}
            return (f"Step {asked['step']} ({asked['validator']}) {asked['status']}: the two sides disagree; "
                    f"counts {json.dumps(counts, sort_keys=True)}. Look at {', '.join(asked.get('affected_columns') or ['the load'])} first.")
        if task == "draft_check":
            first = asked["tables"][0]
            source = self.draft_sql or f"SELECT count(*) AS row_count FROM {first['source_table']}"
            target = self.draft_sql or f"SELECT count(*) AS row_count FROM {first['target_table']}"
            return "```json\n" + json.dumps({"description": f"rows of {first['source_table']} compared",
                                               "source_sql": source, "target_sql": target}) + "\n```"
        targets = {c["name"].lower(): c["name"] for c in asked["unmapped_target_columns"]}
        pairs = [{"source": c["name"], "target": targets[self.synonyms[c["name"].lower()].lower()]}
                 for c in asked["unmapped_source_columns"]
                 if self.synonyms.get(c["name"].lower(), "").lower() in targets]
        pairs.append({"source": "no_such_column", "target": "NOR_THIS"})  # a hallucination to drop
        return "Here is the mapping:\n```json\n" + json.dumps({"pairs": pairs}) + "\n```"


class _Handler(BaseHTTPRequestHandler):
    model: FakeModel

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.model.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.model.fail_with:
            return self._reply(self.model.fail_with, {"error": {"type": "overloaded", "message": "try later"}})
        if self.path == "/v1/chat/completions":
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                return self._reply(401, {"error": {"message": "bad key"}})
            question = body["messages"][-1]["content"]
            return self._reply(200, {"id": "c1", "object": "chat.completion", "model": body["model"], "choices": [
                {"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": self.model.answer(question)}}]})
        if self.path == "/v1/messages":
            if self.headers.get("x-api-key") != API_KEY or not self.headers.get("anthropic-version"):
                return self._reply(401, {"type": "error", "error": {"type": "authentication_error", "message": "bad key"}})
            question = body["messages"][-1]["content"]
            return self._reply(200, {"id": "m1", "type": "message", "role": "assistant", "model": body["model"],
                                     "stop_reason": "end_turn",
                                     "content": [{"type": "text", "text": self.model.answer(question)}]})
        return self._reply(404, {"error": {"message": "no such route"}})
