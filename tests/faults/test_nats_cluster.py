"""kill -9 a node of a 3-node NATS JetStream cluster during the 300-step batch (tests/faults/conftest.py):
the node that leads OMB_EVENTS, so the stream must elect a new leader while the outbox relays publish
to it and the workers and projections consume from the cluster. The batch completes with exactly 300
step results, none lost, none doubled, the audit chain verifies and the executor's read models equal
their rebuild from the store."""

from __future__ import annotations

import time

import pytest

from ombudsman.contracts.subjects import EVENTS_STREAM, WORK_STREAM
from ombudsman.eventstore import natsauth
from ombudsman.eventstore.cluster import StreamReplicas, stream_replicas
from tests.faults.conftest import FaultStack
from tests.faults.test_faults import _after_some_results
from tests.support import eventually

NODES = 3
pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def cluster_stack(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> FaultStack:
    """The fault suite's stack on a 3-node NATS cluster: the launcher runs the nodes (OMB_NATS_CLUSTER)
    and the services create their streams with three replicas."""
    monkeypatch.setenv("OMB_NATS_CLUSTER", str(NODES))
    monkeypatch.delenv("OMB_EVENTS_REPLICAS", raising=False)
    stack: FaultStack = request.getfixturevalue("fault_stack")
    return stack


async def _streams(stack: FaultStack) -> dict[str, StreamReplicas]:
    user, password = natsauth.client_credentials(stack.home)
    return {s.stream: s for s in await stream_replicas(stack.stack.nats_url, user, password)}


async def test_nats_node_leading_the_events_stream_killed(cluster_stack: FaultStack) -> None:
    """kill -9 the NATS node leading OMB_EVENTS mid-batch: a surviving node takes the lead, nothing lost."""
    stack = cluster_stack
    assert sorted(stack.stack.nats_nodes) == [f"nats-{i}" for i in range(1, NODES + 1)]
    await stack.connect()
    try:
        batch_id = await stack.start_batch()
        await _after_some_results(stack)
        streams = await _streams(stack)
        for name in (EVENTS_STREAM, WORK_STREAM):
            assert streams[name].replicas == NODES, streams[name]
            assert streams[name].leader in stack.stack.nats_nodes, streams[name]
            assert len(streams[name].followers) == NODES - 1, streams[name]
        leader = streams[EVENTS_STREAM].leader
        assert leader is not None
        results_at_kill = await stack.results()
        stack.kill(leader)
        killed_at = time.monotonic()

        async def new_leader() -> StreamReplicas | None:
            try:
                events = (await _streams(stack))[EVENTS_STREAM]
            except Exception:  # the client may be reconnecting, the stream between leaders
                return None
            return events if events.leader not in (None, leader) else None

        after = await eventually(new_leader, timeout=60, interval=0.2, what=f"a new leader of {EVENTS_STREAM}")
        print(f"\n{EVENTS_STREAM}: {leader} killed at {results_at_kill} step results, "
              f"{after.leader} leads after {time.monotonic() - killed_at:.2f} s")
        assert after.leader in stack.stack.nats_nodes
        await stack.assert_exact(batch_id)
        assert await stack.results() > results_at_kill  # the batch went on through the two survivors

        # what `ombudsman status` shows: the killed node no longer a current replica
        events = (await _streams(stack))[EVENTS_STREAM]
        lost = [f for f in events.followers if f.name == leader]
        assert events.leader != leader and lost and not lost[0].current, events
    finally:
        await stack.close()
