"""A small sales warehouse used by the metadata tests: the source in PostgreSQL (stand-in for SQL
Server), the migrated target in Snowflake with differently named columns, and their data."""

from __future__ import annotations

SOURCE_SCHEMA = "sales"
TARGET_SCHEMA = "SALES"

SOURCE_DDL = """
CREATE TABLE sales.dim_date (
    date_key integer PRIMARY KEY,
    full_date date NOT NULL,
    calendar_year integer NOT NULL,
    calendar_month integer NOT NULL
);
CREATE TABLE sales.dim_category (
    category_key serial PRIMARY KEY,
    category_code varchar(10) NOT NULL UNIQUE,
    category_name varchar(50) NOT NULL
);
CREATE TABLE sales.dim_product (
    product_key serial PRIMARY KEY,
    product_code varchar(20) NOT NULL UNIQUE,
    product_name varchar(100) NOT NULL,
    category_key integer NOT NULL REFERENCES sales.dim_category (category_key),
    list_price numeric(10, 2)
);
CREATE TABLE sales.dim_customer (
    customer_key serial PRIMARY KEY,
    customer_id varchar(20) NOT NULL,
    customer_name varchar(100) NOT NULL,
    city varchar(50),
    valid_from timestamp NOT NULL,
    valid_to timestamp,
    is_current boolean NOT NULL DEFAULT true
);
CREATE TABLE sales.dim_store (
    store_key serial PRIMARY KEY,
    store_code varchar(10) NOT NULL UNIQUE,
    store_name varchar(100) NOT NULL,
    region varchar(30)
);
CREATE TABLE sales.dim_employee (
    employee_key serial PRIMARY KEY,
    employee_id varchar(12) NOT NULL UNIQUE,
    first_name varchar(50),
    last_name varchar(50),
    store_key integer REFERENCES sales.dim_store (store_key)
);
CREATE TABLE sales.dim_promotion (
    promotion_key serial PRIMARY KEY,
    promotion_code varchar(20) NOT NULL UNIQUE,
    discount_pct numeric(5, 2)
);
CREATE TABLE sales.fact_sales (
    sale_id bigint PRIMARY KEY,
    date_key integer NOT NULL REFERENCES sales.dim_date (date_key),
    customer_key integer NOT NULL REFERENCES sales.dim_customer (customer_key),
    product_key integer NOT NULL REFERENCES sales.dim_product (product_key),
    store_key integer NOT NULL REFERENCES sales.dim_store (store_key),
    order_date date NOT NULL,
    quantity integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL,
    sales_amount numeric(12, 2) NOT NULL
);
CREATE TABLE sales.fact_returns (
    return_id bigint PRIMARY KEY,
    date_key integer NOT NULL,
    product_key integer NOT NULL,
    customer_key integer NOT NULL,
    return_date date NOT NULL,
    return_qty integer NOT NULL,
    refund_amount numeric(12, 2) NOT NULL
);
CREATE TABLE sales.fact_inventory (
    date_key integer NOT NULL REFERENCES sales.dim_date (date_key),
    product_key integer NOT NULL REFERENCES sales.dim_product (product_key),
    store_key integer NOT NULL REFERENCES sales.dim_store (store_key),
    on_hand_qty integer NOT NULL,
    PRIMARY KEY (date_key, product_key, store_key)
);
CREATE TABLE sales.bridge_customer_promotion (
    customer_key integer NOT NULL REFERENCES sales.dim_customer (customer_key),
    promotion_key integer NOT NULL REFERENCES sales.dim_promotion (promotion_key),
    PRIMARY KEY (customer_key, promotion_key)
);
CREATE TABLE sales.stg_sales_import (
    raw_line varchar(500),
    file_name varchar(200),
    load_ts timestamp
);
"""

