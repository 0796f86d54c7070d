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
