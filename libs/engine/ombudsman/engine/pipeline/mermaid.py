"""The Mermaid rendering lives in contracts (pure, shared with the gateway); re-exported here."""

from ombudsman.contracts.mermaid import to_mermaid

__all__ = ["to_mermaid"]
