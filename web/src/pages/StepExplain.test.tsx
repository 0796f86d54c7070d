import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { StepExplain } from "./StepExplain";

/** A gateway answering POST /runs/{id}/steps/{step}/explain as the real route does: the model's
 * answer, or the 409 that says no model is configured. */
function fakeGateway(configured: boolean) {
  const asked: { method: string; path: string }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    asked.push({ method: request.method, path: url.pathname });
    const reply = configured
      ? { status: 200, body: { run_id: "r1", step: "orders_rows", model: "gpt-test", suggested_by: "model", explanation: "Three rows never reached the target." } }
      : { status: 409, body: { error: { code: "conflict", message: "no language model is configured on this server (OMB_LLM_PROVIDER is not set): explanations of failed steps need one; everything else works without it", details: { llm: "not configured" } } } };
    return new Response(JSON.stringify(reply.body), { status: reply.status, headers: { "Content-Type": "application/json" } });
  });
  return { fetch, asked };
}

afterEach(() => { vi.unstubAllGlobals(); });

describe("explaining a failed step", () => {
  it("shows the model's explanation, marked as the model's", async () => {
    const gateway = fakeGateway(true);
    vi.stubGlobal("fetch", gateway.fetch);
    render(<StepExplain runId="r1" step="orders_rows" />);
    await userEvent.click(screen.getByRole("button", { name: "Explain step orders_rows" }));
    const shown = await screen.findByTestId("explanation-orders_rows");
    expect(shown).toHaveTextContent("Suggested by model gpt-test: Three rows never reached the target.");
    expect(gateway.asked).toEqual([{ method: "POST", path: "/api/v1/runs/r1/steps/orders_rows/explain" }]);
  });

  it("says so when the server has no language model", async () => {
    vi.stubGlobal("fetch", fakeGateway(false).fetch);
    render(<StepExplain runId="r1" step="orders_rows" />);
    await userEvent.click(screen.getByRole("button", { name: "Explain step orders_rows" }));
    const shown = await screen.findByTestId("explanation-orders_rows");
    expect(shown).toHaveTextContent("no language model is configured");
    expect(shown).not.toHaveTextContent("Suggested by model");
  });
});
