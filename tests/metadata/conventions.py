"""A warehouse with the naming conventions real ones use and no declared foreign key, for relationship
inference and classification tests (DuckDB):

- schema `dw`, Kimball / AdventureWorks style: `FactInternetSales.CustomerKey` → `DimCustomer.CustomerKey`,
  role-playing date keys (`OrderDateKey`, `DueDateKey`, `ShipDateKey`, `DeliveryDateKey`), an SCD2
  customer, a self-referencing employee (`ParentEmployeeKey`), a junk dimension, a bridge, a
  periodic snapshot and an accumulating snapshot fact; `DimPromotion` has a promotion period
  (StartDate/EndDate) but is no SCD2; `FactProductInventory.WarehouseKey` holds legacy codes that are
  not in `DimWarehouse` (a name match the data refutes);
- schema `tpcds`, TPC-DS style: column prefixes on every table (`store_sales.ss_customer_sk` →
  `customer.c_customer_sk`, `ss_sold_date_sk` → `date_dim.d_date_sk`, `ss_addr_sk` →
  `customer_address.ca_address_sk`), an SCD2 `item` (i_rec_start_date/i_rec_end_date versioning
  i_item_id), and `customer.c_current_cdemo_sk` → `customer_demographics.cd_demo_sk`, which no
  naming rule finds (only the workload's joins do).
"""

from __future__ import annotations

import datetime as dt

