"""What may enter an event: URLs without secrets, samples without personal values.

Events are kept for ever (the audit service hash-chains every one of them), so nothing secret and
nothing personal may be written into one. Pure functions, used by every service that writes a URL,
a pipeline or result samples into an event:

- `redact_url` / `redact_text` / `redact_pipeline_yaml`: passwords and secret query parameters
  replaced by `***`; `${VAR}` references are kept (they name a secret, they are not one).
- `scrub_secrets`: an error message without the secrets of a URL, masked only where they stand as
  values (URL userinfo, `password=`, a quoted secret), never inside a word.
- `inline_secrets` / `pipeline_secrets`: what a saved pipeline must not contain (the projects
  service refuses it, naming the field).
- `is_personal_column` / `looks_personal` / `mask_result`: sample rows bounded and values of
  personal columns (by name, or by a value that looks like an e-mail or phone number) masked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

REDACTED = "***"
_ENV_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# query parameters (any case) whose value is a secret; `odbc_connect` is handled inside
SECRET_PARAMS = frozenset({
    "password", "pwd", "passwd", "pass", "passcode", "token", "access_token", "refresh_token", "id_token",
    "secret", "client_secret", "private_key", "private_key_passphrase", "private_key_file_pwd",
    "api_key", "apikey", "sas_token", "sig", "oauth_token", "authenticator_token",
})
_ODBC_SECRET = re.compile(r"(?i)(?<![A-Za-z0-9_])(PWD|PASSWORD|ACCESSTOKEN)(\s*=\s*)(\{(?:[^}]|\}\})*\}|[^;]*)")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def _is_reference(value: str) -> bool:
    """A value made only of `${VAR}` references (a name of a secret, not a secret)."""
    return bool(value) and not _ENV_REF.sub("", value).strip()


def _redact_odbc(connect_string: str, mask: str = REDACTED) -> str:
    """`DRIVER=..;UID=u;PWD=secret` -> `DRIVER=..;UID=u;PWD=***` (references kept)."""
    def one(m: re.Match[str]) -> str:
        value = m.group(3).strip()
        return m.group(0) if not value or _is_reference(value) else f"{m.group(1)}{m.group(2)}{mask}"
    return _ODBC_SECRET.sub(one, connect_string)


def _split(url: str) -> tuple[str, str, str, str] | None:
    """(`scheme://`, userinfo or '', host and path, query) of a URL, or None when it is not one.
    A password may hold unquoted '/', '?' or '#': the userinfo ends at the last '@' before the query."""
    scheme, sep, remainder = url.partition("://")
    if not sep or not scheme:
        return None
    head = remainder.split("?", 1)[0]
    at = head.rfind("@")
    userinfo = ""
    if at > 0 and not head.startswith("/"):
        userinfo, remainder = remainder[:at], remainder[at + 1:]
    rest, _, query = remainder.partition("?")
    return f"{scheme}://", userinfo, rest, query


def _query_secrets(query: str) -> list[str]:
    """Names of the secret parameters of a query string (`odbc_connect.PWD` for one inside it)."""
    found = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        name = unquote_plus(key).lower()
        decoded = unquote_plus(value)
        if name in SECRET_PARAMS and decoded and not _is_reference(decoded):
            found.append(name)
        elif name == "odbc_connect" and _redact_odbc(decoded) != decoded:
            found.append("odbc_connect PWD")
    return found


def _redact_query(query: str, mask: str) -> str:
    pairs = []
    for pair in query.split("&"):
        key, eq, value = pair.partition("=")
        name = unquote_plus(key).lower()
        decoded = unquote_plus(value)
        if name in SECRET_PARAMS and decoded and not _is_reference(decoded):
            pair = f"{key}={mask}"
        elif name == "odbc_connect" and eq:
            redacted = _redact_odbc(decoded, mask)
            if redacted != decoded:
                pair = f"{key}={quote(redacted, safe='=;{}*$')}"
        pairs.append(pair)
    return "&".join(pairs)


def redact_url(url: str, mask: str = REDACTED) -> str:
    """The URL without secrets: `user:pass@` -> `user:***@`, secret query parameters (password, pwd,
    token, private_key_passphrase, ...) -> `***`, `PWD=` inside `odbc_connect` -> `PWD=***`.
    `${VAR}` references are kept; a URL without secrets comes back unchanged. `mask` replaces
    each secret (the projects service shows `****` in its masked connection URLs)."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, userinfo, rest, query = parts
    out = scheme
    if userinfo:
        user, colon, password = userinfo.partition(":")
        if colon and password and not _is_reference(unquote(password)):
            password = mask
        out += f"{user}{colon}{password}@"
    out += rest
    if query or url.endswith("?"):
        out += "?" + _redact_query(query, mask)
    return out


