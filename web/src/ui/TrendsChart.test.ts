import { describe, expect, it } from "vitest";
import { trendSummary } from "./TrendsChart";

describe("the trend chart's text", () => {
  it("sums the period and names the latest score", () => {
    expect(trendSummary([
      { day: "2026-12-03", runs: 2, completed: 1, failed: 1, score: 70, failed_steps: 3 },
      { day: "2026-12-04", runs: 3, completed: 1, failed: 2, score: 40.5, failed_steps: 6 },
    ])).toBe("5 runs over 2 days, 3 failed; latest quality score 40.5 on 2026-12-04.");
    expect(trendSummary([])).toBe("No runs in this period.");
  });
});
