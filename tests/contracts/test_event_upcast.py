"""Stored events of an older schema version are read in the current shape."""

from __future__ import annotations

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, EventEnvelope
from ombudsman.contracts.registry import decode, to_current


def test_discrepancy_recorded_v1_gets_a_finding_of_its_own() -> None:
    v1 = {"discrepancy_id": "d1", "run_id": "r1", "step": "s1", "project_id": "sales", "type": "record_counts",
          "fingerprint": "abc"}
    envelope = EventEnvelope(event_type="DiscrepancyRecorded", schema_version=1, stream_id="d1",
                             stream_type="discrepancy", version=1, data=v1, actor=Actor.service("executor"), correlation_id="c1")
    data = decode(envelope)
    assert isinstance(data, ev.DiscrepancyRecorded)
    assert (data.finding, data.scope, data.fingerprint) == ("legacy:d1", "sales", "abc")
    current = to_current(envelope)
    assert current.schema_version == 2 and current.data["finding"] == "legacy:d1"
