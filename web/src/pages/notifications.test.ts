import { describe, expect, it } from "vitest";
import { eventTypesOf, passwordProblem } from "./notifications";
import { cronProblem, CRON_PRESETS } from "./cron";

describe("the subscription form's event types", () => {
  it("splits on commas and spaces, drops empties and repeats", () => {
    expect(eventTypesOf("RunCompleted, RunCancelled ,, RunCompleted")).toEqual(["RunCompleted", "RunCancelled"]);
    expect(eventTypesOf(" ,  ")).toEqual([]);
  });
});

describe("the profile's password change", () => {
  it("names what is wrong before asking the server", () => {
    expect(passwordProblem("", "new-secret-1", "new-secret-1")).toMatch(/current password/);
    expect(passwordProblem("old-secret", "short", "short")).toMatch(/at least 8/);
    expect(passwordProblem("old-secret", "x".repeat(129), "x".repeat(129))).toMatch(/at most 128/);
    expect(passwordProblem("old-secret", "new-secret-1", "new-secret-2")).toMatch(/differ/);
    expect(passwordProblem("same-secret", "same-secret", "same-secret")).toMatch(/same as the current/);
    expect(passwordProblem("old-secret", "new-secret-1", "new-secret-1")).toBe("");
  });
});

describe("the schedules page's cron check", () => {
  it("accepts five cron fields and every preset", () => {
    for (const [, cron] of CRON_PRESETS) expect(cronProblem(cron)).toBe("");
    expect(cronProblem("0 9-17/2 * JAN-MAR MON,WED")).toBe("");
  });
  it("says how many fields a wrong expression has, or which field is wrong", () => {
    expect(cronProblem("every night at two")).toMatch(/five fields.*this has 4/);
    expect(cronProblem("0 2 * *")).toMatch(/this has 4/);
    expect(cronProblem("0 2 ? * *")).toBe("Not a cron field: ?");
  });
});
