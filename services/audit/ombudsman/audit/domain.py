"""The audit service's domain: the hash chain and alert rules (pure, shared through contracts.chain)."""

from ombudsman.contracts.chain import (
    GENESIS,
    AlertRule,
    ChainRow,
    VerifyReport,
    canonical_json,
    chain_hash,
    project_of,
    rule_matches,
    verify_chain,
)

__all__ = [
    "GENESIS",
    "AlertRule",
    "ChainRow",
    "VerifyReport",
    "canonical_json",
    "chain_hash",
    "project_of",
    "rule_matches",
    "verify_chain",
]
