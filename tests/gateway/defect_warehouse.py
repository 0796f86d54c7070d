"""The defect warehouse (issue 15): a star schema in two naming conventions, migrated with injected
defects and traps. Reusable by tests and benches.

- schema `dw`, Kimball style: `FactSales.CustomerKey` → `DimCustomer.CustomerKey`, `OrderDateKey` →
  `DimDate.DateKey`; `DimCustomer` is an SCD2 dimension (ValidFrom/ValidTo/IsCurrent versioning
  CustomerID); `DimDate` a date dimension;
- schema `tpcds`, prefixed TPC-DS style: `store_sales.ss_customer_sk` → `customer.c_customer_sk`,
  `ss_sold_date_sk` → `date_dim.d_date_sk`, `ss_store_sk` → `store.s_store_sk`;
- no declared foreign key anywhere (inference must find them, confirmed by the data).

The source is PostgreSQL (`SOURCE_DDL`, `source_statements`); the target (`TARGET_DDL`,
`target_statements`) is one SQL text that DuckDB and Snowflake (fakesnow) both run: identifiers in
upper case, some types changed, then every defect's and trap's statements applied to a faithful copy.
`DEFECTS` say what each defect is and where a failing step must name it; `TRAPS` what must never be
reported.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SOURCE_SCHEMAS = ["dw", "tpcds"]
TARGET_SCHEMAS = ["DW", "TPCDS"]

SOURCE_DDL = """
CREATE SCHEMA dw;
CREATE TABLE dw."DimDate" ("DateKey" integer PRIMARY KEY, "FullDate" date NOT NULL, "CalendarMonth" smallint NOT NULL,
    "DayName" varchar(9) NOT NULL);
CREATE TABLE dw."DimCustomer" ("CustomerKey" integer PRIMARY KEY, "CustomerID" varchar(10) NOT NULL,
    "Name" varchar(40), "Email" varchar(60), "Segment" varchar(12), "CountryCode" char(3),
    "ValidFrom" date NOT NULL, "ValidTo" date, "IsCurrent" boolean NOT NULL);
CREATE TABLE dw."DimProduct" ("ProductKey" integer PRIMARY KEY, "ProductCode" varchar(10) NOT NULL UNIQUE,
    "ProductName" varchar(40), "Category" varchar(20), "StatusCode" varchar(10), "Weight" numeric(8,3),
    "ListPrice" numeric(10,2));
CREATE TABLE dw."FactSales" ("SalesOrderNumber" varchar(12) NOT NULL, "LineNumber" integer NOT NULL,
    "OrderDateKey" integer NOT NULL, "CustomerKey" integer NOT NULL, "ProductKey" integer NOT NULL,
    "Quantity" integer NOT NULL, "SalesAmount" numeric(12,2) NOT NULL, "DiscountRate" double precision,
    PRIMARY KEY ("SalesOrderNumber", "LineNumber"));
CREATE SCHEMA tpcds;
CREATE TABLE tpcds.date_dim (d_date_sk integer PRIMARY KEY, d_date date NOT NULL, d_moy smallint, d_day_name varchar(9));
CREATE TABLE tpcds.customer (c_customer_sk integer PRIMARY KEY, c_customer_id char(16) NOT NULL,
    c_first_name varchar(20), c_email_address varchar(50), c_birth_country varchar(20));
CREATE TABLE tpcds.store (s_store_sk integer PRIMARY KEY, s_store_id char(16) NOT NULL, s_store_name varchar(50));
CREATE TABLE tpcds.promotion (p_promo_sk integer PRIMARY KEY, p_promo_id char(16) NOT NULL, p_promo_name varchar(50));
CREATE TABLE tpcds.store_sales (ss_sold_date_sk integer, ss_customer_sk integer, ss_store_sk integer,
    ss_ticket_number bigint NOT NULL, ss_line integer NOT NULL, ss_quantity integer, ss_sales_price numeric(7,2),
    ss_net_paid numeric(12,2), ss_sold_ts timestamp, PRIMARY KEY (ss_ticket_number, ss_line));
