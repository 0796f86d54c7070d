import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { createMemoryRouter, RouterProvider } from "react-router";
import { LoginPage } from "./LoginPage";

function renderLogin(state?: object) {
  const router = createMemoryRouter([{ path: "/login", element: <LoginPage /> }, { path: "/", element: <p>home</p> }],
    { initialEntries: [{ pathname: "/login", state }] });
  render(<RouterProvider router={router} />);
}

describe("the login page", () => {
  it("has a labelled form reachable by keyboard, username first", async () => {
    renderLogin();
    expect(screen.getByRole("heading", { level: 1, name: "Ombudsman Studio" })).toBeInTheDocument();
    const username = screen.getByLabelText(/Username/);
    expect(username).toHaveFocus();
    await userEvent.tab();
    expect(screen.getByLabelText(/Password/)).toHaveFocus();
    await userEvent.tab();
    expect(screen.getByRole("button", { name: "Log in" })).toHaveFocus();
  });

  it("says the session ended when sent back from an expired one", () => {
    renderLogin({ expired: true });
    expect(screen.getByText("Your session has ended; please log in again.")).toBeInTheDocument();
  });

  afterEach(() => { vi.unstubAllGlobals(); });

  function gatewayWith(oidc: object | null) {
    vi.stubGlobal("fetch", vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === "/api/v1/auth/providers") {
        return new Response(JSON.stringify({ password: true, oidc }), { headers: { "Content-Type": "application/json" } });
      }
      return new Response("{}", { status: 404 });
    }));
  }

  it("offers single sign-on when the gateway has a provider", async () => {
    gatewayWith({ issuer: "https://idp.example", client_id: "cli", scopes: "openid", start_url: "/api/v1/auth/oidc/start" });
    renderLogin();
    const sso = await screen.findByRole("link", { name: "Sign in with SSO" });
    expect(sso).toHaveAttribute("href", "/api/v1/auth/oidc/start");
  });

  it("offers no single sign-on when the gateway has none", async () => {
    gatewayWith(null);
    renderLogin();
    await waitFor(() => expect(fetch).toHaveBeenCalled());
    expect(screen.queryByRole("link", { name: "Sign in with SSO" })).not.toBeInTheDocument();
  });
});
