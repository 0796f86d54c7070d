import { describe, expect, it } from "vitest";
import { catalogChangeRows, changedSteps, comparisonSummary, historyTrend, type Comparison } from "./results";

const comparison: Comparison = {
  run_id: "r2", baseline_run_id: "r1", score: 80, baseline_score: 90, score_delta: -10,
  better: [{ step: "counts", baseline: "failed", current: "passed" }],
  worse: [{ step: "rows", baseline: "passed", current: "failed" }, { step: "new_check", baseline: null, current: "failed" }],
  same: [{ step: "schema", baseline: "passed", current: "passed" }],
  added: [{ step: "new_check", baseline: null, current: "failed" }],
  removed: [{ step: "old_check", baseline: "passed", current: null }],
};

describe("comparison with a baseline", () => {
  it("lists each changed step once, worse first, and never the unchanged ones", () => {
    expect(changedSteps(comparison).map((s) => [s.step, s.change])).toEqual([
      ["rows", "worse"], ["new_check", "worse"], ["counts", "better"], ["old_check", "removed"]]);
  });
  it("says how many changed and the score's move", () => {
    expect(comparisonSummary(comparison)).toBe("4 steps changed: 2 worse, 1 better; quality score 90 → 80 (-10).");
    expect(comparisonSummary({ ...comparison, better: [], worse: [], added: [], removed: [], score_delta: null }))
      .toBe("No step changed status against the baseline.");
  });
});

describe("a pipeline's history as a trend", () => {
  it("groups runs by UTC day, oldest first, averaging scored runs only", () => {
    const points = historyTrend([
      { run_id: "c", status: "failed", score: 50, failed_steps: 2, queued_at: "2026-12-02T09:00:00+00:00" },
      { run_id: "b", status: "completed", score: 100, failed_steps: 0, queued_at: "2026-12-01T23:59:59+00:00" },
      { run_id: "a", status: "completed", score: 90.555, failed_steps: 0, queued_at: "2026-12-01T01:00:00+00:00" },
      { run_id: "q", status: "queued", score: null, queued_at: "2026-12-02T10:00:00+00:00" },
    ]);
    expect(points).toEqual([
      { day: "2026-12-01", runs: 2, completed: 2, failed: 0, score: 95.28, failed_steps: 0 },
      { day: "2026-12-02", runs: 2, completed: 0, failed: 1, score: 50, failed_steps: 2 },
    ]);
  });
});

describe("catalog changes", () => {
  it("gives one row per change, tables first", () => {
    const rows = catalogChangeRows({
      tables_added: ["sales.customers"], tables_removed: [], columns_added: { "sales.orders": ["placed"] }, columns_removed: {},
      columns_retyped: { "sales.orders": [{ column: "amount", before: "numeric(10,2)", after: "numeric(12,2)" }] },
      nullability_changed: { "sales.orders": [{ column: "note", before: "null", after: "not null" }] },
    });
    expect(rows.map((r) => [r.table, r.change, r.column, r.before, r.after].join("|"))).toEqual([
      "sales.customers|table added|||", "sales.orders|type changed|amount|numeric(10,2)|numeric(12,2)",
      "sales.orders|nullability changed|note|null|not null", "sales.orders|column added|placed||"]);
  });
});