DDL = """
CREATE SCHEMA dw;
CREATE TABLE dw.DimDate (DateKey INTEGER PRIMARY KEY, FullDate DATE NOT NULL, CalendarYear INTEGER,
    MonthNumberOfYear INTEGER, DayNumberOfMonth INTEGER, EnglishDayNameOfWeek VARCHAR(10));
CREATE TABLE dw.DimGeography (GeographyKey INTEGER PRIMARY KEY, City VARCHAR(30), CountryRegionCode VARCHAR(3));
CREATE TABLE dw.DimSalesTerritory (SalesTerritoryKey INTEGER PRIMARY KEY, SalesTerritoryRegion VARCHAR(30));
CREATE TABLE dw.DimCustomer (CustomerKey INTEGER PRIMARY KEY, CustomerID VARCHAR(10) NOT NULL,
    GeographyKey INTEGER, FirstName VARCHAR(30), LastName VARCHAR(30), YearlyIncome DECIMAL(12, 2),
    LegacySystemID VARCHAR(10), ValidFrom TIMESTAMP NOT NULL, ValidTo TIMESTAMP, IsCurrent BOOLEAN NOT NULL);
CREATE TABLE dw.DimEmployee (EmployeeKey INTEGER PRIMARY KEY, ParentEmployeeKey INTEGER,
    EmployeeNationalID VARCHAR(15) UNIQUE, FirstName VARCHAR(30), Title VARCHAR(30), SalesTerritoryKey INTEGER);
CREATE TABLE dw.DimProductCategory (ProductCategoryKey INTEGER PRIMARY KEY, EnglishProductCategoryName VARCHAR(30));
CREATE TABLE dw.DimProductSubcategory (ProductSubcategoryKey INTEGER PRIMARY KEY, ProductCategoryKey INTEGER,
    EnglishProductSubcategoryName VARCHAR(30));
CREATE TABLE dw.DimProduct (ProductKey INTEGER PRIMARY KEY, ProductAlternateKey VARCHAR(20) UNIQUE,
    ProductSubcategoryKey INTEGER, EnglishProductName VARCHAR(50), ListPrice DECIMAL(10, 2));
CREATE TABLE dw.DimPromotion (PromotionKey INTEGER PRIMARY KEY, PromotionCode VARCHAR(10) UNIQUE,
    DiscountPct DECIMAL(5, 2), StartDate DATE, EndDate DATE);
CREATE TABLE dw.DimCurrency (CurrencyKey INTEGER PRIMARY KEY, CurrencyCode VARCHAR(3) UNIQUE, CurrencyName VARCHAR(20));
CREATE TABLE dw.DimOrderFlags (OrderFlagsKey INTEGER PRIMARY KEY, IsGift BOOLEAN, PaymentType VARCHAR(10),
    ShippingPriority VARCHAR(10));
CREATE TABLE dw.DimWarehouse (WarehouseKey INTEGER PRIMARY KEY, WarehouseName VARCHAR(30));
CREATE TABLE dw.FactInternetSales (SalesOrderNumber VARCHAR(20), SalesOrderLineNumber INTEGER,
    ProductKey INTEGER, OrderDateKey INTEGER, DueDateKey INTEGER, ShipDateKey INTEGER, CustomerKey INTEGER,
    PromotionKey INTEGER, CurrencyKey INTEGER, SalesTerritoryKey INTEGER, OrderFlagsKey INTEGER,
    OrderQuantity INTEGER, UnitPrice DECIMAL(10, 2), SalesAmount DECIMAL(12, 2), TaxAmt DECIMAL(12, 2),
    CarrierTrackingNumber VARCHAR(25), PRIMARY KEY (SalesOrderNumber, SalesOrderLineNumber));
CREATE TABLE dw.FactProductInventory (ProductKey INTEGER, DateKey INTEGER, WarehouseKey INTEGER, UnitsIn INTEGER,
    UnitsOut INTEGER, UnitsBalance INTEGER, PRIMARY KEY (ProductKey, DateKey));
CREATE TABLE dw.FactOrderFulfillment (OrderNumber VARCHAR(20) PRIMARY KEY, CustomerKey INTEGER,
    OrderDateKey INTEGER, ShipDateKey INTEGER, DeliveryDateKey INTEGER, StatusCode VARCHAR(5),
    DaysToShip INTEGER, OrderAmount DECIMAL(12, 2));
CREATE TABLE dw.BridgeCustomerPromotion (CustomerKey INTEGER, PromotionKey INTEGER,
    PRIMARY KEY (CustomerKey, PromotionKey));

CREATE SCHEMA tpcds;
CREATE TABLE tpcds.date_dim (d_date_sk INTEGER PRIMARY KEY, d_date_id CHAR(16), d_date DATE, d_year INTEGER,
    d_moy INTEGER, d_dom INTEGER, d_day_name CHAR(9));
CREATE TABLE tpcds.time_dim (t_time_sk INTEGER PRIMARY KEY, t_time_id CHAR(16), t_time INTEGER, t_hour INTEGER,
    t_minute INTEGER, t_am_pm CHAR(2));
CREATE TABLE tpcds.customer_address (ca_address_sk INTEGER PRIMARY KEY, ca_address_id CHAR(16), ca_city VARCHAR(60),
    ca_state CHAR(2));
CREATE TABLE tpcds.customer_demographics (cd_demo_sk INTEGER PRIMARY KEY, cd_gender CHAR(1),
    cd_marital_status CHAR(1), cd_education_status CHAR(20));
CREATE TABLE tpcds.customer (c_customer_sk INTEGER PRIMARY KEY, c_customer_id CHAR(16), c_current_cdemo_sk INTEGER,
    c_current_addr_sk INTEGER, c_first_sales_date_sk INTEGER, c_first_name CHAR(20), c_last_name CHAR(30),
    c_birth_year INTEGER);
CREATE TABLE tpcds.item (i_item_sk INTEGER PRIMARY KEY, i_item_id CHAR(16) NOT NULL, i_rec_start_date DATE,
    i_rec_end_date DATE, i_product_name CHAR(50), i_current_price DECIMAL(7, 2), i_category CHAR(50));
CREATE TABLE tpcds.store (s_store_sk INTEGER PRIMARY KEY, s_store_id CHAR(16), s_store_name VARCHAR(50),
    s_city VARCHAR(60));
CREATE TABLE tpcds.promotion (p_promo_sk INTEGER PRIMARY KEY, p_promo_id CHAR(16), p_promo_name CHAR(50),
    p_cost DECIMAL(15, 2));
CREATE TABLE tpcds.store_sales (ss_sold_date_sk INTEGER, ss_sold_time_sk INTEGER, ss_item_sk INTEGER,
    ss_customer_sk INTEGER, ss_cdemo_sk INTEGER, ss_addr_sk INTEGER, ss_store_sk INTEGER, ss_promo_sk INTEGER,
    ss_ticket_number BIGINT, ss_quantity INTEGER, ss_sales_price DECIMAL(7, 2), ss_net_paid DECIMAL(7, 2),
    PRIMARY KEY (ss_item_sk, ss_ticket_number));
CREATE TABLE tpcds.store_returns (sr_returned_date_sk INTEGER, sr_item_sk INTEGER, sr_customer_sk INTEGER,
    sr_ticket_number BIGINT, sr_return_quantity INTEGER, sr_return_amt DECIMAL(7, 2),
    PRIMARY KEY (sr_item_sk, sr_ticket_number));
CREATE TABLE tpcds.inventory (inv_date_sk INTEGER, inv_item_sk INTEGER, inv_quantity_on_hand INTEGER,
    PRIMARY KEY (inv_date_sk, inv_item_sk));
"""

