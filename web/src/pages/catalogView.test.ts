import { describe, expect, it } from "vitest";
import { keyMarks, typeText, type CatalogTable } from "./catalogView";

describe("the catalog browser", () => {
  it("writes a column's full type", () => {
    expect(typeText({ name: "a", data_type: "varchar", ordinal: 1, length: 40 })).toBe("varchar(40)");
    expect(typeText({ name: "a", data_type: "nvarchar", ordinal: 1, length: -1 })).toBe("nvarchar(max)");
    expect(typeText({ name: "a", data_type: "numeric", ordinal: 1, precision: 12, scale: 2 })).toBe("numeric(12,2)");
    expect(typeText({ name: "a", data_type: "numeric", ordinal: 1, precision: 12, scale: null })).toBe("numeric(12)");
    expect(typeText({ name: "a", data_type: "int", ordinal: 1, length: null, precision: null })).toBe("int");
  });

  it("marks the keys a column takes part in", () => {
    const lines: CatalogTable = {
      schema_name: "sales", name: "order_lines", primary_key: ["order_id", "line"], unique_constraints: [["sku", "order_id"]],
      foreign_keys: [{ columns: ["order_id"], ref_schema: "sales", ref_table: "orders", ref_columns: ["id"] }],
    };
    expect(keyMarks(lines, "order_id")).toEqual(["PK", "FK → sales.orders(id)", "unique"]);
    expect(keyMarks(lines, "line")).toEqual(["PK"]);
    expect(keyMarks(lines, "amount")).toEqual([]);
  });
});
