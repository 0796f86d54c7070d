/** The gateway's error shape, {error: {code, message, details}}, as an Error. */
export interface FieldProblem { field?: string; in?: string; message: string }

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public details: { fields?: FieldProblem[]; [key: string]: unknown } = {},
  ) {
    super(message);
  }

  /** A sentence a person can act on, naming the fields the gateway says are wrong. */
  describe(): string {
    const fields = Array.isArray(this.details.fields) ? this.details.fields : [];
    const named = fields.map((f) => `${f.field || f.in}: ${f.message}`).join("; ");
    return named ? `${this.message} (${named})` : this.message;
  }
}

/** Turn a reply that is not OK into an ApiError (the gateway's shape when it has one). */
export function toApiError(status: number, statusText: string, body: unknown): ApiError {
  const err = (body as { error?: { code: string; message: string; details?: Record<string, unknown> } } | null)?.error;
  if (err) return new ApiError(status, err.code, err.message, err.details ?? {});
  return new ApiError(status, `http_${status}`, `the server answered ${status} ${statusText}`.trim());
}

/** What to show a person for any error thrown by an API call. */
export function explain(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403) return `Not allowed: ${error.describe()}`;
    if (error.status === 404) return `Not found: ${error.describe()}`;
    if (error.status === 429) return `Too many requests: ${error.describe()}`;
    if (error.status >= 500) return `The service had a problem (${error.code}): ${error.describe()}`;
    return error.describe();
  }
  return `Unexpected problem: ${error instanceof Error ? error.message : String(error)}`;
}
