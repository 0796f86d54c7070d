"""Classification subtypes with evidence (issue 15 item 2): a fact's kind (transaction, periodic or
accumulating snapshot), a dimension's kinds (date, time, junk, role-playing, SCD2, SCD1) and the SCD2
version column, each with a negative case. Pure: small catalogs parsed from DDL, with the relationships
given to the classifier, and the conventions warehouse's DDL with its inferred relationships."""

from __future__ import annotations

from ombudsman.metadata import classify, relationships
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.relationships import Relationship
from tests.metadata import conventions

DATE_DIM = "CREATE TABLE s.date_dim (date_sk INTEGER PRIMARY KEY, full_date DATE NOT NULL, month_name VARCHAR(9));"
PRODUCT_DIM = "CREATE TABLE s.dim_product (product_sk INTEGER PRIMARY KEY, product_code VARCHAR(20) UNIQUE, name VARCHAR(50));"


def _classes(ddl: str, refs: list[tuple[str, str, str, str]]) -> dict[str, TableClass]:
    catalog = parse_ddl(ddl, "postgres")
    rels = [Relationship(child_table=f"s.{c}", child_columns=[cc], parent_table=f"s.{p}", parent_columns=[pc],
                         confidence=1.0) for c, cc, p, pc in refs]
    return {c.table.split(".")[1]: c for c in classify.classify(catalog, rels)}


def _says(cls: TableClass, text: str) -> bool:
    return any(text in e for e in cls.evidence)


def test_accumulating_snapshot_from_milestones_with_lags_or_pending_dates() -> None:
    refs = [(t, f"{m}_date_sk", "date_dim", "date_sk") for t in ("fact_fulfil", "fact_pipeline", "fact_orders")
            for m in ("order", "ship", "deliver")] + [(t, "product_sk", "dim_product", "product_sk")
                                                    for t in ("fact_fulfil", "fact_pipeline", "fact_orders")]
    classes = _classes(DATE_DIM + PRODUCT_DIM + """
        CREATE TABLE s.fact_fulfil (order_no VARCHAR(20) PRIMARY KEY, product_sk INTEGER, order_date_sk INTEGER,
            ship_date_sk INTEGER, deliver_date_sk INTEGER, order_to_ship_days INTEGER, amount DECIMAL(12, 2));
        CREATE TABLE s.fact_pipeline (order_no VARCHAR(20) PRIMARY KEY, product_sk INTEGER NOT NULL,
            order_date_sk INTEGER NOT NULL, ship_date_sk INTEGER, deliver_date_sk INTEGER, amount DECIMAL(12, 2));
        CREATE TABLE s.fact_orders (order_no VARCHAR(20) PRIMARY KEY, product_sk INTEGER, order_date_sk INTEGER,
            ship_date_sk INTEGER, deliver_date_sk INTEGER, amount DECIMAL(12, 2));
    """, refs)
    fulfil, pipeline, orders = classes["fact_fulfil"], classes["fact_pipeline"], classes["fact_orders"]
    assert fulfil.fact_kind == "accumulating_snapshot"
    assert _says(fulfil, "lag/duration measures order_to_ship_days")
    assert pipeline.fact_kind == "accumulating_snapshot"
    assert _says(pipeline, "order_date_sk NOT NULL, later milestones ship_date_sk, deliver_date_sk nullable")
    # negative: three role-playing date keys, all nullable (says nothing) and no lag: a transaction fact
    assert orders.fact_kind == "transaction" and _says(orders, "transaction fact")


def test_one_date_key_with_a_lag_is_no_accumulating_snapshot() -> None:
    classes = _classes(DATE_DIM + PRODUCT_DIM + """
        CREATE TABLE s.fact_tickets (ticket_no VARCHAR(20) PRIMARY KEY, product_sk INTEGER NOT NULL,
            open_date_sk INTEGER NOT NULL, resolution_hours_to_close INTEGER, cost DECIMAL(12, 2));
    """, [("fact_tickets", "open_date_sk", "date_dim", "date_sk"), ("fact_tickets", "product_sk", "dim_product", "product_sk")])
    assert classes["fact_tickets"].fact_kind == "transaction"


