/** The catalog browser: a side's tables (source or target), searched and paged on the server, each
 * with its row count and keys; a table opened shows its columns, full types, nullability, keys and
 * descriptions (approved, or the language model's drafts to approve or reject). */
import { Fragment, useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { Box, Button, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TablePagination, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { Loaded, PageTitle } from "../ui/common";
import { keyMarks, typeText, type CatalogTable } from "./catalogView";
import { CatalogChanges, DdlUpload } from "./CatalogTools";
import { DescriptionCell, DraftDescriptions } from "./ColumnDescriptions";

interface CatalogReply { kind?: string; database?: string | null; server_version?: string | null; tables: CatalogTable[]; total_tables: number }

export default function CatalogPage() {
  const projectId = useParams().projectId!;
  const [side, setSide] = useState<"source" | "target">("source");
  const [q, setQ] = useState("");
  const [page, setPage] = useState(0);
  const [size, setSize] = useState(25);
  const [open, setOpen] = useState<string | null>(null);
  const found = useQuery({
    queryKey: ["catalog", projectId, side, q, page, size],
    queryFn: () => unwrap<CatalogReply>(client.GET("/api/v1/projects/{project_id}/catalog", {
      params: { path: { project_id: projectId }, query: { side, offset: page * size, limit: size, ...(q.trim() ? { q: q.trim() } : {}) } },
    })),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <PageTitle title="Catalog" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Catalog"]]} />
      <Stack direction="row" spacing={2} sx={{ mb: 2, alignItems: "center" }}>
        <TextField select size="small" label="Side" value={side} sx={{ minWidth: 140 }} onChange={(e) => { setSide(e.target.value as "source" | "target"); setPage(0); setOpen(null); }}>
          <MenuItem value="source">source</MenuItem>
          <MenuItem value="target">target</MenuItem>
        </TextField>
        <TextField size="small" label="Table name contains" value={q} onChange={(e) => { setQ(e.target.value); setPage(0); }} />
      </Stack>
      <CatalogChanges projectId={projectId} side={side} />
      <Loaded query={found}>{() => {
        const data = found.data!;
        return (
          <>
            <Typography color="text.secondary" sx={{ mb: 1 }} data-testid="catalog-summary">
              {data.kind ?? "—"}{data.database ? ` · ${data.database}` : ""}{data.server_version ? ` · ${data.server_version}` : ""} · {data.total_tables} tables
            </Typography>
            <Box sx={{ overflowX: "auto" }}>
              <Table size="small" aria-label={`Tables of the ${side}`}>
                <TableHead><TableRow><TableCell>Table</TableCell><TableCell>Kind</TableCell><TableCell>Rows (approx.)</TableCell><TableCell>Columns</TableCell><TableCell>Primary key</TableCell><TableCell>Foreign keys</TableCell><TableCell>Details</TableCell></TableRow></TableHead>
                <TableBody>{data.tables.map((t) => {
                  const id = `${t.schema_name}.${t.name}`;
                  return (
                    <Fragment key={id}>
                      <TableRow>
                        <TableCell component="th" scope="row">{id}</TableCell>
                        <TableCell>{t.kind ?? "table"}</TableCell>
                        <TableCell>{t.row_count ?? "—"}</TableCell>
                        <TableCell>{(t.columns ?? []).length}</TableCell>
                        <TableCell>{(t.primary_key ?? []).join(", ") || "—"}</TableCell>
                        <TableCell>{(t.foreign_keys ?? []).length}</TableCell>
                        <TableCell><Button size="small" aria-expanded={open === id} aria-label={`Columns of ${id}`} onClick={() => setOpen(open === id ? null : id)}>Columns</Button></TableCell>
                      </TableRow>
                      {open === id && (
                        <TableRow><TableCell colSpan={7}>
                          <DraftDescriptions projectId={projectId} side={side} table={id} />
                          <Table size="small" aria-label={`Columns of ${id}`}>
                            <TableHead><TableRow><TableCell>#</TableCell><TableCell>Column</TableCell><TableCell>Type</TableCell><TableCell>Nullable</TableCell><TableCell>Keys</TableCell><TableCell>Description</TableCell></TableRow></TableHead>
                            <TableBody>{[...(t.columns ?? [])].sort((a, b) => a.ordinal - b.ordinal).map((c) => (
                              <TableRow key={c.name}>
                                <TableCell>{c.ordinal}</TableCell>
                                <TableCell>{c.name}</TableCell>
                                <TableCell><code>{typeText(c)}</code></TableCell>
                                <TableCell>{c.nullable === false ? "not null" : "null"}</TableCell>
                                <TableCell>{keyMarks(t, c.name).join("; ")}</TableCell>
                                <TableCell><DescriptionCell projectId={projectId} side={side} table={id} column={c} /></TableCell>
                              </TableRow>
                            ))}</TableBody>
                          </Table>
                        </TableCell></TableRow>
                      )}
                    </Fragment>
                  );
                })}</TableBody>
              </Table>
            </Box>
            <TablePagination component="div" count={data.total_tables} page={page} rowsPerPage={size} rowsPerPageOptions={[25, 50, 100]}
              onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setSize(Number(e.target.value)); setPage(0); }} />
          </>
        );
      }}</Loaded>
      <DdlUpload projectId={projectId} side={side} />
    </>
  );
}
