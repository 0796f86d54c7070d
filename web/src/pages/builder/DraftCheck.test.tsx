import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { DraftCheck } from "./DraftCheck";

const STEP = { id: "model-check-compare-order-counts", validator: "custom_query", description: "orders compared (drafted by model gpt-test; check it before saving)",
  parameters: { source_sql: "SELECT count(*) AS n FROM sales.orders", target_sql: "SELECT count(*) AS n FROM SALES.ORDERS" } };

/** A gateway answering POST /projects/{id}/checks/draft as the real route does. */
function fakeGateway(status: number, body: unknown) {
  const asked: unknown[] = [];
  const fetch = vi.fn(async (request: Request) => {
    asked.push({ path: new URL(request.url).pathname, body: await request.json() });
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  });
  return { fetch, asked };
}

afterEach(() => { vi.unstubAllGlobals(); });

describe("drafting a check with the model", () => {
  it("hands the drafted step to the builder, which keeps it only when saved", async () => {
    const gateway = fakeGateway(200, { step: STEP, model: "gpt-test", suggested_by: "model", saved: false });
    vi.stubGlobal("fetch", gateway.fetch);
    const drafted = vi.fn();
    render(<DraftCheck projectId="p1" onDraft={drafted} />);
    await userEvent.type(screen.getByLabelText("Draft a check in plain words"), "compare order counts");
    await userEvent.click(screen.getByRole("button", { name: "Draft with the model" }));
    await vi.waitFor(() => expect(drafted).toHaveBeenCalledWith(STEP, "gpt-test"));
    expect(gateway.asked).toEqual([{ path: "/api/v1/projects/p1/checks/draft", body: { sentence: "compare order counts" } }]);
  });

  it("shows why a draft was refused", async () => {
    vi.stubGlobal("fetch", fakeGateway(422, { error: { code: "invalid", message: "the language model's draft was refused: source_sql may only read: it contains Delete", details: {} } }).fetch);
    const drafted = vi.fn();
    render(<DraftCheck projectId="p1" onDraft={drafted} />);
    await userEvent.type(screen.getByLabelText("Draft a check in plain words"), "delete the orders");
    await userEvent.click(screen.getByRole("button", { name: "Draft with the model" }));
    expect(await screen.findByRole("status")).toHaveTextContent("draft was refused");
    expect(drafted).not.toHaveBeenCalled();
  });
});
