"""The SQL guard per dialect: hostile user SQL refused with its reason, ordinary analytic SQL accepted."""

from __future__ import annotations

import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.sqlguard import UnsafeSql, check_user_condition, check_user_query, check_user_query_any

BAD = [
 ("duckdb", "SELECT * FROM read_text('.ombudsman/jwt.key')"),
 ("duckdb", "SELECT * FROM 'file.csv'"),
 ("duckdb", "SELECT * FROM \"data.parquet\""),
 ("duckdb", "SELECT * FROM glob('*')"),
 ("duckdb", "SELECT getenv('HOME')"),
 ("duckdb", "ATTACH 'x.db'"),("duckdb", "DETACH x"),
 ("duckdb", "PRAGMA version"),
 ("duckdb", "INSTALL httpfs"),("duckdb", "LOAD httpfs"),
 ("duckdb", "COPY t TO 'x.csv'"),("duckdb", "EXPORT DATABASE 'x'"),
 ("duckdb", "SET enable_external_access=true"),
 ("duckdb", "SELECT * FROM range(10)"),
 ("duckdb", "FROM read_csv('x')"),
 ("duckdb", "SELECT * FROM 's3://bucket/x.parquet'"),
 ("duckdb", "SELECT * FROM t WHERE x IN (SELECT y FROM read_text('a'))"),
 ("duckdb", "SELECT * FROM t; SELECT 1"),
 ("duckdb", "SELECT * FROM duckdb_secrets()"),("duckdb", "SELECT * FROM t, read_text('a')"),
 ("duckdb", "SELECT * FROM parquet_scan('x')"),("duckdb", "SELECT * FROM sqlite_scan('x','t')"),
 ("duckdb", "SELECT content FROM read_text('x') UNION SELECT 1"),("duckdb","WITH a AS (SELECT * FROM read_blob('x')) SELECT * FROM a"),
 ("duckdb","CALL pragma_version()"),("duckdb",".tables"),("duckdb","USE x"),
 ("postgres", "SELECT pg_read_file('/etc/passwd')"),("postgres", "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')"),
 ("postgres", "SELECT * FROM dblink('x','y') AS t(a int)"),
 ("postgres", "SELECT * INTO newt FROM t"),
 ("postgres", "SELECT current_setting('x')"),("postgres", "SELECT set_config('a','b',false)"),
 ("postgres", "SELECT * FROM generate_series(1,3)"),
 ("postgres", "SELECT lo_import('/etc/passwd')"),("postgres", "SELECT lo_get(1)"),
 ("postgres", "SELECT 1 FROM t FOR UPDATE"),("postgres","SELECT query_to_xml('select 1', true, true, '')"),
 ("postgres", "COPY t FROM PROGRAM 'id'"),("postgres","DELETE FROM t"),("postgres","INSERT INTO t VALUES (1)"),
 ("postgres","UPDATE t SET a=1"),("postgres","CREATE TABLE x (a int)"),("postgres","DROP TABLE t"),("postgres","ALTER TABLE t ADD c int"),
 ("postgres","SELECT pg_ls_dir('.')"),("postgres","SELECT pg_stat_file('x')"),
 ("snowflake", "SELECT $1 FROM @mystage"),("snowflake", "SELECT * FROM @mystage"),
 ("snowflake", "SELECT * FROM TABLE(GENERATOR(ROWCOUNT=>10))"),
 ("snowflake", "SELECT * FROM t, LATERAL FLATTEN(input => t.v)"),
 ("snowflake", "GET @s file:///tmp"),("snowflake", "PUT file:///tmp/x @s"),
 ("snowflake", "SELECT * FROM IDENTIFIER('t')"),("snowflake","SELECT SYSTEM$WHITELIST()"),
 ("snowflake","SELECT * FROM read_text('x')"),("snowflake","SELECT * FROM 'x.csv'"),
 ("snowflake","MERGE INTO t USING s ON t.a=s.a WHEN MATCHED THEN DELETE"),
 ("tsql", "SELECT * FROM OPENROWSET(BULK 'c:/x', SINGLE_CLOB) AS x"),
 ("tsql", "SELECT * FROM OPENQUERY(srv, 'select 1')"),
 ("tsql", "EXEC xp_cmdshell 'dir'"),("tsql","SELECT * INTO #x FROM t"),
 ("tsql", "SELECT * FROM OPENDATASOURCE('SQLNCLI','x').db.dbo.t"),("tsql","SELECT dbo.xp_regread(1)"),
 ("tsql", "EXEC sp_configure 'x'"),("tsql","USE master"),
]
GOOD = [
 ("duckdb", "SELECT * FROM a.b AS x JOIN c ON x.id=c.id"),
 ("duckdb", "WITH a AS (SELECT 1 x) SELECT x, ROW_NUMBER() OVER (PARTITION BY x ORDER BY x) FROM a"),
 ("duckdb", "SELECT region, SUM(amount)::DECIMAL(38,2), COUNT(DISTINCT id) FROM main.orders GROUP BY region HAVING COUNT(*) > 1 ORDER BY 1 LIMIT 10"),
 ("duckdb", "SELECT CASE WHEN a>1 THEN 'x' ELSE 'y' END, CAST(b AS VARCHAR), COALESCE(a, 0), a || 'x' FROM s.t WHERE a IN (SELECT a FROM s.u) AND b LIKE 'x%'"),
 ("duckdb", "SELECT * FROM (SELECT a FROM t) q UNION ALL SELECT a FROM u EXCEPT SELECT a FROM v"),
 ("postgres", "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY a), sum(a) OVER (PARTITION BY b) FROM s.t WHERE EXISTS (SELECT 1 FROM u) AND a BETWEEN 1 AND 2 AND b IS NOT NULL"),
 ("postgres", "SELECT date_trunc('month', d), extract(year from d), now() - interval '1 day', upper(name), md5(x) FROM public.orders o LEFT JOIN public.c c ON c.id = o.cid"),
 ("postgres", "SELECT * FROM (VALUES (1, 'a')) v(n, s)"),
 ("snowflake", "SELECT IFF(a>1,1,0), TO_CHAR(d), a::NUMBER(38,0) FROM DB.S.T QUALIFY ROW_NUMBER() OVER (ORDER BY a)=1"),
 ("snowflake", "SELECT MD5(TO_VARCHAR(a)), COUNT(*) FROM PUBLIC.ORDERS GROUP BY 1"),
 ("tsql", "SELECT TOP 5 ISNULL(a,0), CONVERT(varchar(10), d, 120), DATEADD(day, 1, d) FROM dbo.t WITH (NOLOCK) ORDER BY a"),
 ("tsql", "WITH c AS (SELECT a, ROW_NUMBER() OVER (ORDER BY a) rn FROM dbo.t) SELECT * FROM c WHERE rn < 10"),
]