def inline_secrets(url: str) -> list[str]:
    """Why `url` carries a secret inline: `inline password`, `secret query parameter 'token'`, ...
    (empty when it has none; `${VAR}` references are not secrets)."""
    parts = _split(url)
    if parts is None:
        return []
    _, userinfo, _, query = parts
    reasons = []
    _user, colon, password = userinfo.partition(":")
    if colon and password and not _is_reference(unquote(password)):
        reasons.append("inline password")
    reasons += [f"secret query parameter {name!r}" for name in _query_secrets(query)]
    return reasons


def redact_text(text: str, mask: str = REDACTED) -> str:
    """Every URL found in `text` (a pipeline's YAML, an error message) redacted with `redact_url`."""
    return _URL.sub(lambda m: redact_url(m.group(0), mask), text)


_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(" + "|".join(sorted(SECRET_PARAMS, key=len, reverse=True)) + r")(\s*[=:]\s*)"
    r"(\{(?:[^}]|\}\})*\}|\"[^\"]*\"|'[^']*'|[^\s;,&'\"]+)"
)


def url_secrets(url: str) -> list[str]:
    """The secret values written in a URL: its password and its secret query parameters (decoded)."""
    parts = _split(url)
    if parts is None:
        return []
    _, userinfo, _, query = parts
    found = []
    _user, colon, password = userinfo.partition(":")
    if colon and password and not _is_reference(unquote(password)):
        found += [password, unquote(password)]
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key).lower() in SECRET_PARAMS and value and not _is_reference(unquote_plus(value)):
            found += [value, unquote_plus(value)]
    return list(dict.fromkeys(found))


def scrub_secrets(text: str, url: str | None = None, mask: str = REDACTED) -> str:
    """`text` (a driver's error message) without secrets, replaced only where they stand as values:
    the URL itself and every URL's userinfo and secret parameters (`redact_url`), `password=…`,
    `pwd: …` and the like, and a secret of `url` standing quoted as a whole (`'s3cret'`). Never
    inside a word: a one-letter password leaves "OperationalError" as it is."""
    if url:
        text = text.replace(url, redact_url(url, mask))
    text = redact_text(text, mask)

    def assignment(m: re.Match[str]) -> str:
        raw = m.group(3)
        value = raw[1:-1] if raw[:1] in "{\"'" and not raw.startswith("${") else raw
        return m.group(0) if not value or _is_reference(value) else f"{m.group(1)}{m.group(2)}{mask}"

    text = _SECRET_ASSIGNMENT.sub(assignment, text)
    for secret in url_secrets(url) if url else []:
        for quote_char in ("'", '"'):
            text = text.replace(f"{quote_char}{secret}{quote_char}", f"{quote_char}{mask}{quote_char}")
    return text


def redact_pipeline_yaml(yaml_text: str) -> str:
    """A pipeline's YAML as it may enter an event: every URL in it redacted (layout and comments
    kept). Unchanged when it holds no secret."""
    return redact_text(yaml_text)


