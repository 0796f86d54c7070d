import { describe, expect, it } from "vitest";
import { pagesFor, samePages } from "./runPages";

describe("the pages a virtualised list asks for", () => {
  it("asks for the pages holding the rows on screen, only those", () => {
    expect(pagesFor(0, 21, 100)).toEqual([0]);
    expect(pagesFor(95, 112, 100)).toEqual([0, 1]);
    expect(pagesFor(9_980, 9_999, 100)).toEqual([99]);  // the end of 10,000 rows: one page, not 100
  });
  it("asks for the first page before anything is measured", () => {
    expect(pagesFor(0, -1, 100)).toEqual([0]);
  });
  it("compares page lists by value", () => {
    expect(samePages([1, 2], [1, 2])).toBe(true);
    expect(samePages([1, 2], [2])).toBe(false);
  });
});