@pytest.mark.parametrize(("dialect", "sql"), BAD)
def test_hostile_sql_is_refused_naming_where(dialect: str, sql: str) -> None:
    with pytest.raises(UnsafeSql) as refused:
        check_user_query(sql, dialect, "steps[0] 'x': parameters.source_sql")
    assert isinstance(refused.value, Invalid)  # HTTP 422 at the gateway, exit 2 in the CLI
    assert refused.value.message.startswith("steps[0] 'x': parameters.source_sql: ")
    assert refused.value.details["field"] == "steps[0] 'x': parameters.source_sql"


@pytest.mark.parametrize(("dialect", "sql"), GOOD)
def test_ordinary_queries_are_accepted(dialect: str, sql: str) -> None:
    assert check_user_query(sql, dialect, "q") is not None


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM read_text('.ombudsman/jwt.key')", "table function"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("SELECT * INTO copy FROM t", "may only read"),
        ("SELECT 1; SELECT 2", "exactly one SELECT"),
    ],
)
def test_the_reason_is_in_the_message(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeSql, match=reason):
        check_user_query_any(sql, ("postgres", "duckdb", "snowflake", "tsql"), "q")


def test_filters_are_conditions_over_tables() -> None:
    check_user_condition("a > 1 AND b IN (SELECT b FROM s.u)", "duckdb", "filters.source")
    for text in ("a > 1; DROP TABLE t", "pg_read_file('x') <> ''", "a IN (SELECT * FROM read_text('x'))",
                 "1=1) UNION SELECT 1 --"):
        with pytest.raises(UnsafeSql, match=r"filters\.source"):
            check_user_condition(text, "postgres" if "pg_" in text else "duckdb", "filters.source")