# (child table, child column, parent table, parent column): every true foreign key of the warehouse
TRUE_FKS: set[tuple[str, str, str, str]] = {
    ("dw.DimCustomer", "GeographyKey", "dw.DimGeography", "GeographyKey"),
    ("dw.DimEmployee", "ParentEmployeeKey", "dw.DimEmployee", "EmployeeKey"),
    ("dw.DimEmployee", "SalesTerritoryKey", "dw.DimSalesTerritory", "SalesTerritoryKey"),
    ("dw.DimProduct", "ProductSubcategoryKey", "dw.DimProductSubcategory", "ProductSubcategoryKey"),
    ("dw.DimProductSubcategory", "ProductCategoryKey", "dw.DimProductCategory", "ProductCategoryKey"),
    *{("dw.FactInternetSales", c, p, k) for c, p, k in [
        ("ProductKey", "dw.DimProduct", "ProductKey"), ("OrderDateKey", "dw.DimDate", "DateKey"),
        ("DueDateKey", "dw.DimDate", "DateKey"), ("ShipDateKey", "dw.DimDate", "DateKey"),
        ("CustomerKey", "dw.DimCustomer", "CustomerKey"), ("PromotionKey", "dw.DimPromotion", "PromotionKey"),
        ("CurrencyKey", "dw.DimCurrency", "CurrencyKey"),
        ("SalesTerritoryKey", "dw.DimSalesTerritory", "SalesTerritoryKey"),
        ("OrderFlagsKey", "dw.DimOrderFlags", "OrderFlagsKey")]},
    ("dw.FactProductInventory", "ProductKey", "dw.DimProduct", "ProductKey"),
    ("dw.FactProductInventory", "DateKey", "dw.DimDate", "DateKey"),
    *{("dw.FactOrderFulfillment", c, p, k) for c, p, k in [
        ("CustomerKey", "dw.DimCustomer", "CustomerKey"), ("OrderDateKey", "dw.DimDate", "DateKey"),
        ("ShipDateKey", "dw.DimDate", "DateKey"), ("DeliveryDateKey", "dw.DimDate", "DateKey")]},
    ("dw.BridgeCustomerPromotion", "CustomerKey", "dw.DimCustomer", "CustomerKey"),
    ("dw.BridgeCustomerPromotion", "PromotionKey", "dw.DimPromotion", "PromotionKey"),
    ("tpcds.customer", "c_current_addr_sk", "tpcds.customer_address", "ca_address_sk"),
    ("tpcds.customer", "c_current_cdemo_sk", "tpcds.customer_demographics", "cd_demo_sk"),
    ("tpcds.customer", "c_first_sales_date_sk", "tpcds.date_dim", "d_date_sk"),
    *{("tpcds.store_sales", c, p, k) for c, p, k in [
        ("ss_sold_date_sk", "tpcds.date_dim", "d_date_sk"), ("ss_sold_time_sk", "tpcds.time_dim", "t_time_sk"),
        ("ss_item_sk", "tpcds.item", "i_item_sk"), ("ss_customer_sk", "tpcds.customer", "c_customer_sk"),
        ("ss_cdemo_sk", "tpcds.customer_demographics", "cd_demo_sk"),
        ("ss_addr_sk", "tpcds.customer_address", "ca_address_sk"), ("ss_store_sk", "tpcds.store", "s_store_sk"),
        ("ss_promo_sk", "tpcds.promotion", "p_promo_sk")]},
    ("tpcds.store_returns", "sr_returned_date_sk", "tpcds.date_dim", "d_date_sk"),
    ("tpcds.store_returns", "sr_item_sk", "tpcds.item", "i_item_sk"),
    ("tpcds.store_returns", "sr_customer_sk", "tpcds.customer", "c_customer_sk"),
    ("tpcds.inventory", "inv_date_sk", "tpcds.date_dim", "d_date_sk"),
    ("tpcds.inventory", "inv_item_sk", "tpcds.item", "i_item_sk"),
}

