"""Workload test fixtures: the engine's fakesnow fixtures (a Snowflake URL served by fakesnow)."""

from tests.engine.conftest import fakesnow_server, fakesnow_url

__all__ = ["fakesnow_server", "fakesnow_url"]
