"""Query fingerprints: the same query with other literals gets the same fingerprint.

A single regular-expression tokenizer (much faster than a full parse) drops comments, folds case and
whitespace, unquotes `[bracketed]` and `"quoted"` identifiers, replaces every string and number
literal by `?` and a whole `IN (…)` list of literals by `(?)`. The full sqlglot parse then runs once
per distinct fingerprint, not once per query.

While scanning, it also notes equality filters against literals (`c.region = 'EU'`,
`status IN ('A', 'B')`) as (identifier as written, value): the analysis of the fingerprint maps the
identifier to its catalog column, so the values seen across every variant of a query tell which
filter columns have few distinct values (candidates for `domain_values`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<str>[Nn]?'(?:[^']|'')*(?:'|\Z))
    |(?P<qid>\[(?:[^\]]|\]\])*(?:\]|\Z)|"(?:[^"]|"")*(?:"|\Z))
    |(?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
    |(?P<word>[A-Za-z_@#$\u00c0-\uffff][\w@#$]*)
    |(?P<op><>|!=|>=|<=|\S)
    """,
    re.VERBOSE | re.DOTALL,
)
# Words that end an identifier chain (a filter's column is never one of these).
_KEYWORDS = frozenset(
    "select from where and or not on join inner left right full outer cross group by order having as case when "
    "then else end in is null like between exists top distinct union all set update delete insert into values "
    "with over partition".split()
)
EQUALITY_OPS = frozenset({"=", "<>", "!="})


@dataclass(slots=True)
class Fingerprint:
    """A query's fingerprint, its normalised text and the literal equality filters it holds."""

    digest: str
    normalized: str
    filters: list[tuple[str, str]] = field(default_factory=list)  # (identifier as written, literal value)


def _literal_value(kind: str, text: str) -> str:
    if kind == "str":
        body = text[1:] if text[:1] in "Nn" else text
        return body[1:-1].replace("''", "'")
    return text


def fingerprint(sql: str) -> Fingerprint:
    """The fingerprint of one query text (see the module docstring)."""
    out: list[str] = []
    filters: list[tuple[str, str]] = []
    chain: list[str] = []  # the identifier chain being read: ["c", "region"]
    chain_end = -1  # index in `out` where the last chain ended
    pending: tuple[str, int] | None = None  # (identifier, index of its operator) waiting for a literal
    in_list: list[str] | None = None  # literals of an IN list being read
    in_ident: str | None = None
    in_start = 0
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        if kind == "ws" or kind == "comment":
            continue
        text = match.group()
        if kind == "str" or kind == "num":
            value = _literal_value(kind, text)
            if in_list is not None and out and out[-1] in ("(", ","):
                in_list.append(value)
            elif pending is not None and pending[1] == len(out) - 1:
                filters.append((pending[0], value))
                pending = None
            out.append("?")
            chain = []
            continue
        if kind == "word" or kind == "qid":
            word = text[1:-1] if kind == "qid" else text
            word = word.lower()
            if kind == "word" and word in _KEYWORDS:
                if word == "in" and chain_end == len(out) - 1 and chain:
                    in_ident = ".".join(chain)
                    in_list = []
                    in_start = len(out) + 1
                chain = []
                out.append(word)
                continue
            if out and out[-1] == "." and chain:
                chain.append(word)
            else:
                chain = [word]
            out.append(word)
            chain_end = len(out) - 1
            continue
        # operators and punctuation
        if text == "." and chain:
            out.append(".")
            continue
        if text in EQUALITY_OPS and chain and chain_end == len(out) - 1:
            pending = (".".join(chain), len(out))
        chain = []
        if in_list is not None:
            if text == "(" and len(out) == in_start:
                out.append("(")
                continue
            if text == ")" and len(out) > in_start and out[-1] == "?":
                literals_only = all(t in ("?", ",") for t in out[in_start + 1:])
                if literals_only and in_ident is not None:
                    del out[in_start + 1:]
                    out.append("?")
                    filters.extend((in_ident, v) for v in in_list)
                in_list, in_ident = None, None
            elif text not in (",",) or len(out) < in_start:
                in_list, in_ident = None, None
        out.append(text)
    normalized = " ".join(out)
    digest = hashlib.blake2b(normalized.encode(), digest_size=8).hexdigest()
    return Fingerprint(digest, normalized, filters)