def test_periodic_snapshot_from_levels_or_name_with_a_period_key() -> None:
    refs = [(t, c, p, k) for t in ("fact_balance", "fact_sales_monthly", "fact_sales", "fact_stock")
            for c, p, k in (("date_sk", "date_dim", "date_sk"), ("product_sk", "dim_product", "product_sk"))
            if not (t == "fact_stock" and p == "date_dim")]
    classes = _classes(DATE_DIM + PRODUCT_DIM + """
        CREATE TABLE s.fact_balance (date_sk INTEGER, product_sk INTEGER, quantity_on_hand INTEGER,
            PRIMARY KEY (date_sk, product_sk));
        CREATE TABLE s.fact_sales_monthly (date_sk INTEGER, product_sk INTEGER, amount DECIMAL(12, 2));
        CREATE TABLE s.fact_sales (date_sk INTEGER, product_sk INTEGER, amount DECIMAL(12, 2));
        CREATE TABLE s.fact_stock (product_sk INTEGER, warehouse_sk INTEGER, stock_level INTEGER);
        CREATE TABLE s.dim_warehouse (warehouse_sk INTEGER PRIMARY KEY, warehouse_code VARCHAR(10) UNIQUE);
    """, [*refs, ("fact_stock", "warehouse_sk", "dim_warehouse", "warehouse_sk")])
    balance, monthly = classes["fact_balance"], classes["fact_sales_monthly"]
    assert balance.fact_kind == "periodic_snapshot"
    assert _says(balance, "period key date_sk and semi-additive measures quantity_on_hand")
    assert monthly.fact_kind == "periodic_snapshot" and _says(monthly, "name says snapshot (monthly)")
    # negatives: additive amounts under a plain name; a level without any date or period key
    assert classes["fact_sales"].fact_kind == "transaction"
    assert classes["fact_stock"].role == "fact" and classes["fact_stock"].fact_kind == "transaction"


def test_date_and_time_dimensions() -> None:
    refs = [("fact_sales", "date_sk", "date_dim", "date_sk"), ("fact_sales", "time_sk", "time_dim", "time_sk"),
            ("fact_sales", "store_sk", "dim_store", "store_sk")]
    classes = _classes(DATE_DIM + """
        CREATE TABLE s.time_dim (time_sk INTEGER PRIMARY KEY, time_id CHAR(16), hour INTEGER, minute INTEGER,
            am_pm CHAR(2));
        CREATE TABLE s.dim_store (store_sk INTEGER PRIMARY KEY, store_code VARCHAR(10) UNIQUE, opened DATE,
            city VARCHAR(60));
        CREATE TABLE s.fact_sales (date_sk INTEGER, time_sk INTEGER, store_sk INTEGER, amount DECIMAL(12, 2));
    """, refs)
    assert classes["date_dim"].dimension_kinds == ["date"]
    assert classes["time_dim"].dimension_kinds == ["time"]
    assert _says(classes["time_dim"], "time-of-day dimension: time_dim with columns hour, minute, am_pm")
    # negatives: a store with an opening date is neither; a date dimension is no time dimension
    assert {"date", "time"}.isdisjoint(classes["dim_store"].dimension_kinds)
    assert classes["fact_sales"].dimension_kinds == [] and classes["date_dim"].fact_kind is None


def test_junk_dimension_only_low_cardinality_flags() -> None:
    dims = ("dim_order_flags", "dim_indicators", "customer_demographics", "dim_order_profile")
    refs = [("fact_orders", f"{d}_sk", d, f"{d}_sk") for d in dims] + [("fact_orders", "date_sk", "date_dim", "date_sk")]
    classes = _classes(DATE_DIM + """
        CREATE TABLE s.dim_order_flags (dim_order_flags_sk INTEGER PRIMARY KEY, is_gift BOOLEAN,
            payment_type VARCHAR(10), priority_code CHAR(1));
        CREATE TABLE s.dim_indicators (dim_indicators_sk INTEGER PRIMARY KEY, is_return BOOLEAN, rush_flag CHAR(1),
            promo_ind CHAR(1));
        CREATE TABLE s.customer_demographics (customer_demographics_sk INTEGER PRIMARY KEY, gender CHAR(1),
            marital_status CHAR(1), education_status VARCHAR(20));
        CREATE TABLE s.dim_order_profile (dim_order_profile_sk INTEGER PRIMARY KEY, is_gift BOOLEAN,
            channel_code CHAR(2), description VARCHAR(200));
        CREATE TABLE s.fact_orders (date_sk INTEGER, dim_order_flags_sk INTEGER, dim_indicators_sk INTEGER,
            customer_demographics_sk INTEGER, dim_order_profile_sk INTEGER, amount DECIMAL(12, 2));
    """, refs)
    flags = classes["dim_order_flags"]
    assert flags.dimension_kinds == ["junk"]
    assert _says(flags, "junk dimension: only low-cardinality columns is_gift, payment_type, priority_code beside "
                        "its key, name says flags")
    assert classes["dim_indicators"].dimension_kinds == ["junk"]  # unnamed, but flags and indicators only
    # negatives: demographics (low-cardinality attributes, no flags, not named junk) is a mini-dimension;
    # a profile with a free-text description is no junk dimension
    assert "junk" not in classes["customer_demographics"].dimension_kinds
    assert classes["customer_demographics"].role == "dimension"
    assert "junk" not in classes["dim_order_profile"].dimension_kinds


