"""The optional language model: one `complete(system, prompt)` over an OpenAI-compatible chat
completions API or Anthropic's messages API, through httpx. Off unless `OMB_LLM_PROVIDER` is set;
everything deterministic works without it, and whatever it says is a suggestion a person approves.

Only names and types (of tables and columns) are sent, never data values. The API key is sent in
its header and never logged.
"""

from __future__ import annotations

import logging
from typing import Literal

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ombudsman.contracts.replies import Conflict, Unavailable

log = logging.getLogger("ombudsman.metadata.llm")

DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
ANTHROPIC_VERSION = "2023-06-01"


class LlmSettings(BaseSettings):
    """`OMB_LLM_PROVIDER` (openai | anthropic; empty: off), `OMB_LLM_BASE_URL`, `OMB_LLM_API_KEY`,
    `OMB_LLM_MODEL`, `OMB_LLM_TIMEOUT`, `OMB_LLM_MAX_TABLES`."""

    model_config = SettingsConfigDict(env_prefix="OMB_LLM_", extra="ignore")

    provider: Literal["", "openai", "anthropic"] = ""
    base_url: str = ""  # OpenAI-compatible servers (vLLM, Ollama, Azure OpenAI, ...) take theirs here
    api_key: str = Field(default="", repr=False)
    model: str = ""
    timeout: float = Field(default=60.0, gt=0)
    max_tables: int = Field(default=20, ge=1, description="tables asked about per suggestion run")


class LlmError(Exception):
    """The model could not answer (unreachable, refused, unexpected reply); the caller goes on without it."""


class LanguageModel:
    """One configured model; `complete` gives its text answer to a system text and a prompt."""

    def __init__(self, settings: LlmSettings, transport: httpx.AsyncBaseTransport | None = None):
        if not settings.model:
            raise ValueError("OMB_LLM_MODEL is not set: the model to ask (e.g. gpt-4o-mini, claude-sonnet-4-5)")
        self.settings = settings
        self.name = settings.model
        self.base_url = (settings.base_url or DEFAULT_BASE_URLS[settings.provider]).rstrip("/")
        self._transport = transport

    async def complete(self, system: str, prompt: str, max_tokens: int = 2000) -> str:
        """The model's answer text; LlmError when it cannot be had."""
        if self.settings.provider == "anthropic":
            url = f"{self.base_url}/v1/messages"
            headers = {"x-api-key": self.settings.api_key, "anthropic-version": ANTHROPIC_VERSION}
            body: dict[str, object] = {"model": self.name, "max_tokens": max_tokens, "system": system,
                                       "messages": [{"role": "user", "content": prompt}]}
        else:
            url = f"{self.base_url}/chat/completions"
            headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
            body = {"model": self.name, "max_tokens": max_tokens, "temperature": 0,
                    "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}
        try:
            async with httpx.AsyncClient(timeout=self.settings.timeout, transport=self._transport) as http:
                response = await http.post(url, json=body, headers=headers)
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LlmError(f"the model at {self.base_url} did not answer: {type(exc).__name__}") from None
        if response.status_code != 200:
            message = data.get("error", {}).get("message", "") if isinstance(data, dict) and isinstance(
                data.get("error"), dict) else ""
            raise LlmError(f"the model refused ({response.status_code}): {message[:200]}")
        try:
            if self.settings.provider == "anthropic":
                return "".join(part["text"] for part in data["content"] if part.get("type") == "text")
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise LlmError("the model's reply has no text") from None


def configured_model(settings: LlmSettings | None = None) -> LanguageModel | None:
    """The model the environment configures, or None when `OMB_LLM_PROVIDER` is unset (the default)."""
    settings = settings or LlmSettings()
    return LanguageModel(settings) if settings.provider else None


def required_model(use: str) -> LanguageModel:
    """The configured model for `use` (e.g. "column descriptions"); `Conflict` (409) saying that no
    language model is configured when `OMB_LLM_PROVIDER` is unset, so the caller knows it is off,
    not broken."""
    model = configured_model()
    if model is None:
        raise Conflict(f"no language model is configured on this server (OMB_LLM_PROVIDER is not set): {use} "
                       "need one; everything else works without it",
                       {"llm": "not configured"})
    return model


async def ask(model: LanguageModel, system: str, prompt: str, max_tokens: int = 2000) -> str:
    """The model's answer; `Unavailable` (503) naming the model when it cannot be had."""
    try:
        return await model.complete(system, prompt, max_tokens=max_tokens)
    except LlmError as exc:
        raise Unavailable(f"the language model {model.name} did not answer: {exc}", {"model": model.name}) from None
