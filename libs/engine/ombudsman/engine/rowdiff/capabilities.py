"""What a connector's database can compute, probed once per connector.

The only probe today: does a Snowflake connection need the fakesnow hash rendering? A connector may
say so itself (`is_fakesnow`); otherwise we ask the server for MD5_NUMBER_UPPER64, which real
Snowflake has and fakesnow lacks. Real Snowflake therefore always gets the real rendering (and the
fakesnow rendering would fail loudly there, never compute a wrong hash).
"""

from __future__ import annotations

import weakref

from ombudsman.engine.connectors.base import Connector

_FAKESNOW: weakref.WeakKeyDictionary[Connector, bool] = weakref.WeakKeyDictionary()


async def uses_fakesnow_hash(connector: Connector) -> bool:
    """True when `connector` is a fakesnow (Snowflake SQL on DuckDB) that lacks MD5_NUMBER_UPPER64."""
    if connector.dialect != "snowflake":
        return False
    declared = getattr(connector, "is_fakesnow", None)
    if isinstance(declared, bool):
        return declared
    if connector not in _FAKESNOW:
        try:
            await connector.fetch("SELECT MD5_NUMBER_UPPER64('ombudsman') AS h")
            _FAKESNOW[connector] = False
        except Exception:
            _FAKESNOW[connector] = True
    return _FAKESNOW[connector]