CREATE TABLE tpcds.store_returns (sr_returned_date_sk integer, sr_customer_sk integer, sr_ticket_number bigint NOT NULL,
    sr_line integer NOT NULL, sr_return_quantity integer, sr_return_amt numeric(7,2),
    PRIMARY KEY (sr_ticket_number, sr_line));
"""

# the migrated copy: identifiers upper case; CHAR → VARCHAR, smallint → INTEGER, VARCHAR widened (traps);
# DimCustomer.Segment renamed CUSTOMERSEGMENT (mapped, no defect); customer.c_email_address renamed
# C_EMAIL_ADDR (and one value changed: a defect); DimProduct.Weight dropped; ss_net_paid → DOUBLE (lossy);
# no tpcds.promotion; store_returns without its primary key (so a duplicated row can be loaded)
TARGET_DDL = """
CREATE SCHEMA DW;
CREATE TABLE DW.DIMDATE (DATEKEY INTEGER PRIMARY KEY, FULLDATE DATE NOT NULL, CALENDARMONTH INTEGER NOT NULL,
    DAYNAME VARCHAR(20) NOT NULL);
CREATE TABLE DW.DIMCUSTOMER (CUSTOMERKEY INTEGER PRIMARY KEY, CUSTOMERID VARCHAR(10) NOT NULL, NAME VARCHAR(40),
    EMAIL VARCHAR(60), CUSTOMERSEGMENT VARCHAR(12), COUNTRYCODE VARCHAR(3), VALIDFROM DATE NOT NULL, VALIDTO DATE,
    ISCURRENT BOOLEAN NOT NULL);
CREATE TABLE DW.DIMPRODUCT (PRODUCTKEY INTEGER PRIMARY KEY, PRODUCTCODE VARCHAR(10) NOT NULL UNIQUE,
    PRODUCTNAME VARCHAR(40), CATEGORY VARCHAR(20), STATUSCODE VARCHAR(10), LISTPRICE DECIMAL(10,2));
CREATE TABLE DW.FACTSALES (SALESORDERNUMBER VARCHAR(12) NOT NULL, LINENUMBER INTEGER NOT NULL,
    ORDERDATEKEY INTEGER NOT NULL, CUSTOMERKEY INTEGER NOT NULL, PRODUCTKEY INTEGER NOT NULL, QUANTITY INTEGER NOT NULL,
    SALESAMOUNT DECIMAL(12,2) NOT NULL, DISCOUNTRATE DOUBLE, PRIMARY KEY (SALESORDERNUMBER, LINENUMBER));
CREATE SCHEMA TPCDS;
CREATE TABLE TPCDS.DATE_DIM (D_DATE_SK INTEGER PRIMARY KEY, D_DATE DATE NOT NULL, D_MOY INTEGER, D_DAY_NAME VARCHAR(20));
CREATE TABLE TPCDS.CUSTOMER (C_CUSTOMER_SK INTEGER PRIMARY KEY, C_CUSTOMER_ID VARCHAR(16) NOT NULL,
    C_FIRST_NAME VARCHAR(20), C_EMAIL_ADDR VARCHAR(50), C_BIRTH_COUNTRY VARCHAR(20));
CREATE TABLE TPCDS.STORE (S_STORE_SK INTEGER PRIMARY KEY, S_STORE_ID VARCHAR(16) NOT NULL, S_STORE_NAME VARCHAR(50));
CREATE TABLE TPCDS.STORE_SALES (SS_SOLD_DATE_SK INTEGER, SS_CUSTOMER_SK INTEGER, SS_STORE_SK INTEGER,
    SS_TICKET_NUMBER BIGINT NOT NULL, SS_LINE INTEGER NOT NULL, SS_QUANTITY INTEGER, SS_SALES_PRICE DECIMAL(7,2),
    SS_NET_PAID DOUBLE, SS_SOLD_TS TIMESTAMP, PRIMARY KEY (SS_TICKET_NUMBER, SS_LINE));
CREATE TABLE TPCDS.STORE_RETURNS (SR_RETURNED_DATE_SK INTEGER, SR_CUSTOMER_SK INTEGER, SR_TICKET_NUMBER BIGINT NOT NULL,
    SR_LINE INTEGER NOT NULL, SR_RETURN_QUANTITY INTEGER, SR_RETURN_AMT DECIMAL(7,2));