# The migrated target: same tables, Snowflake types, several columns renamed.
TARGET_DDL = """
CREATE TABLE SALES.DIM_DATE (
    DATE_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    FULL_DATE DATE NOT NULL,
    CAL_YEAR NUMBER(38,0) NOT NULL,
    CAL_MONTH NUMBER(38,0) NOT NULL
);
CREATE TABLE SALES.DIM_CATEGORY (
    CATEGORY_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    CATEGORY_CODE VARCHAR(10) NOT NULL,
    CATEGORY_NAME VARCHAR(50) NOT NULL
);
CREATE TABLE SALES.DIM_PRODUCT (
    PRODUCT_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    PRODUCT_CODE VARCHAR(20) NOT NULL,
    PRODUCT_NAME VARCHAR(100) NOT NULL,
    CATEGORY_SK NUMBER(38,0) NOT NULL,
    LIST_PRICE NUMBER(10,2)
);
CREATE TABLE SALES.DIM_CUSTOMER (
    CUSTOMER_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    CUSTOMER_ID VARCHAR(20) NOT NULL,
    CUSTOMER_NAME VARCHAR(100) NOT NULL,
    CITY VARCHAR(50),
    EFFECTIVE_FROM TIMESTAMP_NTZ(6) NOT NULL,
    EFFECTIVE_TO TIMESTAMP_NTZ(6),
    IS_CURRENT BOOLEAN NOT NULL
);
CREATE TABLE SALES.DIM_STORE (
    STORE_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    STORE_CODE VARCHAR(10) NOT NULL,
    STORE_NAME VARCHAR(100) NOT NULL,
    REGION VARCHAR(30)
);
CREATE TABLE SALES.DIM_EMPLOYEE (
    EMPLOYEE_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    EMPLOYEE_ID VARCHAR(12) NOT NULL,
    FIRST_NAME VARCHAR(50),
    LAST_NAME VARCHAR(50),
    STORE_SK NUMBER(38,0)
);
CREATE TABLE SALES.DIM_PROMOTION (
    PROMOTION_SK NUMBER(38,0) NOT NULL PRIMARY KEY,
    PROMOTION_CODE VARCHAR(20) NOT NULL,
    DISCOUNT_PCT NUMBER(5,2)
);
CREATE TABLE SALES.FCT_SALES (
    SALE_ID NUMBER(38,0) NOT NULL PRIMARY KEY,
    DATE_SK NUMBER(38,0) NOT NULL,
    CUSTOMER_SK NUMBER(38,0) NOT NULL,
    PRODUCT_SK NUMBER(38,0) NOT NULL,
    STORE_SK NUMBER(38,0) NOT NULL,
    ORDER_DATE DATE NOT NULL,
    QTY NUMBER(38,0) NOT NULL,
    UNIT_PRICE NUMBER(10,2) NOT NULL,
    SALES_AMT NUMBER(12,2) NOT NULL
);
CREATE TABLE SALES.FCT_RETURNS (
    RETURN_ID NUMBER(38,0) NOT NULL PRIMARY KEY,
    DATE_SK NUMBER(38,0) NOT NULL,
    PRODUCT_SK NUMBER(38,0) NOT NULL,
    CUSTOMER_SK NUMBER(38,0) NOT NULL,
    RETURN_DATE DATE NOT NULL,
    RETURN_QUANTITY NUMBER(38,0) NOT NULL,
    REFUND_AMOUNT NUMBER(12,2) NOT NULL
);
CREATE TABLE SALES.FCT_INVENTORY (
    DATE_SK NUMBER(38,0) NOT NULL,
    PRODUCT_SK NUMBER(38,0) NOT NULL,
    STORE_SK NUMBER(38,0) NOT NULL,
    ON_HAND_QTY NUMBER(38,0) NOT NULL
);
CREATE TABLE SALES.BRIDGE_CUSTOMER_PROMOTION (
    CUSTOMER_SK NUMBER(38,0) NOT NULL,
    PROMOTION_SK NUMBER(38,0) NOT NULL
);
CREATE TABLE SALES.STG_SALES_IMPORT (
    RAW_LINE VARCHAR(500),
    FILE_NAME VARCHAR(200),
    LOAD_TS TIMESTAMP_NTZ(6)
);
CREATE TABLE SALES.AUDIT_LOG (
    AUDIT_ID NUMBER(38,0),
    MESSAGE VARCHAR(1000)
);
"""


# --- data -----------------------------------------------------------------------------------

Rows = dict[str, tuple[list[str], list[tuple[object, ...]]]]  # table → (columns, rows)

# source column → target column where the target renamed it
RENAMED = {
    "date_key": "DATE_SK", "category_key": "CATEGORY_SK", "product_key": "PRODUCT_SK", "customer_key": "CUSTOMER_SK",
    "store_key": "STORE_SK", "employee_key": "EMPLOYEE_SK", "promotion_key": "PROMOTION_SK",
    "calendar_year": "CAL_YEAR", "calendar_month": "CAL_MONTH", "valid_from": "EFFECTIVE_FROM",
    "valid_to": "EFFECTIVE_TO", "quantity": "QTY", "sales_amount": "SALES_AMT", "return_qty": "RETURN_QUANTITY",
}
TARGET_TABLES = {"fact_sales": "FCT_SALES", "fact_returns": "FCT_RETURNS", "fact_inventory": "FCT_INVENTORY"}


