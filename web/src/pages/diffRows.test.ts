import { describe, expect, it } from "vitest";
import { columnsOf, diffRows } from "./diffRows";

const sample = [
  { kind: "changed", key: { id: "7" }, columns: { amount: { source: "10.00", target: "10.50" }, name: { source: "Ann", target: "Anne" } } },
  { kind: "only_in_source", key: { id: "8" }, row: { id: "8", amount: "3.00", name: "Bo" } },
  { kind: "only_in_target", key: { id: "9" }, row: { id: "9", amount: "4.00", name: "Cy" } },
  "not a difference",
];

describe("the comparison viewer's rows", () => {
  it("puts source and target side by side, one line per differing cell", () => {
    const rows = diffRows(sample, "", "");
    expect(rows.filter((r) => r.kind === "changed")).toEqual([
      { kind: "changed", key: "id=7", column: "amount", source: "10.00", target: "10.50", changed: true },
      { kind: "changed", key: "id=7", column: "name", source: "Ann", target: "Anne", changed: true },
    ]);
    const onlySource = rows.filter((r) => r.kind === "only_in_source");
    expect(onlySource).toHaveLength(3);
    expect(onlySource.every((r) => r.target === null && r.source !== null)).toBe(true);
    expect(rows.filter((r) => r.kind === "only_in_target").every((r) => r.source === null)).toBe(true);
  });

  it("filters by kind and by column", () => {
    expect(diffRows(sample, "changed", "amount").map((r) => r.key)).toEqual(["id=7"]);
    expect(diffRows(sample, "only_in_target", "name")).toEqual([
      { kind: "only_in_target", key: "id=9", column: "name", source: null, target: "Cy", changed: true },
    ]);
    expect(diffRows(sample, "changed", "id")).toEqual([]);
  });

  it("lists the columns seen in the sample", () => {
    expect(columnsOf(sample)).toEqual(["amount", "id", "name"]);
  });
});
