/** Connection URLs built from form fields, per kind (the gateway's SQLAlchemy-style URLs). */
export type Kind = "postgres" | "sqlserver" | "snowflake" | "duckdb" | "url";

export interface UrlFields {
  host?: string; port?: string; database?: string; user?: string; password?: string;
  account?: string; schema?: string; warehouse?: string; role?: string; path?: string; url?: string;
}

const enc = encodeURIComponent;

function credentials(f: UrlFields): string {
  if (!f.user) return "";
  return f.password ? `${enc(f.user)}:${enc(f.password)}@` : `${enc(f.user)}@`;
}

/** The URL for a kind; throws an Error naming the missing field. */
export function buildUrl(kind: Kind, f: UrlFields): string {
  const need = (key: keyof UrlFields, label: string) => {
    if (!f[key]?.trim()) throw new Error(`${label} is required for ${kind}`);
    return f[key]!.trim();
  };
  switch (kind) {
    case "postgres": {
      const host = need("host", "host");
      const db = need("database", "database");
      return `postgresql://${credentials(f)}${host}${f.port ? `:${f.port}` : ""}/${enc(db)}`;
    }
    case "sqlserver": {
      const host = need("host", "host");
      const db = need("database", "database");
      return `mssql+pyodbc://${credentials(f)}${host}:${f.port || "1433"}/${enc(db)}?driver=ODBC+Driver+18+for+SQL+Server`;
    }
    case "snowflake": {
      const account = need("account", "account");
      const db = need("database", "database");
      const query = new URLSearchParams();
      if (f.warehouse) query.set("warehouse", f.warehouse);
      if (f.role) query.set("role", f.role);
      const q = query.toString();
      return `snowflake://${credentials(f)}${account}/${enc(db)}${f.schema ? `/${enc(f.schema)}` : ""}${q ? `?${q}` : ""}`;
    }
    case "duckdb": {  // opened read-only: validation only reads, and workers share the file
      const path = need("path", "file path");
      return `duckdb:///${path.replace(/^\/+/, "/")}?read_only=true`;
    }
    case "url":
      return need("url", "URL");
  }
}

export const FIELDS: Record<Kind, [keyof UrlFields, string][]> = {
  postgres: [["host", "Host"], ["port", "Port"], ["database", "Database"], ["user", "User"], ["password", "Password"]],
  sqlserver: [["host", "Host"], ["port", "Port"], ["database", "Database"], ["user", "User"], ["password", "Password"]],
  snowflake: [["account", "Account"], ["database", "Database"], ["schema", "Schema"], ["warehouse", "Warehouse"], ["role", "Role"], ["user", "User"], ["password", "Password"]],
  duckdb: [["path", "File path"]],
  url: [["url", "URL"]],
};
