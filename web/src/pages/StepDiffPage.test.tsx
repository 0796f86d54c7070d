import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import StepDiffPage from "./StepDiffPage";

/** A gateway that holds 60 differences of step `orders_rows` (55 changed `amount`, 5 only in
 * source) and pages and filters them as the real endpoint does; every request is recorded. */
function fakeGateway() {
  const lines = [
    ...Array.from({ length: 55 }, (_, i) => ({ kind: "changed", key: JSON.stringify({ id: i }), column: "amount", source_value: `${i}.00`, target_value: `${i}.50` })),
    ...Array.from({ length: 5 }, (_, i) => ({ kind: "only_in_source", key: JSON.stringify({ id: 100 + i }), column: null, source_value: JSON.stringify({ id: 100 + i, amount: "1.00" }), target_value: null })),
  ];
  const asked: URL[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    asked.push(url);
    const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    if (url.pathname.endsWith("/differences")) {
      const q = url.searchParams;
      const kept = lines.filter((l) => (!q.get("kind") || l.kind === q.get("kind")) && (!q.get("column") || l.column === q.get("column")));
      const offset = Number(q.get("offset")), limit = Number(q.get("limit"));
      return json({ items: kept.slice(offset, offset + limit), total: kept.length, offset, limit, columns: ["amount"] });
    }
    return json({ step: "orders_rows", status: "failed", message: "60 differences", result: { sample: lines.slice(0, 10), details: { changed: 55 } } });
  });
  return { fetch, asked };
}

function renderViewer() {
  const router = createMemoryRouter([{ path: "/runs/:runId/steps/:step", element: <StepDiffPage /> }], { initialEntries: ["/runs/r1/steps/orders_rows"] });
  render(<QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}><RouterProvider router={router} /></QueryClientProvider>);
}

afterEach(() => { vi.unstubAllGlobals(); });

describe("the comparison viewer", () => {
  it("pages through the full difference list on the server, beyond the step's sample", async () => {
    const gateway = fakeGateway();
    vi.stubGlobal("fetch", gateway.fetch);
    renderViewer();
    expect(await screen.findByText("60 differences in the full list")).toBeInTheDocument();
    const table = screen.getByRole("table", { name: "Differences, source and target side by side" });
    await waitFor(() => expect(within(table).getAllByRole("row")).toHaveLength(26));  // header + 25
    await userEvent.click(screen.getByRole("button", { name: /next page/i }));
    await userEvent.click(screen.getByRole("button", { name: /next page/i }));
    // the third page: lines 51-60, past the 10-line sample; the 5 one-sided rows shown column by column
    await waitFor(() => expect(within(table).getAllByText("only in source").length).toBe(10));
    expect(within(table).getByText("id=54")).toBeInTheDocument();
    const pages = gateway.asked.filter((u) => u.pathname.endsWith("/differences")).map((u) => u.searchParams.get("offset"));
    expect(pages).toEqual(["0", "25", "50"]);
  });

  it("filters by kind and column on the server and starts again at the first page", async () => {
    const gateway = fakeGateway();
    vi.stubGlobal("fetch", gateway.fetch);
    renderViewer();
    await screen.findByText("60 differences in the full list");
    await userEvent.click(screen.getByRole("button", { name: /next page/i }));
    await userEvent.click(screen.getByLabelText("Kind"));
    await userEvent.click(await screen.findByRole("option", { name: "only in source" }));
    expect(await screen.findByText("5 differences in the full list")).toBeInTheDocument();
    const last = gateway.asked.filter((u) => u.pathname.endsWith("/differences")).at(-1)!;
    expect(Object.fromEntries(last.searchParams)).toEqual({ offset: "0", limit: "25", kind: "only_in_source" });
    await userEvent.click(screen.getByLabelText("Column"));
    await userEvent.click(await screen.findByRole("option", { name: "amount" }));
    expect(await screen.findByText("0 differences in the full list")).toBeInTheDocument();
    expect(Object.fromEntries(gateway.asked.at(-1)!.searchParams)).toEqual({ offset: "0", limit: "25", kind: "only_in_source", column: "amount" });
  });
});
