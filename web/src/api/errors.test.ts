import { describe, expect, it } from "vitest";
import { ApiError, explain, toApiError } from "./errors";

describe("errors from the gateway", () => {
  it("reads the gateway's error shape and names the wrong fields", () => {
    const e = toApiError(422, "Unprocessable", { error: { code: "invalid", message: "bad input", details: { fields: [{ field: "id", message: "too short" }] } } });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe("invalid");
    expect(explain(e)).toBe("bad input (id: too short)");
  });

  it("says what happened when the reply is not the error shape", () => {
    expect(explain(toApiError(502, "Bad Gateway", null))).toBe("The service had a problem (http_502): the server answered 502 Bad Gateway");
    expect(explain(new ApiError(403, "forbidden", "admins only"))).toBe("Not allowed: admins only");
  });
});
