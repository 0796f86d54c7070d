"""Faults during a 300-step batch (tests/faults/conftest.py): each time the batch completes with
exactly 300 step results, none lost, none doubled, the audit chain verifies and the executor's read
models equal their rebuild from the store."""

from __future__ import annotations

import time

import pytest

from tests.faults.conftest import ACK_WAIT, TOTAL_STEPS, FaultStack
from tests.support import eventually

# faults land once this many results are in, so they hit a batch in full flow
EARLY = 30
# a case takes about 2.5 minutes at load average 20 on 2 cores (stack start included)
pytestmark = pytest.mark.timeout(600)


async def _after_some_results(stack: FaultStack) -> None:
    async def enough() -> bool:
        return await stack.results() >= EARLY

    await eventually(enough, timeout=90, interval=0.2, what=f"{EARLY} step results")


async def _running_step(stack: FaultStack, exclude: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """A step a worker (not one of `exclude`) is running now: (run id, step, worker label)."""
    pids = {stack.pid(label): label for label in stack.labels("worker") if label not in exclude}

    async def one() -> tuple[str, str, str] | None:
        rows = await stack.sql("SELECT run_id, step, worker FROM executor.steps WHERE state='running'")
        for row in rows:
            pid = int(str(row["worker"]).rsplit(":", 1)[-1])
            if pid in pids:
                return row["run_id"], row["step"], pids[pid]
        return None

    return await eventually(one, timeout=60, interval=0.1, what="a step running on a worker")


async def _attempts(stack: FaultStack, run_id: str, step: str) -> list[int]:
    rows = await stack.sql("SELECT (data->>'attempt')::int AS a FROM executor.events WHERE stream_id=$1"
                           " AND event_type='StepStarted' AND data->>'step'=$2 ORDER BY version", run_id, step)
    return [r["a"] for r in rows]


async def _settled(stack: FaultStack, run_id: str, step: str) -> str | None:
    """"redelivered" once the step started again, "finished" if it completed on its first delivery
    (the worker was stopped too late to catch it mid-run), else None."""
    if len(await _attempts(stack, run_id, step)) >= 2:
        return "redelivered"
    done = await stack.sql("SELECT 1 FROM executor.events WHERE stream_id=$1 AND event_type='StepCompleted'"
                           " AND data->>'step'=$2", run_id, step)
    return "finished" if done else None


async def _kill_mid_step(stack: FaultStack, tries: int = 3) -> tuple[str, str, list[str]]:
    """kill -9 a worker in the middle of a step and wait until that step is redelivered: (run id,
    step, the workers killed). A step seen running may have finished just before the kill (its result
    already sent); then another worker's running step is tried (tries < workers, so some survive)."""
    killed: list[str] = []
    for _ in range(tries):
        run_id, step, worker = await _running_step(stack, exclude=tuple(killed))
        stack.kill(worker)
        killed.append(worker)
        outcome = await eventually(lambda r=run_id, s=step: _settled(stack, r, s), timeout=60, interval=0.2,
                                   what=f"step {step} to start again elsewhere")
        if outcome == "redelivered":
            return run_id, step, killed
    raise AssertionError(f"no step was caught mid-run by a kill in {tries} tries")


async def _pause_mid_step(stack: FaultStack, tries: int = 10) -> tuple[str, str, str]:
    """SIGSTOP a worker in the middle of a step and wait until that step is redelivered past the ack
    wait: (run id, step, worker). A step seen running may have finished just before the pause (its
    result already on its way to the executor); then it was not caught mid-step, so the worker goes
    on and another step is tried."""
    for _ in range(tries):
        run_id, step, worker = await _running_step(stack)
        stack.pause(worker)
        if await eventually(lambda r=run_id, s=step: _settled(stack, r, s), timeout=ACK_WAIT * 10, interval=0.2,
                            what=f"step {step} to be redelivered past the ack wait") == "redelivered":
            return run_id, step, worker
        stack.resume(worker)
    raise AssertionError(f"no step was caught mid-run by a pause in {tries} tries")


async def test_coordinator_leader_killed(fault_stack: FaultStack) -> None:
    """kill -9 the executor replica holding the coordinator's lease: the standby takes over."""
    await fault_stack.connect()
    try:
        batch_id = await fault_stack.start_batch()
        await _after_some_results(fault_stack)
        leader = await eventually(fault_stack.leader, timeout=10, what="a coordinator leader")
        fault_stack.kill(leader)
        killed_at = time.monotonic()

        async def new_leader() -> str | None:
            found = await fault_stack.leader()
            return found if found not in (None, leader) else None

        successor = await eventually(new_leader, timeout=30, interval=0.05, what="the standby to take the lease")
        takeover = time.monotonic() - killed_at
        print(f"\ncoordinator takeover: {leader} killed, {successor} leads after {takeover:.2f} s")
        assert fault_stack.stack.processes[successor] != fault_stack.stack.processes[leader]
        await fault_stack.assert_exact(batch_id)
    finally:
        await fault_stack.close()


async def test_worker_killed_mid_step(fault_stack: FaultStack) -> None:
    """kill -9 a worker while it runs a step: the step is redelivered and completes once."""
    await fault_stack.connect()
    try:
        batch_id = await fault_stack.start_batch()
        await _after_some_results(fault_stack)
        run_id, step, killed = await _kill_mid_step(fault_stack)
        await fault_stack.assert_exact(batch_id)
        attempts = await _attempts(fault_stack, run_id, step)
        assert attempts[-1] >= 2, attempts  # JetStream's delivery count: it was the message redelivered
        # the replicas' metrics tell the same: 300 results recorded (by the leader), one leader
        scraped = [fault_stack.scrape(label) for label in fault_stack.labels("executor")]
        assert sum(s.get("omb_executor_steps_total", 0) for s in scraped) == TOTAL_STEPS
        assert sum(s.get("omb_executor_leader", 0) for s in scraped) == 1
        # each surviving worker serves its own series (`up` gives workers a metrics port too): together
        # they ran the redelivered step and the rest; the killed worker's own counts died with it
        survivors = [label for label in fault_stack.labels("worker") if label not in killed]
        ran = sum(fault_stack.scrape(label).get("omb_worker_steps_total", 0) for label in survivors)
        assert 0 < ran <= TOTAL_STEPS, ran
    finally:
        await fault_stack.close()


async def test_worker_and_audit_paused_past_ack_wait(fault_stack: FaultStack) -> None:
    """SIGSTOP a worker mid-step and both audit replicas; the worker's step is redelivered after the
    ack wait and recorded once; resumed, the paused worker's late result is dropped and the audit
    service catches up with every event."""
    await fault_stack.connect()
    try:
        batch_id = await fault_stack.start_batch()
        await _after_some_results(fault_stack)
        for label in fault_stack.labels("audit"):
            fault_stack.pause(label)
        _, _, worker = await _pause_mid_step(fault_stack)
        fault_stack.resume(worker)
        await fault_stack.wait_batch(batch_id)
        for label in fault_stack.labels("audit"):
            fault_stack.resume(label)
        await fault_stack.assert_exact(batch_id)
    finally:
        await fault_stack.close()


async def test_postgres_restarted(fault_stack: FaultStack) -> None:
    """The embedded PostgreSQL stops (every session cut) and starts again mid-batch."""
    await fault_stack.connect()
    try:
        batch_id = await fault_stack.start_batch()
        await _after_some_results(fault_stack)
        fault_stack.restart_postgres()
        await fault_stack.assert_exact(batch_id)
        assert await fault_stack.results() == TOTAL_STEPS
    finally:
        await fault_stack.close()