"""
# source table → (target table, source column → target column for the renamed ones)
TARGET_NAMES: dict[str, tuple[str, dict[str, str]]] = {
    "dw.DimDate": ("DW.DIMDATE", {}),
    "dw.DimCustomer": ("DW.DIMCUSTOMER", {"Segment": "CUSTOMERSEGMENT"}),
    "dw.DimProduct": ("DW.DIMPRODUCT", {}),
    "dw.FactSales": ("DW.FACTSALES", {}),
    "tpcds.date_dim": ("TPCDS.DATE_DIM", {}),
    "tpcds.customer": ("TPCDS.CUSTOMER", {"c_email_address": "C_EMAIL_ADDR"}),
    "tpcds.store": ("TPCDS.STORE", {}),
    "tpcds.store_sales": ("TPCDS.STORE_SALES", {}),
    "tpcds.store_returns": ("TPCDS.STORE_RETURNS", {}),
}
DROPPED_COLUMNS = {"dw.DimProduct": {"Weight"}}
NOT_MIGRATED = {"tpcds.promotion"}

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(60)]
SALES_DAYS = DAYS[:40]  # facts use the first 40 days; the date dimensions run on to day 60
GAP_DAY = DAYS[50]  # deleted from the target's DimDate: no fact points at it
PARTIAL_DAY = DAYS[10]  # half of store_sales of this day is not loaded


def date_key(day: dt.date) -> int:
    return int(day.strftime("%Y%m%d"))


def julian(day: dt.date) -> int:
    return 2460311 + (day - DAYS[0]).days


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every source table's rows (deterministic, consistent with the true foreign keys)."""
    data: dict[str, list[tuple[Any, ...]]] = {}
    data['dw."DimDate"'] = [(date_key(d), d, d.month, d.strftime("%A")) for d in DAYS]
    data['dw."DimCustomer"'] = [
        (1, "C1", "Ada", "ada.lovelace@example.org", "Retail", "GB", dt.date(2020, 1, 1), None, True),
        (2, "C2", "Bob", "bob.builder@example.org", "Trade", "US", dt.date(2020, 1, 1), dt.date(2022, 1, 1), False),
        (3, "C2", "Bob", "bob.builder@example.org", "Retail", "US", dt.date(2022, 1, 1), None, True),
        (4, "C3", "Cy", "cy.young@example.org", "Trade", "DE", dt.date(2020, 1, 1), dt.date(2021, 6, 1), False),
        (5, "C3", "Cy", "cy.young@example.org", "Retail", "DE", dt.date(2021, 6, 1), None, True),
        (6, "C4", "Di", "di.prince@example.org", "Retail", "FR", dt.date(2021, 1, 1), None, True),
        (7, "C5", "Ed", "ed.wood@example.org", "Trade", "GB", dt.date(2020, 1, 1), dt.date(2023, 3, 1), False),
        (8, "C5", "Ed", "ed.wood@example.org", "Trade", "IE", dt.date(2023, 3, 1), None, True),
        (9, "C6", "Flo", "flo.nightingale@example.org", "Retail", "GB", dt.date(2022, 2, 2), None, True),
    ]
    data['dw."DimProduct"'] = [
        (1, "P001", "Widget  ", "Tools", "ACTIVE", Decimal("1.250"), Decimal("9.99")),  # genuine trailing spaces
        (2, "P002", "Gadget", "", "ACTIVE", Decimal("0.500"), Decimal("19.99")),  # empty string, both sides
        (3, "P003", "Doohickey", None, "ACTIVE", Decimal("2.000"), Decimal("4.50")),  # NULL, both sides
        (4, "P004", "Gizmo", "Toys", "RETIRED", Decimal("0.750"), Decimal("14.00")),
        (5, "P005", "Sprocket", "Tools", "ACTIVE", Decimal("0.100"), Decimal("2.25")),
        (6, "P006", "Thingamajig", "Toys", "ACTIVE", Decimal("3.300"), Decimal("29.00")),
    ]
    current = [1, 3, 5, 6, 8, 9]
    data['dw."FactSales"'] = [
        (f"SO{1000 + i // 2}", 1 + i % 2, date_key(SALES_DAYS[i % 40]), current[i % 6], 1 + i % 6, 1 + i % 5,
         Decimal(f"{(1 + i % 5) * (10 + i % 7)}.{i % 100:02d}"), round(0.05 * (i % 4) + 0.1 / 3, 12))
        for i in range(120)
    ]
    data["tpcds.date_dim"] = [(julian(d), d, d.month, d.strftime("%A")) for d in DAYS]
    data["tpcds.customer"] = [
        (i, f"AAAAAAAA{i:04d}", f"First{i}", f"user{i}@example.com", ["GERMANY", "FRANCE", "PERU"][i % 3])
        for i in range(1, 9)
    ]
    data["tpcds.store"] = [(1, "S1", "Main"), (2, "S2", "Side"), (3, "S3", "Mall")]
    data["tpcds.promotion"] = [(i, f"PR{i}", f"Promo {i}") for i in range(1, 4)]
    data["tpcds.store_sales"] = [
        (julian(SALES_DAYS[i % 40]), 1 + i % 8, 1 + i % 3, 5000 + i // 3, 1 + i % 3, 1 + i % 4,
         Decimal(f"{5 + i % 9}.{(i * 7) % 100:02d}"), Decimal(f"{(1 + i % 4) * (5 + i % 9)}.{(i * 3) % 100:02d}"),
         dt.datetime.combine(SALES_DAYS[i % 40], dt.time(9 + i % 8, (i * 13) % 60)))
        for i in range(160)
    ]
    data["tpcds.store_returns"] = [
        (julian(SALES_DAYS[3 + i]), 1 + i % 8, 5000 + i, 1, 1, Decimal(f"{5 + i % 9}.50")) for i in range(20)
    ]
    return data


