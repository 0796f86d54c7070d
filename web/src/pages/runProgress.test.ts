import { describe, expect, it } from "vitest";
import { applyRunMessage, finishedCount, initialLive } from "./runProgress";

describe("live run progress from the run's WebSocket events", () => {
  it("folds a late joiner's replay into the final state, in order", () => {
    let live = initialLive("queued");
    for (const m of [
      { type: "pipeline.queued", steps: ["counts", "rows"] },
      { type: "pipeline.started" },
      { type: "step.started", step: "counts" },
      { type: "step.completed", step: "counts", status: "passed" },
      { type: "step.started", step: "rows" },
    ]) live = applyRunMessage(live, m);
    expect(live.status).toBe("running");
    expect(live.order).toEqual(["counts", "rows"]);
    expect(finishedCount(live)).toBe(1);
    live = applyRunMessage(live, { type: "step.failed", step: "rows", reason: "3 rows only in source" });
    live = applyRunMessage(live, { type: "pipeline.failed", status: "failed" });
    expect(live.finished).toBe(true);
    expect(live.status).toBe("failed");
    expect(live.steps.rows).toEqual({ status: "failed", note: "3 rows only in source" });
    expect(finishedCount(live)).toBe(2);
  });

  it("ignores messages it does not know and keeps steps already reported", () => {
    const start = initialLive("running", [{ step: "a", status: "passed" }]);
    expect(applyRunMessage(start, { type: "subscribed" })).toBe(start);
    expect(applyRunMessage(start, { type: "pipeline.queued", steps: ["a", "b"] }).steps.a.status).toBe("passed");
  });

  it("shows a load step's current file from its checkpoints, and never reopens a finished step", () => {
    let live = initialLive("running", [{ step: "load_0", status: "running" }]);
    live = applyRunMessage(live, { type: "file.started", step: "load_0", file: "/x/part_03.tsv", bytes: 120e6 });
    expect(live.steps.load_0).toEqual({ status: "running", note: "loading part_03.tsv (120.0 MB)" });
    live = applyRunMessage(live, { type: "file.progress", step: "load_0", file: "/x/part_03.tsv", bytes: 120e6, bytes_read: 54e6 });
    expect(live.steps.load_0.note).toBe("loading part_03.tsv: 45 % of 120.0 MB");
    live = applyRunMessage(live, { type: "file.completed", step: "load_0", file: "/x/part_03.tsv", bytes: 120e6, rows: 150000 });
    expect(live.steps.load_0.note).toBe("part_03.tsv: 150,000 rows loaded");
    live = applyRunMessage(live, { type: "step.completed", step: "load_0", status: "passed" });
    expect(applyRunMessage(live, { type: "file.progress", step: "load_0", file: "/x/y.tsv" }).steps.load_0.status).toBe("passed");
  });

  it("a finished run starts finished (no socket needed)", () => {
    expect(initialLive("completed").finished).toBe(true);
    expect(initialLive("running").finished).toBe(false);
  });
});
