import { describe, expect, it } from "vitest";
import { buildUrl } from "./urlBuilder";

describe("connection URL builder", () => {
  it("builds each kind's URL with its credentials escaped", () => {
    expect(buildUrl("postgres", { host: "db.example", port: "5433", database: "dw", user: "etl", password: "p@ss/word" }))
      .toBe("postgresql://etl:p%40ss%2Fword@db.example:5433/dw");
    expect(buildUrl("sqlserver", { host: "sql1", database: "Sales", user: "omb", password: "x" }))
      .toBe("mssql+pyodbc://omb:x@sql1:1433/Sales?driver=ODBC+Driver+18+for+SQL+Server");
    expect(buildUrl("snowflake", { account: "myorg-acct", database: "SALES", schema: "PUBLIC", warehouse: "WH", role: "R", user: "u", password: "p" }))
      .toBe("snowflake://u:p@myorg-acct/SALES/PUBLIC?warehouse=WH&role=R");
    expect(buildUrl("duckdb", { path: "/data/target.duckdb" })).toBe("duckdb:////data/target.duckdb?read_only=true");
    expect(buildUrl("url", { url: " postgresql://u@h/db " })).toBe("postgresql://u@h/db");
  });

  it("names the missing field", () => {
    expect(() => buildUrl("postgres", { database: "dw" })).toThrow("host is required for postgres");
    expect(() => buildUrl("snowflake", { account: "a" })).toThrow("database is required for snowflake");
    expect(() => buildUrl("duckdb", {})).toThrow("file path is required for duckdb");
  });
});
