import { useState } from "react";
import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ParameterForm } from "./ParameterForm";
import { fieldValue, formFields, formValues, type FormValues } from "../schemaForm";

const SCHEMA = {
  type: "object", required: ["column"],
  properties: {
    column: { type: "string", description: "the column compared" },
    kind: { default: "auto", enum: ["auto", "categorical", "numeric"], type: "string" },
    bins: { default: 10, maximum: 1000, minimum: 2, type: "integer" },
    trim: { default: false, type: "boolean" },
  },
};

function Harness({ onValues }: { onValues: (v: FormValues) => void }) {
  const fields = formFields(SCHEMA);
  const [values, setValues] = useState(formValues(fields, { kind: "numeric" }));
  const problems = Object.fromEntries(fields.filter((f) => values[f.name]).map((f) => [f.name, fieldValue(f, values[f.name]).problem])
    .filter(([, p]) => p)) as Record<string, string>;
  return <ParameterForm fields={fields} values={values} problems={problems} idPrefix="t"
    onChange={(name, text) => { const next = { ...values, [name]: text }; setValues(next); onValues(next); }} />;
}

describe("the generated parameter form", () => {
  it("marks required fields, offers enums and yes/no as selects, says a field's problem, all by keyboard", async () => {
    let last: FormValues = {};
    render(<Harness onValues={(v) => { last = v; }} />);
    const form = screen.getByRole("group", { name: "Parameters" });
    const column = within(form).getByRole("textbox", { name: "Column" });
    expect(column).toBeRequired();
    expect(within(form).getByText("the column compared")).toBeInTheDocument();
    expect(within(form).getByRole("combobox", { name: "Kind" })).toHaveTextContent("numeric");
    expect(within(form).getByText("default: auto")).toBeInTheDocument();
    await userEvent.click(column);
    await userEvent.keyboard("amount");
    await userEvent.tab();  // to the Kind select
    await userEvent.tab();  // to Bins
    await userEvent.keyboard("1");
    expect(within(form).getByText("must be at least 2")).toBeInTheDocument();
    await userEvent.keyboard("2");
    expect(within(form).queryByText("must be at least 2")).toBeNull();
    expect(last).toMatchObject({ column: "amount", kind: "numeric", bins: "12" });
    // a yes/no field opened and chosen with the keyboard
    await userEvent.tab();
    await userEvent.keyboard("{Enter}");
    await userEvent.click(await screen.findByRole("option", { name: "yes" }));
    expect(last.trim).toBe("true");
  });
});
