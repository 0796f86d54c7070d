import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
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
});
