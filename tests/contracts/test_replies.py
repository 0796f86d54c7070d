"""The one error shape of validation failures: `details.fields: [{field, message}]`, built from
pydantic errors the same way for every service and the gateway, never echoing the input."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from ombudsman.contracts.replies import Invalid, field_errors, invalid_fields, validated


class Login(BaseModel):
    username: str = Field(min_length=2)
    password: str = Field(min_length=8)
    tags: list[int] = Field(default_factory=list)


def test_validated_names_every_wrong_field_and_never_the_value() -> None:
    with pytest.raises(Invalid) as refused:
        validated(Login, {"username": "x", "password": "short-pw", "tags": [1, "two"]})
    fields = refused.value.details["fields"]
    assert [f["field"] for f in fields] == ["username", "tags.1"]
    assert all(set(f) == {"field", "message"} and f["message"] for f in fields)
    assert refused.value.message.startswith("username: ") and "tags.1: " in refused.value.message
    with pytest.raises(Invalid) as secret:
        validated(Login, {"username": "ada", "password": "hunter2"})
    assert "hunter2" not in str(secret.value.info().model_dump())
    assert validated(Login, {"username": "ada", "password": "long-enough"}).username == "ada"
    with pytest.raises(Invalid) as empty:
        validated(Login, None)
    assert {f["field"] for f in empty.value.details["fields"]} == {"username", "password"}


def test_the_message_names_five_fields_and_counts_the_rest() -> None:
    class Wide(BaseModel):
        a: int
        b: int
        c: int
        d: int
        e: int
        f: int
        g: int

    with pytest.raises(Invalid) as refused:
        validated(Wide, {})
    assert len(refused.value.details["fields"]) == 7 and refused.value.message.endswith("(and 2 more)")


def test_located_errors_say_where_and_hand_made_ones_share_the_shape() -> None:
    errors = [{"loc": ("body", "name"), "msg": "too short"}, {"loc": ("query", "limit"), "msg": "too small"},
              {"loc": ("body",), "msg": "not an object"}]
    assert field_errors(errors, located=True) == [
        {"field": "name", "message": "too short", "in": "body"},
        {"field": "limit", "message": "too small", "in": "query"},
        {"field": "body", "message": "not an object", "in": "body"},
    ]
    made = invalid_fields("bad", {"source_schema": "required"}, project_id="p")
    assert made.details == {"fields": [{"field": "source_schema", "message": "required"}], "project_id": "p"}


def test_an_invalid_naming_one_field_names_it_in_fields_too() -> None:
    one = Invalid("url: not a connection URL", {"field": "url"})
    assert one.details == {"field": "url", "fields": [{"field": "url", "message": "url: not a connection URL"}]}
    assert Invalid.from_info(one.info()).details == one.details  # across the bus unchanged
    assert "fields" not in Invalid("nothing to say about a field").details