def literal(value: Any) -> str:
    """A SQL literal that PostgreSQL, DuckDB and Snowflake read alike."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _inserts(table: str, values: list[tuple[Any, ...]]) -> list[str]:
    return [f"INSERT INTO {table} VALUES " + ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in values)]


def _target_table(source: str) -> str:
    schema, name = source.replace('"', "").split(".", 1)
    return f"{schema.upper()}.{name.upper()}"


def source_statements() -> list[str]:
    """DDL and rows of the PostgreSQL source."""
    return [s for s in SOURCE_DDL.split(";") if s.strip()] + [
        statement for table, values in rows().items() for statement in _inserts(table, values)
    ]


@dataclass
class Injected:
    """A defect or a trap: what it is, where, and the statements that make it on the target."""

    name: str
    table: str  # source table (schema.table)
    column: str | None  # the column a failing step must name (None: the table alone)
    statements: list[str] = field(default_factory=list)
    also: set[tuple[str, str | None]] = field(default_factory=set)  # other (table, column) it explains


PS = PARTIAL_DAY
# rows missing from store_sales change its row count, its key's rows, and every measure's sums per day
STORE_SALES_ROWS = {("tpcds.store_sales", c) for c in ("ss_ticket_number", "ss_line", "ss_sold_date_sk",
                                                       "ss_quantity", "ss_sales_price", "ss_net_paid")}
DEFECTS: list[Injected] = [
    Injected("orphan foreign key", "dw.FactSales", "CustomerKey",
             ["UPDATE DW.FACTSALES SET CUSTOMERKEY = 999 WHERE SALESORDERNUMBER = 'SO1005' AND LINENUMBER = 1"]),
    Injected("negative value", "dw.FactSales", "Quantity",
             ["UPDATE DW.FACTSALES SET QUANTITY = -3 WHERE SALESORDERNUMBER = 'SO1010' AND LINENUMBER = 2"]),
    Injected("missing fact rows", "tpcds.store_sales", "ss_ticket_number",
             ["DELETE FROM TPCDS.STORE_SALES WHERE SS_TICKET_NUMBER = 5010"], STORE_SALES_ROWS),
    Injected("changed fact rows", "tpcds.store_sales", "ss_sales_price",
             ["UPDATE TPCDS.STORE_SALES SET SS_SALES_PRICE = SS_SALES_PRICE + 1 WHERE SS_TICKET_NUMBER IN (5030, 5031)"]),
    Injected("partial load of one period", "tpcds.store_sales", "ss_sold_date_sk",
             [f"DELETE FROM TPCDS.STORE_SALES WHERE SS_SOLD_DATE_SK = {julian(PS)} AND SS_LINE > 1"],
             STORE_SALES_ROWS),
    Injected("shifted timestamp", "tpcds.store_sales", "ss_sold_ts",
             ["UPDATE TPCDS.STORE_SALES SET SS_SOLD_TS = SS_SOLD_TS + INTERVAL '1 hour' WHERE SS_TICKET_NUMBER = 5040"]),
    Injected("lossy retype DECIMAL(12,2) -> DOUBLE", "tpcds.store_sales", "ss_net_paid"),
    Injected("duplicated fact rows", "tpcds.store_returns", "sr_ticket_number",
             ["INSERT INTO TPCDS.STORE_RETURNS SELECT * FROM TPCDS.STORE_RETURNS WHERE SR_TICKET_NUMBER = 5007"],
             {("tpcds.store_returns", c) for c in ("sr_line", "sr_returned_date_sk", "sr_return_quantity",
                                                    "sr_return_amt")}),
    Injected("SCD2 overlap", "dw.DimCustomer", "ValidTo",
             ["UPDATE DW.DIMCUSTOMER SET VALIDTO = DATE '2022-06-01' WHERE CUSTOMERKEY = 2"],
             {("dw.DimCustomer", "ValidFrom"), ("dw.DimCustomer", "CustomerID")}),
    Injected("SCD2 gap", "dw.DimCustomer", "ValidFrom",
             ["UPDATE DW.DIMCUSTOMER SET VALIDFROM = DATE '2021-09-01' WHERE CUSTOMERKEY = 5"],
             {("dw.DimCustomer", "ValidTo"), ("dw.DimCustomer", "CustomerID")}),
    Injected("truncated attribute", "dw.DimCustomer", "Email",
             ["UPDATE DW.DIMCUSTOMER SET EMAIL = SUBSTR(EMAIL, 1, 12) WHERE CUSTOMERKEY = 9"]),
    Injected("nulled attribute", "dw.DimCustomer", "Name",
             ["UPDATE DW.DIMCUSTOMER SET NAME = NULL WHERE CUSTOMERKEY = 6"]),
    Injected("out-of-domain value", "dw.DimProduct", "StatusCode",
             ["UPDATE DW.DIMPRODUCT SET STATUSCODE = 'ZOMBIE' WHERE PRODUCTKEY = 5"]),
    Injected("missing column", "dw.DimProduct", "Weight"),
    Injected("gap in the date dimension", "dw.DimDate", "FullDate",
             [f"DELETE FROM DW.DIMDATE WHERE DATEKEY = {date_key(GAP_DAY)}"],
             {("dw.DimDate", "DateKey")}),
    Injected("renamed column whose data changed", "tpcds.customer", "c_email_address",
             ["UPDATE TPCDS.CUSTOMER SET C_EMAIL_ADDR = 'someone.else@example.com' WHERE C_CUSTOMER_SK = 4"]),
    Injected("missing table", "tpcds.promotion", None),
]
# made by the target's DDL (types, case, the renamed Segment) or by these statements; never reported
TRAPS: list[Injected] = [
    Injected("float noise below tolerance", "dw.FactSales", "DiscountRate",
             ["UPDATE DW.FACTSALES SET DISCOUNTRATE = DISCOUNTRATE * (1 + 1e-12)"]),
    Injected("CHAR padding (CHAR(3) -> VARCHAR(3))", "dw.DimCustomer", "CountryCode"),
    Injected("CHAR padding (CHAR(16) -> VARCHAR(16))", "tpcds.customer", "c_customer_id"),
    Injected("identifier case (every target name upper case)", "tpcds.store", "s_store_name"),
    Injected("lossless type maps (smallint -> INTEGER, varchar(9) -> VARCHAR(20))", "tpcds.date_dim", "d_moy",
             also={("tpcds.date_dim", "d_day_name"), ("dw.DimDate", "CalendarMonth"), ("dw.DimDate", "DayName")}),
    Injected("genuine trailing spaces equal on both sides", "dw.DimProduct", "ProductName"),
    Injected("NULL vs empty string, both sides agree", "dw.DimProduct", "Category"),
    Injected("renamed column (Segment -> CUSTOMERSEGMENT), data unchanged", "dw.DimCustomer", "Segment"),
]


def target_statements() -> list[str]:
    """DDL, a faithful copy of the rows (the dropped column and the missing table left out), then the
    defects' and traps' statements: one script for DuckDB and fakesnow."""
    statements = [s for s in TARGET_DDL.split(";") if s.strip()]
    columns = source_columns()
    for table, values in rows().items():
        name = table.replace('"', "")
        if name in NOT_MIGRATED:
            continue
        dropped = {c.lower() for c in DROPPED_COLUMNS.get(name, set())}
        keep = [i for i, c in enumerate(columns[name]) if c.lower() not in dropped]
        statements += _inserts(_target_table(table), [tuple(row[i] for i in keep) for row in values])
    for item in [*DEFECTS, *TRAPS]:
        statements += item.statements
    return statements


def source_columns() -> dict[str, list[str]]:
    """Column names per source table, read from SOURCE_DDL."""
    import sqlglot
    from sqlglot import exp

    found: dict[str, list[str]] = {}
    for statement in sqlglot.parse(SOURCE_DDL, read="postgres"):
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            table = statement.this.this
            name = f"{table.db}.{table.name}"
            found[name] = [c.name for c in statement.this.expressions if isinstance(c, exp.ColumnDef)]
    return found


# the date key each fact's measures are grouped by (generated metric steps): with the primary key, the
# columns a finding uses to say *which* rows or groups differ
DATE_KEYS = {"dw.FactSales": "OrderDateKey", "tpcds.store_sales": "ss_sold_date_sk",
             "tpcds.store_returns": "sr_returned_date_sk"}


def locators() -> dict[str, set[str]]:
    """Per source table (lower case): its primary key columns and the date key its facts are grouped
    by (lower case). A failing step names them to locate rows or groups, not as what is wrong."""
    import sqlglot
    from sqlglot import exp

    found: dict[str, set[str]] = {}
    for statement in sqlglot.parse(SOURCE_DDL, read="postgres"):
        if isinstance(statement, exp.Create) and isinstance(statement.this, exp.Schema):
            table = statement.this.this
            keys = found.setdefault(f"{table.db}.{table.name}".lower(), set())
            for node in statement.this.expressions:
                if isinstance(node, exp.ColumnDef) and node.find(exp.PrimaryKeyColumnConstraint):
                    keys.add(node.name.lower())
                elif isinstance(node, exp.PrimaryKey):
                    keys |= {c.name.lower() for c in node.find_all(exp.Identifier)}
    for table, column in DATE_KEYS.items():
        found[table.lower()].add(column.lower())
    return found


# The source's TRUE foreign keys (none is declared): every fact → dimension reference, role-playing
# dates included, as (child table, child column, parent table, parent column). No dimension references
# another here (DimCustomer, DimProduct, customer and store are flat). Not counted: a return's sale line,
# store_returns (sr_ticket_number, sr_line) in store_sales' key, fact to fact; a workload joining the two
# facts on ticket, line or customer proposes no relationship, and one found would score as an extra.
TRUE_FOREIGN_KEYS: list[tuple[str, str, str, str]] = [
    ("dw.FactSales", "OrderDateKey", "dw.DimDate", "DateKey"),  # role-playing: the order date
    ("dw.FactSales", "CustomerKey", "dw.DimCustomer", "CustomerKey"),
    ("dw.FactSales", "ProductKey", "dw.DimProduct", "ProductKey"),
    ("tpcds.store_sales", "ss_sold_date_sk", "tpcds.date_dim", "d_date_sk"),  # role-playing: the sold date
    ("tpcds.store_sales", "ss_customer_sk", "tpcds.customer", "c_customer_sk"),
    ("tpcds.store_sales", "ss_store_sk", "tpcds.store", "s_store_sk"),
    ("tpcds.store_returns", "sr_returned_date_sk", "tpcds.date_dim", "d_date_sk"),  # role-playing: the return date
    ("tpcds.store_returns", "sr_customer_sk", "tpcds.customer", "c_customer_sk"),
]
