"""contracts.privacy: URLs redacted, pipelines checked for inline secrets, personal values masked."""

from __future__ import annotations

import pytest

from ombudsman.contracts.privacy import (
    inline_secrets,
    is_personal_column,
    looks_personal,
    mask_result,
    mask_value,
    pipeline_secrets,
    redact_pipeline_yaml,
    redact_url,
    scrub_secrets,
)


@pytest.mark.parametrize(("url", "redacted"), [
    ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
    ("postgresql+asyncpg://etl:s3cr%40t@db.example:5432/dw?sslmode=require",
     "postgresql+asyncpg://etl:***@db.example:5432/dw?sslmode=require"),
    ("postgresql://u:pa/ss@word@h/db", "postgresql://u:***@h/db"),
    ("snowflake://u:p@acct/db/PUBLIC?private_key_passphrase=xyz&warehouse=WH",
     "snowflake://u:***@acct/db/PUBLIC?private_key_passphrase=***&warehouse=WH"),
    ("snowflake://u@acct/db?authenticator=oauth&token=abc.def", "snowflake://u@acct/db?authenticator=oauth&token=***"),
    ("snowflake://u@acct/db?PASSWORD=x&Pwd=y", "snowflake://u@acct/db?PASSWORD=***&Pwd=***"),
    ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18%7D%3BSERVER%3Dh%3BUID%3Dsa%3BPWD%3Dhunter2",
     "mssql+pyodbc:///?odbc_connect=DRIVER={ODBC%20Driver%2018};SERVER=h;UID=sa;PWD=***"),
    ("mssql+pyodbc:///?odbc_connect=DSN%3Dx%3BPWD%3D%7Bp%3Bw%7D", "mssql+pyodbc:///?odbc_connect=DSN=x;PWD=***"),
    ("mssql+pyodbc://sa:P%40ss@h:1433/db?driver=ODBC+Driver+18", "mssql+pyodbc://sa:***@h:1433/db?driver=ODBC+Driver+18"),
])
def test_redact_url_removes_passwords_and_secret_parameters(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
    assert inline_secrets(url)
    assert redact_url(redacted) == redacted  # idempotent


@pytest.mark.parametrize("url", [
    "postgresql://u@h/db",
    "postgresql://h/db?sslmode=require",
    "duckdb:///tmp/a.duckdb?read_only=true",
    "duckdb:///data/with@sign.duckdb",
    "${SOURCE_URL}",
    "postgresql://u:${PG_PASSWORD}@h/db",
    "snowflake://u@acct/db?private_key_passphrase=${SF_PASSPHRASE}",
    "mssql+pyodbc:///?odbc_connect=DSN%3Dx%3BPWD%3D%24%7BMSSQL_PW%7D",
    "not a url",
])
def test_urls_without_secrets_and_references_are_unchanged(url: str) -> None:
    assert redact_url(url) == url
    assert inline_secrets(url) == []


def test_redact_url_with_another_mask() -> None:
    assert redact_url("snowflake://bob:pw@acct/DB?password=x", mask="****") == "snowflake://bob:****@acct/DB?password=****"


def test_pipeline_yaml_is_redacted_in_place_and_secrets_are_named() -> None:
    text = ("name: p  # comment kept\nconnections:\n  source: postgresql://etl:hunter2@db/dw\n"
            "  target: {url: 'snowflake://u@acct/db?token=tok123'}\n  other: ${OTHER_URL}\n"
            "steps: [{id: a, validator: record_counts, table: t}]\n")
    redacted = redact_pipeline_yaml(text)
    assert "hunter2" not in redacted and "tok123" not in redacted
    assert "# comment kept" in redacted and "postgresql://etl:***@db/dw" in redacted and "${OTHER_URL}" in redacted
    assert pipeline_secrets(text) == [
        "connections.source.url: inline password; use a ${VAR} reference or a project connection name",
        "connections.target.url: secret query parameter 'token'; use a ${VAR} reference or a project connection name",
    ]
    assert pipeline_secrets(redacted.replace("***", "${PW}")) == []
    assert pipeline_secrets("name: p\nconnections: {source: '${S}', target: duckdb:///t.duckdb}\n") == []
    assert redact_pipeline_yaml("name: p\nconnections: {source: '${S}'}\n") == "name: p\nconnections: {source: '${S}'}\n"


@pytest.mark.parametrize("name", [
    "email", "EMAIL", "e_mail", "CustomerEmail", "contact_email_address", "mail", "phone", "mobile_number", "fax",
    "first_name", "LastName", "surname", "full_name", "customer_name", "address", "street", "zip", "postal_code",
    "birth_date", "dob", "date_of_birth", "ssn", "national_id", "passport_no", "iban", "card_number", "ip_address",
    "dbo.customers.email",
])
def test_personal_columns_by_name(name: str) -> None:
    assert is_personal_column(name)


@pytest.mark.parametrize("name", ["id", "amount", "order_date", "name", "product_name", "status", "emailed_count",
                                  "region", "created_at", "shipping_cost"])
def test_other_columns_are_not_personal(name: str) -> None:
    assert not is_personal_column(name)


def test_personal_values_by_pattern() -> None:
    assert looks_personal("jane.doe@example.com") and looks_personal("+44 20 7946 0958")
    assert looks_personal("DE89370400440532013000")
    assert not looks_personal("12345678.5") and not looks_personal("2024-01-02") and not looks_personal("2024-01-02 10:00:00")
    assert not looks_personal("hello")
    assert not looks_personal(12345678)


def test_mask_value_plain_and_keyed() -> None:
    assert mask_value("a@b.co") == "***" and mask_value(None) is None
    one, same, other = mask_value("a@b.co", b"k"), mask_value("a@b.co", b"k"), mask_value("c@d.co", b"k")
    assert one == same != other and one.startswith("***:") and "a@b" not in one
    assert mask_value("a@b.co", b"other-key") != one


def test_mask_result_bounds_and_masks_every_sample_shape() -> None:
    changed = {"kind": "changed", "key": {"id": "7"},
               "columns": {"email": {"source": "ann@x.org", "target": "ann@y.org"}, "amount": {"source": "1", "target": "2"}}}
    one_sided = {"kind": "only_in_source", "key": {"id": "8"}, "row": {"id": "8", "Phone": "555-0100", "notes": "bob@z.net"}}
    line = {"column": "last_name", "source_value": "Smith", "target_value": "Smyth"}
    result = {"status": "failed", "message": "row 7: ann@x.org differs", "sample": [changed, one_sided, line] * 10,
              "details": {"first": {"email": "ann@x.org"}}, "source": {"row_count": 3}, "sql": {"source": ["SELECT 1"]}}
    masked = mask_result(result, limit=5)
    assert len(masked["sample"]) == 5 and masked["sample_truncated"] == 30
    text = str(masked)
    for value in ("ann@x.org", "ann@y.org", "555-0100", "bob@z.net", "Smith", "Smyth"):
        assert value not in text
    first = masked["sample"][0]
    assert first["columns"]["amount"] == {"source": "1", "target": "2"} and first["key"] == {"id": "7"}
    assert first["columns"]["email"] == {"source": "***", "target": "***"}
    assert masked["sample"][2] == {"column": "last_name", "source_value": "***", "target_value": "***"}
    assert masked["message"] == "row 7: *** differs" and masked["source"] == {"row_count": 3}
    assert masked["sql"] == result["sql"] and len(result["sample"]) == 30  # the input is not changed


def test_mask_result_keeps_columns_opted_out() -> None:
    sample = [{"kind": "changed", "key": {"id": "1"}, "columns": {"email": {"source": "a", "target": "b"}}}]
    assert mask_result({"sample": sample}, keep=["EMAIL"])["sample"] == sample


@pytest.mark.parametrize(("text", "url", "scrubbed"), [
    ("OperationalError: cannot reach postgresql://bob:p@db/dw", "postgresql://bob:p@db/dw",
     "OperationalError: cannot reach postgresql://bob:***@db/dw"),
    ("(psycopg.OperationalError) password=p host=db", "postgresql://bob:p@db/dw",
     "(psycopg.OperationalError) password=*** host=db"),
    ("DRIVER={ODBC};UID=bob;PWD={p};SERVER=s", "mssql://bob:p@s/db", "DRIVER={ODBC};UID=bob;PWD=***;SERVER=s"),
    ("login with 'hunter2' failed", "snowflake://u:hunter2@acct/db", "login with '***' failed"),
    ("bad token: abc123 for https://h/x?token=abc123", "https://h/x?token=abc123",
     "bad token: *** for https://h/x?token=***"),
    ("password: ${DB_PASSWORD} is a reference", None, "password: ${DB_PASSWORD} is a reference"),
    ("Operational error in apple pie", "postgresql://bob:p@db/dw", "Operational error in apple pie"),
])
def test_scrub_secrets_masks_only_values(text: str, url: str | None, scrubbed: str) -> None:
    assert scrub_secrets(text, url) == scrubbed
