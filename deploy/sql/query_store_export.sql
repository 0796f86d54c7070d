/*
  Query Store export for Ombudsman's workload service (issue 10).

  What it gives: one row per query of the Query Store (SQL Server 2016+, Azure SQL) over the last
  @days days, heaviest first, with the columns the workload upload reads:

    query_id              sys.query_store_query.query_id
    query_sql_text        sys.query_store_query_text.query_sql_text
    count_executions      SUM of sys.query_store_runtime_stats.count_executions over plans and intervals
    avg_duration          microseconds, weighted by executions
    total_duration        microseconds (avg_duration x count_executions, summed)
    avg_cpu_time          microseconds, weighted by executions
    avg_logical_io_reads  8 KB pages, weighted by executions
    first_execution_time  ISO 8601, UTC
    last_execution_time   ISO 8601, UTC

  Run it in the database whose workload you want (Query Store must be on:
  ALTER DATABASE CURRENT SET QUERY_STORE = ON). Save the result as CSV, e.g.

    sqlcmd -S myserver -d Sales -E -i deploy/sql/query_store_export.sql -s "," -W -w 65535 -y 0 -o export.csv

  (or in SSMS: Results to File, comma delimited), then upload it:
    ombudsman workload upload --project sales export.csv
  Query texts with commas or line breaks need a CSV writer that quotes them: SSMS "Save Results As"
  does; for sqlcmd prefer the JSON form at the end of this file (uncomment FOR JSON PATH), one array.
  At most 100,000 queries per upload: @max_queries keeps the heaviest.
*/
SET NOCOUNT ON;

DECLARE @days int = 30;
DECLARE @max_queries int = 100000;
DECLARE @since datetimeoffset = DATEADD(day, -@days, SYSDATETIMEOFFSET());

WITH stats AS (
    SELECT
        p.query_id,
        SUM(rs.count_executions) AS count_executions,
        SUM(rs.avg_duration * rs.count_executions) AS total_duration,
        SUM(rs.avg_cpu_time * rs.count_executions) AS total_cpu_time,
        SUM(rs.avg_logical_io_reads * rs.count_executions) AS total_logical_io_reads,
        MIN(rs.first_execution_time) AS first_execution_time,
        MAX(rs.last_execution_time) AS last_execution_time
    FROM sys.query_store_plan AS p
    JOIN sys.query_store_runtime_stats AS rs ON rs.plan_id = p.plan_id
    JOIN sys.query_store_runtime_stats_interval AS rsi
        ON rsi.runtime_stats_interval_id = rs.runtime_stats_interval_id
    WHERE rsi.start_time >= @since
    GROUP BY p.query_id
)
SELECT TOP (@max_queries)
    q.query_id AS query_id,
    qt.query_sql_text AS query_sql_text,
    s.count_executions AS count_executions,
    s.total_duration / NULLIF(s.count_executions, 0) AS avg_duration,
    s.total_duration AS total_duration,
    s.total_cpu_time / NULLIF(s.count_executions, 0) AS avg_cpu_time,
    s.total_logical_io_reads / NULLIF(s.count_executions, 0) AS avg_logical_io_reads,
    CONVERT(varchar(33), SWITCHOFFSET(s.first_execution_time, '+00:00'), 127) AS first_execution_time,
    CONVERT(varchar(33), SWITCHOFFSET(s.last_execution_time, '+00:00'), 127) AS last_execution_time
FROM stats AS s
JOIN sys.query_store_query AS q ON q.query_id = s.query_id
JOIN sys.query_store_query_text AS qt ON qt.query_text_id = q.query_text_id
WHERE q.is_internal_query = 0
ORDER BY s.total_duration DESC
-- FOR JSON PATH, INCLUDE_NULL_VALUES  -- uncomment for a JSON array (save as export.json)
;
