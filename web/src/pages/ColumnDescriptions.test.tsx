import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { session } from "../api/session";
import { DescriptionCell, DraftDescriptions, describedBy } from "./ColumnDescriptions";

/** A gateway answering the description routes as the real ones do; every request is recorded. */
function fakeGateway(configured = true) {
  const asked: { path: string; body: unknown }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    asked.push({ path, body: request.method === "POST" ? await request.json() : null });
    const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (path.endsWith("/suggest")) {
      return configured ? json(200, { drafts: { dob: "Date of birth.", ltv: "Lifetime value." }, model: "gpt-test", suggested_by: "model" })
        : json(409, { error: { code: "conflict", message: "no language model is configured on this server", details: { llm: "not configured" } } });
    }
    return json(200, { changed: true });
  });
  return { fetch, asked };
}

function withQueries(node: React.ReactNode) {
  return <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>{node}</QueryClientProvider>;
}

beforeEach(() => { session.set({ access_token: "t", refresh_token: "r", user: { id: "u1", username: "ana", role: "user" } }); });
afterEach(() => { vi.unstubAllGlobals(); session.clear(); });

describe("column descriptions in the catalog", () => {
  it("shows the model's draft as a suggestion a person approves or rejects", async () => {
    const gateway = fakeGateway();
    vi.stubGlobal("fetch", gateway.fetch);
    render(withQueries(<DescriptionCell projectId="p1" side="source" table="crm.customer"
      column={{ name: "dob", description_draft: { text: "Date of birth.", model: "gpt-test", suggested_by: "model" } }} />));
    expect(screen.getByTestId("draft-dob")).toHaveTextContent("Suggested by model gpt-test: Date of birth.");
    await userEvent.click(screen.getByRole("button", { name: "Approve the description of dob" }));
    await userEvent.click(screen.getByRole("button", { name: "Reject the description of dob" }));
    await waitFor(() => expect(gateway.asked).toHaveLength(2));
    expect(gateway.asked).toEqual([
      { path: "/api/v1/projects/p1/catalog/descriptions/approve", body: { table: "crm.customer", side: "source", column: "dob" } },
      { path: "/api/v1/projects/p1/catalog/descriptions/reject", body: { table: "crm.customer", side: "source", column: "dob" } },
    ]);
  });

  it("says who an approved description is from, and offers viewers no buttons", () => {
    expect(describedBy({ name: "dob", description: "x", description_by: { suggested_by: "model", model: "gpt-test", approved_by: "ana" } }))
      .toBe("by model gpt-test, approved by ana");
    expect(describedBy({ name: "dob", description: "x", description_by: { suggested_by: "person", approved_by: "bo" } })).toBe("written by bo");
    session.set({ access_token: "t", refresh_token: "r", user: { id: "u2", username: "vi", role: "viewer" } });
    render(withQueries(<DescriptionCell projectId="p1" side="source" table="crm.customer"
      column={{ name: "dob", description_draft: { text: "Date of birth.", model: "gpt-test", suggested_by: "model" } }} />));
    expect(screen.queryByRole("button")).toBeNull();
  });

  it("asks the model for drafts, or shows that none is configured", async () => {
    vi.stubGlobal("fetch", fakeGateway().fetch);
    const { unmount } = render(withQueries(<DraftDescriptions projectId="p1" side="source" table="crm.customer" />));
    await userEvent.click(screen.getByRole("button", { name: "Draft descriptions of crm.customer" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Model gpt-test drafted 2 descriptions");
    unmount();
    vi.stubGlobal("fetch", fakeGateway(false).fetch);
    render(withQueries(<DraftDescriptions projectId="p1" side="source" table="crm.customer" />));
    await userEvent.click(screen.getByRole("button", { name: "Draft descriptions of crm.customer" }));
    expect(await screen.findByRole("status")).toHaveTextContent("no language model is configured");
  });
});