def pipeline_secrets(yaml_text: str) -> list[str]:
    """The fields of a pipeline's YAML that carry a secret inline, each with why and what to do:
    `connections.source.url: inline password; use a ${VAR} reference or a project connection name`.
    A YAML that does not parse is checked as text (`pipeline: ...`)."""
    import yaml

    from ombudsman.contracts.pipeline import safe_load_yaml

    advice = "use a ${VAR} reference or a project connection name"
    try:
        loaded = safe_load_yaml(yaml_text)
    except yaml.YAMLError:
        loaded = None
    found: list[str] = []
    connections = loaded.get("connections") if isinstance(loaded, dict) else None
    if isinstance(connections, dict):
        for name, connection in connections.items():
            url = connection.get("url") if isinstance(connection, dict) else connection
            if isinstance(url, str):
                found += [f"connections.{name}.url: {why}; {advice}" for why in inline_secrets(url)]
    if not found and redact_text(yaml_text) != yaml_text:
        found.append(f"pipeline: a URL with an inline secret; {advice}")
    return found


# --- personal data in samples ----------------------------------------------------------------

_PERSONAL_NAME = re.compile(
    r"(^|_)(e_?mail|mail|email_?address|phone|phone_?number|mobile|cell|fax|telephone|tel|"
    r"first_?name|last_?name|given_?name|family_?name|middle_?name|surname|full_?name|maiden_?name|"
    r"customer_?name|contact_?name|person_?name|user_?name|display_?name|"
    r"address|addr|street|address_?line\d*|city|zip|zip_?code|postcode|postal_?code|"
    r"birth|birth_?date|date_?of_?birth|dob|birthday|ssn|social_?security|sin|national_?id|nin|tax_?id|"
    r"passport|passport_?no|driver_?licen[cs]e|iban|bic|account_?number|card|card_?number|credit_?card|"
    r"cc_?number|pan|cvv|ip|ip_?address|ipaddress)($|_)"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_EMAIL_VALUE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+")
_PHONE_VALUE = re.compile(r"^\+?[\d][\d ()\-./]{6,}\d$")
_DATE_VALUE = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
_IBAN_VALUE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}$")


def is_personal_column(name: str) -> bool:
    """Whether a column's name says it holds personal data (email, phone, names of people,
    addresses, postal codes, birth dates, national ids, passports, IBANs, card numbers, IPs...).
    Case, camelCase, `-`, spaces and a schema/table prefix do not matter."""
    last = str(name).rsplit(".", 1)[-1]
    normal = _CAMEL.sub("_", last).lower().replace("-", "_").replace(" ", "_").strip('"[]`')
    return bool(_PERSONAL_NAME.search(normal))


def looks_personal(value: Any) -> bool:
    """Whether a single value looks personal by itself: an e-mail address, a phone number or an IBAN."""
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _EMAIL_VALUE.fullmatch(text) or _IBAN_VALUE.match(text):
        return True
    digits = sum(c.isdigit() for c in text)
    return (bool(_PHONE_VALUE.match(text)) and digits >= 8 and not text.replace(".", "", 1).isdigit()
            and not _DATE_VALUE.match(text))


def mask_value(value: Any, key: bytes | None = None) -> Any:
    """`***`, or with a `key` a stable keyed digest `***:1a2b3c4d5e` (equal values give equal masks,
    so a sample still shows whether two values are the same). NULL stays NULL."""
    if value is None:
        return None
    if not key:
        return REDACTED
    digest = hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:10]
    return f"{REDACTED}:{digest}"


def _mask_all(value: Any, key: bytes | None) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_all(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_all(v, key) for v in value]
    return mask_value(value, key)


def _mask_text(text: str, key: bytes | None) -> str:
    return _EMAIL_VALUE.sub(lambda m: str(mask_value(m.group(0), key)), text)


