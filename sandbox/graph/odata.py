"""The OData query options Graph understands: $select, $filter, $orderby, $top, $skip,
$expand, and the links that page through results.

$filter is parsed into a small tree and translated to a Django Q through a per-resource
field map, so a resource only filters on the properties it declares (as Graph refuses
the rest with 400).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db.models import Q
from django.http import HttpRequest

from sandbox.graph import errors

# --- $filter -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<punct>[(),:])
    | (?P<name>[A-Za-z_@][A-Za-z0-9_./@]*)
    )""",
    re.VERBOSE,
)
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
# Graph's directory counts each value of an `in` list as an `or` clause and refuses more
# than 15 (without advanced queries), as it words it (Request_UnsupportedQuery).
MAX_IN_VALUES = 15
FUNCTIONS = {"startswith", "endswith", "contains"}


@dataclass
class Literal:
    value: Any


@dataclass
class Name:
    path: str


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise errors.bad_request(f"Invalid filter clause: syntax error at position {position}.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class FilterParser:
    """filter := or; or := and ('or' and)*; and := unary ('and' unary)*; ..."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].lower() != value):
            raise errors.bad_request(f"Invalid filter clause: expected {value or 'more input'}.")
        self.i += 1
        return token

    def parse(self) -> Any:
        tree = self.or_()
        if (extra := self.peek()) is not None:
            raise errors.bad_request(f"Invalid filter clause: unexpected '{extra[1]}'.")
        return tree

    def or_(self) -> Any:
        left = self.and_()
        while (t := self.peek()) and t[0] == "name" and t[1].lower() == "or":
            self.take()
            left = ("or", left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.unary()
        while (t := self.peek()) and t[0] == "name" and t[1].lower() == "and":
            self.take()
            left = ("and", left, self.unary())
        return left

    def unary(self) -> Any:
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() == "not":
            self.take()
            return ("not", self.unary())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.operand()
        token = self.peek()
        if token and token[0] == "name" and token[1].lower() in COMPARISONS:
            self.take()
            return ("cmp", token[1].lower(), left, self.operand())
        if token and token[0] == "name" and token[1].lower() == "in":
            self.take()
            self.take("(")
            values = [self.operand()]
            while self.peek() == ("punct", ","):
                self.take(",")
                values.append(self.operand())
            self.take(")")
            return ("in", left, values)
        return left

    def operand(self) -> Any:
        token = self.take()
        kind, text = token
        if kind == "punct" and text == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "string":
            return Literal(text[1:-1].replace("''", "'"))
        if kind == "datetime":
            return Literal(parse_datetime(text))
        if kind == "number":
            return Literal(float(text) if "." in text else int(text))
        if kind == "name":
            lowered = text.lower()
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            if lowered in FUNCTIONS and self.peek() == ("punct", "("):
                self.take("(")
                first = self.operand()
                self.take(",")
                second = self.operand()
                self.take(")")
                return ("fn", lowered, first, second)
            if text.endswith("/any") and self.peek() == ("punct", "("):
                self.take("(")
                variable = self.take()[1]
                self.take(":")
                body = self.or_()
                self.take(")")
                return ("any", text[: -len("/any")], variable, body)
            return Name(text)
        raise errors.bad_request(f"Invalid filter clause: unexpected '{text}'.")


def parse_datetime(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_request(
            f"Invalid filter clause: '{text}' is not a DateTimeOffset."
        ) from None


@dataclass(frozen=True)
class Field:
    """A filterable, sortable property: its ORM path and how to read a literal for it."""

    orm: str
    kind: str = "string"  # string, uuid, bool, datetime, int


# A handler for lambda filters (`x/any(v: ...)`): (collection, variable, body) → Q.
AnyHandler = Callable[[str, str, Any], Q]

_LOOKUPS = {"eq": "exact", "gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}


def to_q(tree: Any, fields: dict[str, Field], any_handler: AnyHandler | None = None) -> Q:
    if isinstance(tree, tuple):
        op = tree[0]
        if op == "and":
            return to_q(tree[1], fields, any_handler) & to_q(tree[2], fields, any_handler)
        if op == "or":
            return to_q(tree[1], fields, any_handler) | to_q(tree[2], fields, any_handler)
        if op == "not":
            return ~to_q(tree[1], fields, any_handler)
        if op == "cmp":
            return compare(tree[1], tree[2], tree[3], fields)
        if op == "in":
            return member_of(tree[1], tree[2], fields)
        if op == "fn":
            name, field_node, literal = tree[1], tree[2], tree[3]
            field = _field(field_node, fields)
            if not isinstance(literal, Literal) or not isinstance(literal.value, str):
                raise errors.bad_request(f"Invalid filter clause: {name} needs a string.")
            lookup = {"startswith": "istartswith", "endswith": "iendswith", "contains": "icontains"}
            return Q(**{f"{field.orm}__{lookup[name]}": literal.value})
        if op == "any" and any_handler is not None:
            return any_handler(tree[1], tree[2], tree[3])
    if isinstance(tree, Name):
        field = _field(tree, fields)
        if field.kind == "bool":
            return Q(**{field.orm: True})
    raise errors.bad_request("Invalid filter clause: the expression is not supported.")


def _field(node: Any, fields: dict[str, Field]) -> Field:
    if not isinstance(node, Name):
        raise errors.bad_request("Invalid filter clause: a property name was expected.")
    field = fields.get(node.path.lower())
    if field is None:
        raise errors.bad_request(
            f"Invalid filter clause: Could not find a property named '{node.path}'."
        )
    return field


def compare(op: str, left: Any, right: Any, fields: dict[str, Field]) -> Q:
    if isinstance(left, Literal) and isinstance(right, Name):
        left, right = right, left
        op = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}.get(op, op)
    field = _field(left, fields)
    if not isinstance(right, Literal):
        raise errors.bad_request("Invalid filter clause: a literal value was expected.")
    value = coerce(right.value, field)
    if value is None:
        q = Q(**{f"{field.orm}__isnull": True})
        return ~q if op == "ne" else q
    if op == "ne":
        return ~Q(**{field.orm: value})
    if field.kind == "uuid" and not _is_uuid(value):
        return ~Q(pk__in=[]) if op == "ne" else Q(pk__in=[])
    if field.kind == "string" and op == "eq":
        return Q(**{f"{field.orm}__iexact": value})
    return Q(**{f"{field.orm}__{_LOOKUPS[op]}": value})


def member_of(left: Any, values: list[Any], fields: dict[str, Field]) -> Q:
    """`property in ('a', 'b', ...)`: at most MAX_IN_VALUES values, each a literal."""
    field = _field(left, fields)
    if len(values) > MAX_IN_VALUES:
        raise errors.bad_request(
            "Too many child clauses specified in search filter expression containing 'OR' "
            f"operators: {len(values)}. Max allowed: {MAX_IN_VALUES}.",
            code="Request_UnsupportedQuery",
        )
    if not all(isinstance(value, Literal) for value in values):
        raise errors.bad_request("Invalid filter clause: a literal value was expected.")
    wanted = [coerce(value.value, field) for value in values]
    if field.kind == "uuid":
        # An id that is not a GUID matches nothing (Graph finds no such object).
        wanted = [value for value in wanted if _is_uuid(value)]
    return Q(**{f"{field.orm}__in": wanted})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def coerce(value: Any, field: Field) -> Any:
    if value is None:
        return None
    expected = {"string": str, "uuid": str, "bool": bool, "datetime": datetime, "int": int}[
        field.kind
    ]
    if field.kind == "datetime" and isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, expected) or (field.kind == "int" and isinstance(value, bool)):
        raise errors.bad_request(
            "Invalid filter clause: A binary operator with incompatible types was detected."
        )
    return value


def filter_q(
    request: HttpRequest, fields: dict[str, Field], any_handler: AnyHandler | None = None
) -> Q:
    text = request.GET.get("$filter", "").strip()
    if not text:
        return Q()
    return to_q(FilterParser(text).parse(), fields, any_handler)


# --- $orderby, $select, $top -------------------------------------------------------------


def order_by(request: HttpRequest, fields: dict[str, Field], default: list[str]) -> list[str]:
    text = request.GET.get("$orderby", "").strip()
    if not text:
        return default
    ordering = []
    for clause in text.split(","):
        name, _, direction = clause.strip().partition(" ")
        direction = direction.strip().lower() or "asc"
        field = fields.get(name.lower())
        if field is None or direction not in ("asc", "desc"):
            raise errors.bad_request(f"Invalid $orderby: '{clause.strip()}'.")
        ordering.append(("-" if direction == "desc" else "") + field.orm)
    return [*ordering, "id"]


def selected(request: HttpRequest) -> list[str] | None:
    text = request.GET.get("$select", "").strip()
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def apply_select(
    item: dict[str, Any], select: list[str] | None, always: Iterable[str] = ("id",)
) -> dict[str, Any]:
    if select is None:
        return item
    wanted = {s.lower() for s in select} | {a.lower() for a in always}
    return {k: v for k, v in item.items() if k.startswith("@") or k.lower() in wanted}


def integer_option(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_request(f"Invalid value '{raw}' for {name}.") from None
    if value < 0:
        raise errors.bad_request(f"Invalid value '{raw}' for {name}.")
    return min(value, maximum)


def max_page_size(request: HttpRequest, default: int, maximum: int) -> int:
    """Prefer: odata.maxpagesize=N (delta queries page by this, not $top)."""
    match = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
    return min(int(match.group(1)), maximum) if match else default


# --- Links ------------------------------------------------------------------------------


def graph_url(path: str, params: dict[str, str]) -> str:
    """An absolute Graph URL, as Graph writes its links (the real host, always)."""
    query = urlencode(params, safe="$'(),:/ ").replace(" ", "%20")
    return f"{settings.MICROSOFT_GRAPH_URL}/{path.lstrip('/')}" + (f"?{query}" if query else "")


def request_graph_path(request: HttpRequest) -> str:
    """The part of the request path after /v1.0/ (what a link to the same resource needs)."""
    return request.path.split("/v1.0/", 1)[1] if "/v1.0/" in request.path else ""


def next_link(request: HttpRequest, **changes: str) -> str:
    params = {k: request.GET[k] for k in request.GET if k not in changes}
    params.update(changes)
    return graph_url(request_graph_path(request), params)


TOKEN_SALT = "sandbox.graph.token"  # noqa: S105 (a signing salt, not a secret)


def pack(state: dict[str, Any]) -> str:
    """An opaque state token (skip/delta): signed so clients can't forge one."""
    return signing.dumps(state, salt=TOKEN_SALT, compress=True)


def unpack(token: str) -> dict[str, Any]:
    try:
        return signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        raise errors.bad_request("The token is invalid or malformed.", "badRequest") from None


def page(
    request: HttpRequest, rows: list[Any], *, top: int, skip: int, use_skiptoken: bool = False
) -> tuple[list[Any], str | None]:
    """Slice `rows` (already fetched with top + 1) into a page and its nextLink."""
    if len(rows) <= top:
        return rows, None
    if use_skiptoken:
        return rows[:top], next_link(request, **{"$skiptoken": pack({"skip": skip + top})})
    return rows[:top], next_link(request, **{"$skip": str(skip + top)})


def skip_of(request: HttpRequest) -> int:
    if token := request.GET.get("$skiptoken"):
        return int(unpack(token).get("skip", 0))
    return integer_option(request, "$skip", 0, 10**9)