def source_rows() -> Rows:
    """Deterministic rows for every source table (an SCD2 customer with history included)."""
    import datetime as dt
    from decimal import Decimal

    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(10)]
    rows: Rows = {
        "dim_date": (["date_key", "full_date", "calendar_year", "calendar_month"],
                     [(int(d.strftime("%Y%m%d")), d, d.year, d.month) for d in days]),
        "dim_category": (["category_key", "category_code", "category_name"],
                         [(1, "BIKE", "Bikes"), (2, "ACC", "Accessories"), (3, "CLO", "Clothing")]),
        "dim_product": (["product_key", "product_code", "product_name", "category_key", "list_price"],
                        [(i, f"P-{i:03d}", f"Product {i}", 1 + i % 3, Decimal(f"{10 + i * 7}.50")) for i in range(1, 7)]),
        "dim_store": (["store_key", "store_code", "store_name", "region"],
                      [(1, "S1", "North", "N"), (2, "S2", "South", "S"), (3, "S3", "Online", None)]),
        "dim_employee": (["employee_key", "employee_id", "first_name", "last_name", "store_key"],
                         [(i, f"E{i:04d}", f"First{i}", f"Last{i}", 1 + i % 3) for i in range(1, 5)]),
        "dim_promotion": (["promotion_key", "promotion_code", "discount_pct"],
                          [(1, "SPRING", Decimal("10.00")), (2, "VIP", Decimal("15.50"))]),
        "dim_customer": (
            ["customer_key", "customer_id", "customer_name", "city", "valid_from", "valid_to", "is_current"],
            [
                (1, "C001", "Ada", "London", dt.datetime(2020, 1, 1), dt.datetime(2023, 6, 1), False),
                (2, "C001", "Ada", "Paris", dt.datetime(2023, 6, 1), None, True),
                (3, "C002", "Bob", "Berlin", dt.datetime(2020, 1, 1), None, True),
                (4, "C003", "Cy", "Rome", dt.datetime(2021, 3, 1), dt.datetime(2022, 1, 1), False),
                (5, "C003", "Cy", "Milan", dt.datetime(2022, 1, 1), None, True),
                (6, "C004", "Di", None, dt.datetime(2022, 5, 5), None, True),
            ],
        ),
    }
    sales = []
    for i in range(1, 41):
        day = days[i % 10]
        quantity = 1 + i % 4
        price = Decimal(f"{10 + (i % 6) * 7}.50")
        sales.append((i, int(day.strftime("%Y%m%d")), [2, 3, 5, 6][i % 4], 1 + i % 6, 1 + i % 3, day, quantity, price,
                      price * quantity))
    rows["fact_sales"] = (["sale_id", "date_key", "customer_key", "product_key", "store_key", "order_date", "quantity",
                           "unit_price", "sales_amount"], sales)
    rows["fact_returns"] = (
        ["return_id", "date_key", "product_key", "customer_key", "return_date", "return_qty", "refund_amount"],
        [(i, int(days[i].strftime("%Y%m%d")), i, [2, 3, 5][i % 3], days[i], 1, Decimal(f"{5 * i}.25")) for i in range(1, 6)],
    )
    rows["fact_inventory"] = (
        ["date_key", "product_key", "store_key", "on_hand_qty"],
        [(int(days[d].strftime("%Y%m%d")), p, s, d * 10 + p + s) for d in range(2) for p in range(1, 6) for s in (1, 2)],
    )
    rows["bridge_customer_promotion"] = (["customer_key", "promotion_key"], [(2, 1), (3, 1), (3, 2), (6, 2)])
    rows["stg_sales_import"] = (["raw_line", "file_name", "load_ts"],
                                [(f"line {i}", "sales_2024.csv", dt.datetime(2024, 2, 1, 3, 0, i)) for i in range(3)])
    return rows


def target_name(table: str) -> str:
    return TARGET_TABLES.get(table, table.upper())


def target_rows() -> Rows:
    """The same rows under the target's table and column names."""
    return {
        target_name(table): ([RENAMED.get(c, c.upper()) for c in cols], list(data))
        for table, (cols, data) in source_rows().items()
    }


def load_statements(rows: Rows, dialect: str) -> list[str]:
    """One multi-row INSERT per table, rendered by sqlglot for the dialect."""
    from sqlglot import exp

    schema = SOURCE_SCHEMA if dialect == "postgres" else TARGET_SCHEMA
    statements = []
    for table, (columns, data) in rows.items():
        values = exp.values([tuple(exp.convert(v) for v in row) for row in data])
        target = exp.Schema(this=exp.table_(table, db=schema), expressions=[exp.to_identifier(c) for c in columns])
        statements.append(exp.insert(values, target).sql(dialect=dialect))
    return statements
