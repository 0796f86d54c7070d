/** Shapes of replies the gateway documents only loosely (services answer JSON documents). */
export interface Page<T> { items: T[]; total: number; offset: number; limit: number }
export interface Project { id: string; name?: string; description?: string; status?: string; counts?: Record<string, number> }
export interface Connection {
  name: string; kind?: string; role?: string; url_masked?: string;
  last_test?: { ok: boolean; latency_ms?: number; server_version?: string; error?: string } | null;
}
export interface Run {
  run_id: string; project_id?: string; pipeline_id?: string; pipeline_name?: string; status: string;
  total_steps?: number; successful_steps?: number; failed_steps?: number; skipped_steps?: number; warnings?: number;
  score?: number | null; duration_seconds?: number | null; queued_at?: string; started_at?: string; finished_at?: string;
  steps?: Step[];
}
export interface Step {
  step: string; status?: string; state?: string; validator?: string; table_name?: string; message?: string;
  duration_seconds?: number; result?: StepResult;
}
export interface Difference {
  kind: "only_in_source" | "only_in_target" | "changed"; key: Record<string, unknown>;
  columns?: Record<string, { source: string | null; target: string | null }>; row?: Record<string, string | null>;
}
export interface StepResult {
  status?: string; message?: string; source?: Record<string, unknown>; target?: Record<string, unknown>;
  details?: Record<string, unknown>; match_percentage?: number; sample?: unknown[]; affected_columns?: string[];
}
export interface Discrepancy {
  discrepancy_id: string; run_id: string; step: string; table_name?: string; severity?: string; type?: string;
  message?: string; status: string; note?: string; decided_by?: string; decided_at?: string; recorded_at?: string;
}
export interface AuditEntry {
  position: number; occurred_at: string; event_type: string; stream_type: string; stream_id: string;
  actor?: { id?: string; name?: string; kind?: string }; data?: unknown; hash?: string;
}
export interface Pipeline { pipeline_id: string; name: string; description?: string; tags?: string[]; yaml?: string }
