/** Which server pages a virtualised list needs: the pages holding the rows on screen (plus the
 * overscan), so a jump to the end asks for the last page only, not every page before it. */
export function pagesFor(first: number, last: number, pageSize: number): number[] {
  if (last < first || first < 0) return [0];
  const pages: number[] = [];
  for (let p = Math.floor(first / pageSize); p <= Math.floor(last / pageSize); p++) pages.push(p);
  return pages;
}

/** The same list, `delay` ms after it last changed: pages flung past in a fast scroll are never
 * asked for. Pure part: whether `next` differs from `current` (by value). */
export function samePages(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}