def mask_personal(value: Any, *, keep: Iterable[str] = (), key: bytes | None = None, name: str = "") -> Any:
    """A copy of a JSON-like value with personal values masked: everything under a key that names a
    personal column (unless listed in `keep`), the values beside a `"column": "<personal>"` entry,
    and any string that looks personal by itself (e-mail addresses inside text included)."""
    kept = {k.lower() for k in keep}
    if name and name.lower() not in kept and is_personal_column(name):
        return _mask_all(value, key)
    if isinstance(value, Mapping):
        column = value.get("column")
        personal_row = (isinstance(column, str) and column.lower() not in kept and is_personal_column(column))
        out = {}
        for k, v in value.items():
            if personal_row and k != "column" and k not in ("kind", "issue", "key"):
                out[k] = _mask_all(v, key)
            else:
                out[k] = mask_personal(v, keep=kept, key=key, name=str(k))
        return out
    if isinstance(value, list | tuple):
        return [mask_personal(v, keep=kept, key=key) for v in value]
    if isinstance(value, str) and name.lower() not in kept:
        return _mask_text(value, key) if not looks_personal(value) else mask_value(value, key)
    return value


# parts of a StepResult that may carry values of the data (the rest is figures, SQL and names)
VALUE_FIELDS = ("sample", "details", "source", "target", "message")


def mask_result(result: Mapping[str, Any], *, limit: int = 20, keep: Iterable[str] = (),
                key: bytes | None = None) -> dict[str, Any]:
    """A step result as it may enter an event: at most `limit` sample rows, personal values masked
    in the sample, details, figures and message (columns in `keep` are left as they are)."""
    out = dict(result)
    sample = list(out.get("sample") or [])
    if len(sample) > limit:
        out["sample"] = sample[:limit]
        out["sample_truncated"] = len(sample)
    for field in VALUE_FIELDS:
        if field in out:
            out[field] = mask_personal(out[field], keep=keep, key=key)
    return out


# A value as it appears inside an error or a step's message: a quoted literal, a bracketed tuple of
# values after `=` (PostgreSQL's "Key (id)=(42)"), an e-mail address, or a number (a date, an id,
# an amount: a count travels as a figure of its own, never in the text).
_QUOTED_VALUE = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|\[[^\]]*\]")
_KEY_VALUE = re.compile(r"=\s*\([^)]*\)")
_CONTRACTION = re.compile(r"(?<=[A-Za-z])'(?=[A-Za-z])")
_OPEN_QUOTE = re.compile(r"['\"`].*", re.S)
_PATH_VALUE = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/][^\s'\"]*[\\/][^\s'\",;)]*")
_NUMBER_VALUE = re.compile(r"(?<![A-Za-z_])[-+]?\d(?:[\d.,:/\-T]*\d)?(?:[eE][-+]?\d+)?(?![A-Za-z_])")


def strip_values(text: str, keep: Iterable[str] = (), limit: int = 1000) -> str:
    """`text` (an error, a step's message) with every value taken out: quoted literals become `'?'`
    (unless the quoted word is one of the names in `keep`: a column or table), and so does all that
    follows a quote left open (a literal cut short), `=(…)` becomes `=(?)`, e-mail addresses and
    numbers become `?`, URLs and file paths `<url>` and `<file>`; names and words stay. What is left
    may go to a language model or into an event without carrying a row's value."""
    names = {k.lower() for k in keep}
    kept: list[str] = []

    def quoted(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1]
        kept.append(match.group(0) if inner and inner.lower() in names else "'?'")
        return chr(0xE000 + len(kept) - 1)  # a private-use character: no rule below touches it

    stripped = _CONTRACTION.sub("\u2019", text or "")  # target's, don't: not quotes
    stripped = _URL.sub("<url>", stripped)
    stripped = _PATH_VALUE.sub("<file>", stripped)
    stripped = _KEY_VALUE.sub("=(?)", stripped)
    stripped = _QUOTED_VALUE.sub(quoted, stripped)
    stripped = _OPEN_QUOTE.sub("'?'", stripped)
    stripped = _EMAIL_VALUE.sub("?", stripped)
    stripped = _NUMBER_VALUE.sub("?", stripped)
    stripped = re.sub("[\ue000-\uf8ff]", lambda m: kept[ord(m.group(0)) - 0xE000] if ord(m.group(0)) - 0xE000 < len(kept)
                      else "", stripped)
    return " ".join(stripped.split())[:limit]