def test_role_playing_dimension_needs_two_keys_from_one_table() -> None:
    refs = [("fact_orders", "order_date_sk", "date_dim", "date_sk"), ("fact_orders", "ship_date_sk", "date_dim", "date_sk"),
            ("fact_orders", "product_sk", "dim_product", "product_sk"),
            ("fact_returns", "product_sk", "dim_product", "product_sk"),
            ("fact_returns", "return_date_sk", "date_dim", "date_sk")]
    classes = _classes(DATE_DIM + PRODUCT_DIM + """
        CREATE TABLE s.fact_orders (order_date_sk INTEGER, ship_date_sk INTEGER, product_sk INTEGER, amount DECIMAL(9, 2));
        CREATE TABLE s.fact_returns (return_date_sk INTEGER, product_sk INTEGER, amount DECIMAL(9, 2));
    """, refs)
    dates = classes["date_dim"]
    assert dates.dimension_kinds == ["date", "role_playing"]
    assert _says(dates, "role-playing: s.fact_orders references it through 2 keys (order_date_sk; ship_date_sk)")
    # negative: two facts referencing the product once each make no role-playing dimension
    assert "role_playing" not in classes["dim_product"].dimension_kinds


def test_scd2_version_column_and_scd1() -> None:
    refs = [("fact_sales", c, p, k) for c, p, k in (("customer_sk", "dim_customer", "customer_sk"),
                                                    ("account_sk", "dim_account", "account_sk"),
                                                    ("product_sk", "dim_product", "product_sk"),
                                                    ("policy_sk", "dim_policy", "policy_sk"))]
    classes = _classes(PRODUCT_DIM + """
        CREATE TABLE s.dim_customer (customer_sk INTEGER PRIMARY KEY, customer_id VARCHAR(10) NOT NULL,
            name VARCHAR(50), valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, row_version INTEGER NOT NULL);
        CREATE TABLE s.dim_account (account_sk INTEGER PRIMARY KEY, account_id VARCHAR(10) UNIQUE,
            version INTEGER, name VARCHAR(50));
        CREATE TABLE s.dim_policy (policy_sk INTEGER PRIMARY KEY, policy_id VARCHAR(10) NOT NULL,
            effective_date DATE NOT NULL, version INTEGER NOT NULL, premium DECIMAL(9, 2));
        CREATE TABLE s.fact_sales (customer_sk INTEGER, account_sk INTEGER, product_sk INTEGER, policy_sk INTEGER,
            amount DECIMAL(9, 2));
    """, refs)
    customer = classes["dim_customer"]
    assert customer.scd2 is not None and customer.scd2.version == "row_version"
    assert (customer.scd2.valid_from, customer.scd2.valid_to) == ("valid_from", "valid_to")
    assert customer.columns["row_version"] == "version" and "row_version" not in customer.measures
    assert customer.business_key == ["customer_id"] and _says(customer, "row-version column row_version")
    assert customer.dimension_kinds == ["scd2"]
    policy = classes["dim_policy"]  # a validity start and a version counter, no end or flag
    assert policy.scd2 is not None and (policy.scd2.valid_from, policy.scd2.version) == ("effective_date", "version")
    # negatives: a version counter alone versions nothing (its business key is unique): SCD1, overwritten
    account = classes["dim_account"]
    assert account.scd2 is None and account.dimension_kinds == ["scd1"]
    assert _says(account, "SCD1: business key account_id without validity or version columns")
    product = classes["dim_product"]
    assert product.dimension_kinds == ["scd1"] and product.scd2 is None