# the joins a production workload ran (with executions): true keys, one only the workload knows
# (`cdemo`), and a fact-to-fact join on the ticket number that is no foreign key
WORKLOAD_JOINS: list[dict[str, object]] = [
    {"left_table": "tpcds.customer", "left_column": "c_current_cdemo_sk", "right_table": "tpcds.customer_demographics",
     "right_column": "cd_demo_sk", "executions": 1200},
    {"left_table": "tpcds.store_sales", "left_column": "ss_cdemo_sk", "right_table": "tpcds.customer_demographics",
     "right_column": "cd_demo_sk", "executions": 800},
    {"left_table": "tpcds.date_dim", "left_column": "d_date_sk", "right_table": "tpcds.store_sales",
     "right_column": "ss_sold_date_sk", "executions": 25000},
    {"left_table": "tpcds.store_sales", "left_column": "ss_ticket_number", "right_table": "tpcds.store_returns",
     "right_column": "sr_ticket_number", "executions": 300},
    {"left_table": "dw.FactInternetSales", "left_column": "CustomerKey", "right_table": "dw.DimCustomer",
     "right_column": "CustomerKey", "executions": 5000},
]


def _date_key(day: dt.date) -> int:
    return int(day.strftime("%Y%m%d"))


def rows() -> dict[str, list[tuple[object, ...]]]:
    """Deterministic rows of every table, consistent with TRUE_FKS."""
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(31)]
    keys = [_date_key(d) for d in days]
    julian = [2460311 + i for i in range(31)]
    data: dict[str, list[tuple[object, ...]]] = {
        "dw.DimDate": [(k, d, d.year, d.month, d.day, d.strftime("%A")) for k, d in zip(keys, days, strict=True)],
        "dw.DimGeography": [(i, f"City{i}", "US") for i in range(1, 5)],
        "dw.DimSalesTerritory": [(i, f"Region{i}") for i in range(1, 4)],
        "dw.DimCustomer": [
            (1, "C1", 1, "Ada", "L", 50000, None, dt.datetime(2020, 1, 1), dt.datetime(2023, 1, 1), False),
            (2, "C1", 2, "Ada", "L", 52000, None, dt.datetime(2023, 1, 1), None, True),
            (3, "C2", 3, "Bob", "M", 41000, "X9", dt.datetime(2020, 1, 1), None, True),
            (4, "C3", 4, "Cy", "N", 39000, None, dt.datetime(2021, 1, 1), dt.datetime(2022, 1, 1), False),
            (5, "C3", 1, "Cy", "N", 45000, None, dt.datetime(2022, 1, 1), None, True),
            (6, "C4", 2, "Di", "O", 61000, "Y1", dt.datetime(2022, 5, 5), None, True),
        ],
        "dw.DimEmployee": [(1, None, "N1", "Eve", "CEO", 1), (2, 1, "N2", "Fay", "VP", 2), (3, 1, "N3", "Gus", "VP", 3),
                           (4, 2, "N4", "Hal", "Rep", 2), (5, 3, "N5", "Ivy", "Rep", 3)],
        "dw.DimProductCategory": [(i, f"Cat{i}") for i in range(1, 4)],
        "dw.DimProductSubcategory": [(i, 1 + i % 3, f"Sub{i}") for i in range(1, 7)],
        "dw.DimProduct": [(i, f"P{i:03d}", 1 + i % 6, f"Product {i}", 10 + i) for i in range(1, 11)],
        "dw.DimPromotion": [(1, "NONE", 0, dt.date(2020, 1, 1), None), (2, "SPRING", 10, dt.date(2024, 3, 1),
                            dt.date(2024, 5, 31)), (3, "VIP", 15, dt.date(2024, 1, 1), None)],
        "dw.DimCurrency": [(1, "USD", "Dollar"), (2, "EUR", "Euro"), (3, "GBP", "Pound")],
        "dw.DimOrderFlags": [(1, False, "card", "normal"), (2, True, "card", "normal"), (3, False, "cash", "express"),
                             (4, True, "cash", "express")],
        "dw.DimWarehouse": [(1, "North"), (2, "South"), (3, "East")],
    }
    data["dw.FactInternetSales"] = [
        (f"SO{1000 + i // 3}", 1 + i % 3, 1 + i % 10, keys[i % 20], keys[i % 20 + 10], keys[i % 20 + 5],
         [2, 3, 5, 6][i % 4], 1 + i % 3, 1 + i % 3, 1 + i % 3, 1 + i % 4, 1 + i % 5, 10 + i % 7, (1 + i % 5) * (10 + i % 7),
         1.5, f"TRK{i}")
        for i in range(60)
    ]
    data["dw.FactProductInventory"] = [(p, keys[d], 100 + p % 3, d + p, d, 50 + p - d) for p in range(1, 11)
                                       for d in range(5)]
    data["dw.FactOrderFulfillment"] = [
        (f"SO{1000 + i}", [2, 3, 5, 6][i % 4], keys[i], keys[i + 2], keys[i + 5] if i < 15 else None,
         "DONE" if i < 15 else "OPEN", 2, 100 + i) for i in range(20)
    ]
    data["dw.BridgeCustomerPromotion"] = [(2, 1), (3, 2), (3, 3), (6, 2)]
    data["tpcds.date_dim"] = [(j, f"D{j}", d, d.year, d.month, d.day, d.strftime("%A")) for j, d in
                              zip(julian, days, strict=True)]
    data["tpcds.time_dim"] = [(h * 3600, f"T{h}", h * 3600, h, 0, "AM" if h < 12 else "PM") for h in range(24)]
    data["tpcds.customer_address"] = [(i, f"A{i}", f"City{i}", "CA") for i in range(1, 6)]
    data["tpcds.customer_demographics"] = [(i, "MF"[i % 2], "SMDW"[i % 4], "College") for i in range(1, 5)]
    data["tpcds.customer"] = [(i, f"CUST{i}", 1 + i % 4, 1 + i % 5, julian[i], f"F{i}", f"L{i}", 1970 + i)
                              for i in range(1, 7)]
    data["tpcds.item"] = [
        (1, "ITEM1", dt.date(2000, 1, 1), dt.date(2010, 1, 1), "Widget", 9.99, "Tools"),
        (2, "ITEM1", dt.date(2010, 1, 2), None, "Widget", 11.99, "Tools"),
        (3, "ITEM2", dt.date(2000, 1, 1), None, "Gadget", 5.00, "Toys"),
        (4, "ITEM3", dt.date(2000, 1, 1), dt.date(2005, 1, 1), "Doohickey", 3.50, "Toys"),
        (5, "ITEM3", dt.date(2005, 1, 2), None, "Doohickey", 4.00, "Toys"),
        (6, "ITEM4", dt.date(2001, 1, 1), None, "Gizmo", 20.00, "Tools"),
    ]
    data["tpcds.store"] = [(1, "S1", "Main", "Springfield"), (2, "S2", "Side", "Shelbyville")]
    data["tpcds.promotion"] = [(i, f"PR{i}", f"Promo{i}", 100.0 * i) for i in range(1, 4)]
    data["tpcds.store_sales"] = [
        (julian[i % 31], (i % 24) * 3600, 1 + i % 6, 1 + i % 6, 1 + i % 4, 1 + i % 5, 1 + i % 2, 1 + i % 3, 5000 + i // 2,
         1 + i % 4, 9.5, 9.5 * (1 + i % 4)) for i in range(50)
    ]
    data["tpcds.store_returns"] = [(julian[i + 3], 1 + (2 * i) % 6, 1 + (2 * i) % 6, 5000 + i, 1, 9.5) for i in range(10)]
    data["tpcds.inventory"] = [(julian[d], i, 10 * i + d) for d in range(0, 28, 7) for i in range(1, 7)]
    return data


def load(path: str) -> None:
    """Create the warehouse in a DuckDB file."""
    import duckdb

    with duckdb.connect(path) as db:
        db.execute(DDL)
        for table, values in rows().items():
            marks = ", ".join("?" * len(values[0]))
            db.executemany(f"INSERT INTO {table} VALUES ({marks})", values)
