import { describe, expect, it } from "vitest";
import { keyColumns, relationshipsMermaid } from "./relationshipsView";
import { filters, measures, type TableUsage } from "./workloadView";

describe("the relationship graph", () => {
  it("draws each table with its class and each relationship with columns and confidence", () => {
    const graph = relationshipsMermaid([
      { child_table: "sales.orders", child_columns: ["customer_id"], parent_table: "sales.customers", parent_columns: ["customer_id"], confidence: 0.95, evidence: [] },
      { child_table: "sales.orders", child_columns: ["product_id"], parent_table: "sales.products", parent_columns: ["product_id"], confidence: 1, evidence: [] },
    ], [{ table: "sales.orders", role: "fact", confidence: 0.5 }, { table: "Sales.Customers", role: "dimension", confidence: 0.6 }]);
    expect(graph.split("\n")).toEqual(expect.arrayContaining([
      "flowchart LR",
      '    t1["sales.orders<br/><i>fact</i>"]',
      '    t2["sales.products"]',
      '    t1 -->|"customer_id → customer_id · 95%"| t0',
      '    t1 -->|"product_id → product_id · 100%"| t2',
      "    class t1 fact",
      "    class t0 dimension",
    ]));
  });

  it("reads typed key columns", () => {
    expect(keyColumns(" order_id, line ,")).toEqual(["order_id", "line"]);
    expect(keyColumns(" , ")).toBeNull();
  });
});

describe("what a workload's analysis says", () => {
  const tables: TableUsage[] = [{
    table_name: "sales.orders", in_catalog: true, queries: 2, executions: 240, columns: [
      { column: "order_date", queries: 1, executions: 120, usages: { where: 120 }, operators: { ">=": 120 }, date_filter: true },
      { column: "amount", queries: 1, executions: 120, usages: { aggregate: 120, select: 120 }, aggregates: { SUM: 120 } },
      { column: "status", queries: 2, executions: 200, usages: ["where", "group_by"], operators: ["="] },
    ],
  }];
  it("lists the filtered columns heaviest first, and the aggregated measures", () => {
    expect(filters(tables).map((f) => [f.column, f.how])).toEqual([["status", "="], ["order_date", ">=, date range"]]);
    expect(measures(tables)).toEqual([{ table: "sales.orders", column: "amount", executions: 120, queries: 1, how: "SUM" }]);
  });
});