def test_the_conventions_warehouse_subtypes_with_inferred_relationships() -> None:
    catalog = parse_ddl(conventions.DDL, "postgres")
    classes = {c.table: c for c in classify.classify(catalog, relationships.infer(catalog))}
    kinds = {t: c.fact_kind for t, c in classes.items() if c.role == "fact"}
    assert kinds["dw.FactInternetSales"] == "transaction"
    assert kinds["dw.FactProductInventory"] == "periodic_snapshot"
    assert kinds["dw.FactOrderFulfillment"] == "accumulating_snapshot"
    assert kinds["tpcds.store_sales"] == kinds["tpcds.store_returns"] == "transaction"
    # inventory(date, item, quantity_on_hand) links two tables, but holds a level: a snapshot, no bridge
    assert kinds["tpcds.inventory"] == "periodic_snapshot"
    assert classes["dw.BridgeCustomerPromotion"].role == "bridge"
    dims = {t: c.dimension_kinds for t, c in classes.items() if c.role == "dimension"}
    assert dims["dw.DimDate"] == ["date", "role_playing"] and dims["tpcds.date_dim"] == ["date"]
    assert dims["tpcds.time_dim"] == ["time"] and dims["dw.DimOrderFlags"] == ["junk"]
    assert "scd2" in dims["dw.DimCustomer"] and dims["dw.DimProduct"] == ["scd1"]
    assert [t for t, k in dims.items() if "junk" in k] == ["dw.DimOrderFlags"]
    assert all(not c.dimension_kinds for c in classes.values() if c.role != "dimension")
    assert all(c.fact_kind is None for c in classes.values() if c.role != "fact")


def test_a_history_table_versions_the_entity_its_name_is_about() -> None:
    """The demo's customer_history (customer_sk, customer_code, region, valid_from, valid_to, is_current):
    its rows are versions of a customer, so customer_code is the business key that repeats — SCD2, in the
    source (primary key customer_sk) and in the migrated copy (no key). The same for hist_/…_versions
    names; a history table without validity columns gets no business key from its name."""
    from ombudsman.engine.pipeline.sample import source_data, target_data

    ddl = ";\n".join([source_data()["customer_history"].ddl("s.customer_history"),
                      target_data()["customer_history"].ddl("t.customer_history")]) + ";"
    catalog = parse_ddl(ddl + """
        CREATE TABLE s.hist_product (product_key INTEGER PRIMARY KEY, product_id VARCHAR(10) NOT NULL,
            price DECIMAL(9, 2), effective_date DATE NOT NULL, expiry_date DATE);
        CREATE TABLE s.account_versions (account_sk INTEGER PRIMARY KEY, account_code VARCHAR(10) NOT NULL,
            status VARCHAR(10), valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, current_flag CHAR(1));
        CREATE TABLE s.order_history (order_history_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL,
            status VARCHAR(10), changed_at TIMESTAMP);
    """, "postgres")
    classes = {c.table: c for c in classify.classify(catalog, relationships.infer(catalog))}
    for name in ("s.customer_history", "t.customer_history"):
        history = classes[name]
        assert history.role == "dimension" and history.dimension_kinds == ["scd2"], history.evidence
        assert history.scd2 is not None and history.business_key == ["customer_code"]
        assert (history.scd2.valid_from, history.scd2.valid_to, history.scd2.current_flag) == (
            "valid_from", "valid_to", "is_current")
        assert _says(history, "customer_code names the customer")
    assert classes["s.customer_history"].surrogate_key == ["customer_sk"]
    assert classes["s.hist_product"].business_key == ["product_id"] and classes["s.hist_product"].scd2 is not None
    assert classes["s.account_versions"].business_key == ["account_code"]
    assert classes["s.account_versions"].scd2 is not None
    # negative: no validity columns, so nothing is versioned and the name's entity is not a business key
    order_history = classes["s.order_history"]
    assert order_history.scd2 is None and order_history.business_key == []
    assert classify.versioned_entity("customer") == "customer"
