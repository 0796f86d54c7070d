import { describe, expect, it } from "vitest";
import { diffRows, differencesQuery, keyText } from "./diffRows";

const lines = [
  { kind: "changed", key: '{"id": 7}', column: "amount", source_value: "10.00", target_value: "10.50" },
  { kind: "changed", key: '{"id": 7}', column: "name", source_value: "Ann", target_value: "Anne" },
  { kind: "only_in_source", key: '{"id": 8}', column: null, source_value: '{"id": 8, "amount": "3.00", "name": "Bo"}', target_value: null },
  { kind: "only_in_target", key: '{"id": 9}', column: null, source_value: null, target_value: '{"id": 9, "amount": 4, "name": null}' },
  { kind: "duplicate_in_target", key: "legacy-key", column: null, source_value: null, target_value: "not json", target_count: 2 },
];

describe("the comparison viewer's rows (lines of the full difference list)", () => {
  it("puts source and target side by side, one row per differing cell", () => {
    const rows = diffRows(lines);
    expect(rows.filter((r) => r.kind === "changed")).toEqual([
      { kind: "changed", key: "id=7", column: "amount", source: "10.00", target: "10.50", changed: true },
      { kind: "changed", key: "id=7", column: "name", source: "Ann", target: "Anne", changed: true },
    ]);
    const onlySource = rows.filter((r) => r.kind === "only_in_source");
    expect(onlySource.map((r) => [r.column, r.source, r.target])).toEqual([["id", "8", null], ["amount", "3.00", null], ["name", "Bo", null]]);
    expect(rows.filter((r) => r.kind === "only_in_target").map((r) => [r.column, r.source, r.target]))
      .toEqual([["id", null, "9"], ["amount", null, "4"], ["name", null, null]]);
  });

  it("shows a line whose row cannot be read as it came, and skips what is not a line", () => {
    const rows = diffRows([...lines, "not a line" as never, { key: "x" } as never]);
    expect(rows.filter((r) => r.kind === "duplicate_in_target")).toEqual([
      { kind: "duplicate_in_target", key: "legacy-key", column: "", source: null, target: "not json", changed: true },
    ]);
    expect(rows).toHaveLength(9);
  });

  it("reads keys given as JSON objects", () => {
    expect(keyText('{"order_id": 3, "line": 2}')).toBe("order_id=3, line=2");
    expect(keyText("[1, 2]")).toBe("[1, 2]");
  });

  it("asks the server for the page and the filters chosen, and nothing more", () => {
    expect(differencesQuery(0, 25, "", "")).toEqual({ offset: 0, limit: 25 });
    expect(differencesQuery(3, 50, "changed", "amount")).toEqual({ offset: 150, limit: 50, kind: "changed", column: "amount" });
  });
});
