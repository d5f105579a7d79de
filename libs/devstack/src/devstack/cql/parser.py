"""A recursive-descent parser for the CQL subset; anything else is a syntax or invalid error."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from devstack.cql.errors import ConfigurationException, InvalidRequest, SyntaxException
from devstack.cql.statements import (
    Assignment,
    Batch,
    BindMarker,
    Collection,
    ColumnDef,
    Condition,
    CreateKeyspace,
    CreateTable,
    Delete,
    Drop,
    FunctionCall,
    Insert,
    Literal,
    Relation,
    Select,
    Selector,
    Statement,
    TableName,
    Term,
    Truncate,
    Update,
    Use,
)
from devstack.cql.types import COLLECTIONS, SIMPLE_TYPES, CqlType

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<blob>0[xX][0-9a-fA-F]*(?![\w]))
  | (?P<float>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<integer>\d+(?![\w]))
  | (?P<string>'(?:[^']|'')*'|\$\$.*?\$\$)
  | (?P<qident>"(?:[^"]|"")+")
  | (?P<ident>[a-zA-Z][a-zA-Z0-9_]*)
  | (?P<named>:[a-zA-Z_][a-zA-Z0-9_]*)
  | (?P<punct><=|>=|!=|[(),;.*=<>\[\]{}:?+\-])
    """,
    re.VERBOSE | re.DOTALL,
)

UNSUPPORTED_TYPES = {"time", "duration", "tuple"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    position: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            snippet = text[position : position + 20]
            raise SyntaxException(f"line 1:{position} token recognition error at: '{snippet}'")
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.bind_count = 0

    # -- token helpers ------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        self.index += 1
        return token

    def error(self, expected: str) -> SyntaxException:
        token = self.current
        found = token.text or "<EOF>"
        return SyntaxException(
            f"line 1:{token.position} mismatched input '{found}' expecting {expected} "
            f"(in: {self.text.strip()[:200]!r})"
        )

    def at_keyword(self, *words: str) -> bool:
        return self.current.upper in words

    def accept_keyword(self, *words: str) -> bool:
        if self.at_keyword(*words):
            self.advance()
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.accept_keyword(word):
            raise self.error(word)

    def accept(self, text: str) -> bool:
        if self.current.kind == "punct" and self.current.text == text:
            self.advance()
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise self.error(f"'{text}'")

    def identifier(self) -> str:
        token = self.current
        if token.kind == "ident":
            self.advance()
            return token.text.lower()
        if token.kind == "qident":
            self.advance()
            return token.text[1:-1].replace('""', '"')
        raise self.error("an identifier")

    def table_name(self) -> TableName:
        first = self.identifier()
        if self.accept("."):
            return TableName(first, self.identifier())
        return TableName(None, first)

    # -- entry points -------------------------------------------------------------------------

    def parse(self) -> Statement:
        statement = self.statement()
        self.accept(";")
        if self.current.kind != "eof":
            raise self.error("end of statement")
        return statement

    def parse_type_only(self) -> CqlType:
        cql_type = self.cql_type()
        if self.current.kind != "eof":
            raise self.error("end of type")
        return cql_type

    def statement(self) -> Statement:
        word = self.current.upper
        if word == "SELECT":
            return self.select()
        if word == "INSERT":
            return self.insert()
        if word == "UPDATE":
            return self.update()
        if word == "DELETE":
            return self.delete()
        if word == "BEGIN":
            return self.batch()
        if word == "CREATE":
            return self.create()
        if word == "DROP":
            return self.drop()
        if word == "TRUNCATE":
            self.advance()
            self.accept_keyword("TABLE", "COLUMNFAMILY")
            return Truncate(self.table_name())
        if word == "USE":
            self.advance()
            return Use(self.identifier())
        if word in ("ALTER", "GRANT", "REVOKE", "LIST", "DESCRIBE", "DESC"):
            raise InvalidRequest(f"{word} is not supported by this development server")
        raise self.error("a statement (SELECT, INSERT, UPDATE, DELETE, BATCH, CREATE, DROP, ...)")

    # -- DDL ----------------------------------------------------------------------------------

    def create(self) -> Statement:
        self.expect_keyword("CREATE")
        if self.accept_keyword("KEYSPACE", "SCHEMA"):
            return self.create_keyspace()
        if self.accept_keyword("TABLE", "COLUMNFAMILY"):
            return self.create_table()
        if self.at_keyword("INDEX", "TYPE", "FUNCTION", "AGGREGATE", "MATERIALIZED", "TRIGGER"):
            raise InvalidRequest(
                f"CREATE {self.current.upper} is not supported by this development server"
            )
        raise self.error("KEYSPACE or TABLE")

    def if_not_exists(self) -> bool:
        if self.accept_keyword("IF"):
            self.expect_keyword("NOT")
            self.expect_keyword("EXISTS")
            return True
        return False

    def if_exists(self) -> bool:
        if self.at_keyword("IF") and self.peek().upper == "EXISTS":
            self.advance()
            self.advance()
            return True
        return False

    def create_keyspace(self) -> CreateKeyspace:
        if_not_exists = self.if_not_exists()
        name = self.identifier()
        replication: dict[str, str] = {}
        durable_writes = True
        self.expect_keyword("WITH")
        while True:
            option = self.identifier()
            self.expect("=")
            value = self.term()
            if option == "replication":
                if not isinstance(value, Collection) or value.kind != "map":
                    raise SyntaxException("replication must be a map")
                replication = {str(_constant(k)): str(_constant(v)) for k, v in value.items}
            elif option == "durable_writes":
                durable_writes = bool(_constant(value))
            else:
                raise InvalidRequest(f"Unknown property '{option}'")
            if not self.accept_keyword("AND"):
                break
        if "class" not in replication:
            raise ConfigurationException("Missing mandatory replication strategy class")
        return CreateKeyspace(name, if_not_exists, replication, durable_writes)

    def create_table(self) -> CreateTable:
        if_not_exists = self.if_not_exists()
        table = self.table_name()
        self.expect("(")
        columns: list[ColumnDef] = []
        partition_key: list[str] = []
        clustering: list[str] = []
        while True:
            if self.at_keyword("PRIMARY") and self.peek().upper == "KEY":
                self.advance()
                self.advance()
                self.expect("(")
                if self.accept("("):
                    partition_key = self.identifier_list(")")
                else:
                    partition_key = [self.identifier()]
                while self.accept(","):
                    clustering.append(self.identifier())
                self.expect(")")
            else:
                name = self.identifier()
                cql_type = self.cql_type()
                static = self.accept_keyword("STATIC")
                if self.accept_keyword("PRIMARY"):
                    self.expect_keyword("KEY")
                    if partition_key:
                        raise InvalidRequest(
                            "Multiple PRIMARY KEYs specified (exactly one required)"
                        )
                    partition_key = [name]
                columns.append(ColumnDef(name, cql_type, static))
            if not self.accept(","):
                break
            if self.current.kind == "punct" and self.current.text == ")":
                break
        self.expect(")")
        clustering_order: dict[str, str] = {}
        options: dict[str, Any] = {}
        if self.accept_keyword("WITH"):
            while True:
                if self.accept_keyword("CLUSTERING"):
                    self.expect_keyword("ORDER")
                    self.expect_keyword("BY")
                    self.expect("(")
                    while True:
                        column = self.identifier()
                        direction = "ASC"
                        if self.at_keyword("ASC", "DESC"):
                            direction = self.advance().upper
                        clustering_order[column] = direction
                        if not self.accept(","):
                            break
                    self.expect(")")
                elif self.accept_keyword("COMPACT"):
                    raise InvalidRequest("COMPACT STORAGE is not supported")
                else:
                    option = self.identifier()
                    self.expect("=")
                    options[option] = _constant(self.term())
                if not self.accept_keyword("AND"):
                    break
        if not partition_key:
            raise InvalidRequest("No PRIMARY KEY specifed for table (exactly one required)")
        return CreateTable(
            table, if_not_exists, columns, partition_key, clustering, clustering_order, options
        )

    def identifier_list(self, closing: str) -> list[str]:
        names = [self.identifier()]
        while self.accept(","):
            names.append(self.identifier())
        self.expect(closing)
        return names

    def drop(self) -> Drop:
        self.expect_keyword("DROP")
        if self.accept_keyword("KEYSPACE", "SCHEMA"):
            if_exists = self.if_exists()
            return Drop("keyspace", TableName(None, self.identifier()), if_exists)
        if self.accept_keyword("TABLE", "COLUMNFAMILY"):
            if_exists = self.if_exists()
            return Drop("table", self.table_name(), if_exists)
        raise self.error("KEYSPACE or TABLE")

    def cql_type(self) -> CqlType:
        name = self.identifier()
        if name == "frozen":
            self.expect("<")
            inner = self.cql_type()
            self.expect(">")
            return CqlType(inner.name, inner.params, frozen=True)
        if name in COLLECTIONS:
            self.expect("<")
            params = [self.cql_type()]
            if name == "map":
                self.expect(",")
                params.append(self.cql_type())
            self.expect(">")
            return CqlType(name, tuple(params))
        if name in SIMPLE_TYPES:
            return CqlType(name)
        if name in UNSUPPORTED_TYPES:
            raise InvalidRequest(f"type {name} is not supported by this development server")
        raise InvalidRequest(f"Unknown type {name}")

    # -- DML ----------------------------------------------------------------------------------

    def using(self) -> tuple[Term | None, Term | None]:
        ttl = timestamp = None
        if self.accept_keyword("USING"):
            while True:
                if self.accept_keyword("TTL"):
                    ttl = self.term()
                elif self.accept_keyword("TIMESTAMP"):
                    timestamp = self.term()
                else:
                    raise self.error("TTL or TIMESTAMP")
                if not self.accept_keyword("AND"):
                    break
        return ttl, timestamp

    def insert(self) -> Insert:
        self.expect_keyword("INSERT")
        self.expect_keyword("INTO")
        table = self.table_name()
        if self.at_keyword("JSON"):
            raise InvalidRequest("INSERT JSON is not supported by this development server")
        self.expect("(")
        columns = self.identifier_list(")")
        self.expect_keyword("VALUES")
        self.expect("(")
        values = [self.term()]
        while self.accept(","):
            values.append(self.term())
        self.expect(")")
        if len(values) != len(columns):
            raise InvalidRequest("Unmatched column names/values")
        if_not_exists = self.if_not_exists()
        ttl, timestamp = self.using()
        return Insert(table, columns, values, if_not_exists, ttl, timestamp)

    def update(self) -> Update:
        self.expect_keyword("UPDATE")
        table = self.table_name()
        ttl, timestamp = self.using()
        self.expect_keyword("SET")
        assignments = [self.assignment()]
        while self.accept(","):
            assignments.append(self.assignment())
        where = self.where()
        if_exists = self.if_exists()
        conditions = [] if if_exists else self.conditions()
        return Update(table, assignments, where, if_exists, conditions, ttl, timestamp)

    def assignment(self) -> Assignment:
        column = self.identifier()
        if self.accept("["):
            key = self.term()
            self.expect("]")
            self.expect("=")
            return Assignment(column, "set_key", self.term(), key)
        self.expect("=")
        token = self.current
        if token.kind in ("ident", "qident") and self.peek().text in ("+", "-"):
            saved = self.index
            other = self.identifier()
            if other == column:
                operation = "add" if self.advance().text == "+" else "remove"
                return Assignment(column, operation, self.term())
            self.index = saved
        value = self.term()
        if self.accept("+"):
            other = self.identifier()
            if other != column:
                raise InvalidRequest("Only expressions of the form X = <value> + X are supported.")
            return Assignment(column, "prepend", value)
        return Assignment(column, "set", value)

    def delete(self) -> Delete:
        self.expect_keyword("DELETE")
        columns: list[str] = []
        if not self.at_keyword("FROM"):
            columns = [self.identifier()]
            while self.accept(","):
                columns.append(self.identifier())
        self.expect_keyword("FROM")
        table = self.table_name()
        _, timestamp = self.using()
        where = self.where()
        if_exists = self.if_exists()
        conditions = [] if if_exists else self.conditions()
        return Delete(table, columns, where, if_exists, conditions, timestamp)

    def conditions(self) -> list[Condition]:
        if not self.accept_keyword("IF"):
            return []
        result = []
        while True:
            column = self.identifier()
            operator = self.comparison_operator()
            result.append(Condition(column, operator, self.term()))
            if not self.accept_keyword("AND"):
                return result

    def comparison_operator(self) -> str:
        token = self.current
        if token.kind == "punct" and token.text in ("=", "<", "<=", ">", ">=", "!="):
            self.advance()
            return token.text
        raise self.error("a comparison operator")

    def where(self) -> list[Relation]:
        self.expect_keyword("WHERE")
        relations = [self.relation()]
        while self.accept_keyword("AND"):
            relations.append(self.relation())
        return relations

    def relation(self) -> Relation:
        if self.current.kind == "punct" and self.current.text == "(":
            raise InvalidRequest("multi-column relations are not supported by this server")
        if self.at_keyword("TOKEN") and self.peek().text == "(":
            raise InvalidRequest("token() relations are not supported by this development server")
        column = self.identifier()
        if self.accept_keyword("IN"):
            if self.accept("("):
                values: list[Term] = []
                if not self.accept(")"):
                    values.append(self.term())
                    while self.accept(","):
                        values.append(self.term())
                    self.expect(")")
                return Relation(column, "IN", tuple(values))
            return Relation(column, "IN", self.bind_marker())
        if self.accept_keyword("CONTAINS"):
            raise InvalidRequest("CONTAINS is not supported by this development server")
        operator = self.comparison_operator()
        if operator == "!=":
            raise InvalidRequest('Unsupported "!=" relation')
        return Relation(column, operator, self.term())

    def select(self) -> Select:
        self.expect_keyword("SELECT")
        if self.at_keyword("JSON"):
            raise InvalidRequest("SELECT JSON is not supported by this development server")
        distinct = self.accept_keyword("DISTINCT")
        selectors: list[Selector] = []
        if not self.accept("*"):
            selectors.append(self.selector())
            while self.accept(","):
                selectors.append(self.selector())
        self.expect_keyword("FROM")
        table = self.table_name()
        where = self.where() if self.at_keyword("WHERE") else []
        order_by: list[tuple[str, str]] = []
        if self.accept_keyword("ORDER"):
            self.expect_keyword("BY")
            while True:
                column = self.identifier()
                direction = self.advance().upper if self.at_keyword("ASC", "DESC") else "ASC"
                order_by.append((column, direction))
                if not self.accept(","):
                    break
        per_partition_limit = limit = None
        if self.accept_keyword("PER"):
            self.expect_keyword("PARTITION")
            self.expect_keyword("LIMIT")
            per_partition_limit = self.term()
        if self.accept_keyword("LIMIT"):
            limit = self.term()
        allow_filtering = False
        if self.accept_keyword("ALLOW"):
            self.expect_keyword("FILTERING")
            allow_filtering = True
        return Select(
            table, selectors, where, order_by, limit, per_partition_limit, allow_filtering, distinct
        )

    def selector(self) -> Selector:
        if self.current.kind == "ident" and self.peek().text == "(":
            function = self.advance().text.lower()
            self.expect("(")
            if function == "count":
                if not (self.accept("*") or self.accept_integer_one()):
                    raise InvalidRequest("only COUNT(*) and COUNT(1) are supported")
                self.expect(")")
                selector = Selector("count", None, self.alias() or "count")
                return selector
            if function in ("ttl", "writetime"):
                column = self.identifier()
                self.expect(")")
                return Selector(function, column, self.alias() or f"{function}({column})")
            raise InvalidRequest(f"Unknown function '{function}'")
        column = self.identifier()
        return Selector("column", column, self.alias() or column)

    def accept_integer_one(self) -> bool:
        if self.current.kind == "integer" and self.current.text == "1":
            self.advance()
            return True
        return False

    def alias(self) -> str | None:
        if self.accept_keyword("AS"):
            return self.identifier()
        return None

    def batch(self) -> Batch:
        self.expect_keyword("BEGIN")
        kind = "logged"
        if self.at_keyword("UNLOGGED", "COUNTER", "LOGGED"):
            kind = self.advance().upper.lower()
        self.expect_keyword("BATCH")
        _, timestamp = self.using()
        statements: list[Insert | Update | Delete] = []
        while not self.at_keyword("APPLY"):
            if self.current.kind == "eof":
                raise self.error("APPLY BATCH")
            statement = self.statement()
            if not isinstance(statement, Insert | Update | Delete):
                raise InvalidRequest("Only INSERT, UPDATE and DELETE are allowed in a BATCH")
            statements.append(statement)
            self.accept(";")
        self.expect_keyword("APPLY")
        self.expect_keyword("BATCH")
        return Batch(kind, statements, timestamp)

    # -- terms --------------------------------------------------------------------------------

    def bind_marker(self) -> BindMarker:
        token = self.current
        if (token.kind == "punct" and token.text == "?") or token.kind == "named":
            self.advance()
        else:
            raise self.error("a bind marker")
        marker = BindMarker(self.bind_count, token.text[1:] if token.kind == "named" else None)
        self.bind_count += 1
        return marker

    def term(self) -> Term:
        token = self.current
        if token.kind == "punct":
            if token.text in ("?",):
                return self.bind_marker()
            if token.text == "-":
                self.advance()
                number = self.term()
                if not isinstance(number, Literal) or number.kind not in ("integer", "float"):
                    raise self.error("a number after '-'")
                return Literal(number.kind, -number.value)
            if token.text == "[":
                self.advance()
                return Collection("list", self.term_list("]"))
            if token.text == "{":
                return self.brace_collection()
            if token.text == "(":
                raise InvalidRequest("tuples are not supported by this development server")
            raise self.error("a value")
        if token.kind == "named":
            return self.bind_marker()
        self.advance()
        if token.kind == "string":
            text = token.text
            if text.startswith("$$"):
                return Literal("string", text[2:-2])
            return Literal("string", text[1:-1].replace("''", "'"))
        if token.kind == "integer":
            return Literal("integer", int(token.text))
        if token.kind == "float":
            return Literal("float", float(token.text))
        if token.kind == "uuid":
            return Literal("uuid", uuid.UUID(token.text))
        if token.kind == "blob":
            digits = token.text[2:]
            if len(digits) % 2:
                raise SyntaxException(f"invalid blob constant {token.text}")
            return Literal("blob", bytes.fromhex(digits))
        if token.kind == "ident":
            word = token.upper
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE")
            if word == "NULL":
                return Literal("null", None)
            if word == "NAN":
                return Literal("float", float("nan"))
            if word == "INFINITY":
                return Literal("float", float("inf"))
            if self.current.kind == "punct" and self.current.text == "(":
                self.advance()
                args = self.term_list(")")
                return FunctionCall(token.text.lower(), args)
        self.index -= 1
        raise self.error("a value")

    def term_list(self, closing: str) -> tuple[Term, ...]:
        items: list[Term] = []
        if self.accept(closing):
            return ()
        items.append(self.term())
        while self.accept(","):
            items.append(self.term())
        self.expect(closing)
        return tuple(items)

    def brace_collection(self) -> Collection:
        self.expect("{")
        if self.accept("}"):
            return Collection("map", ())
        first = self.term()
        if self.accept(":"):
            pairs = [(first, self.term())]
            while self.accept(","):
                key = self.term()
                self.expect(":")
                pairs.append((key, self.term()))
            self.expect("}")
            return Collection("map", tuple(pairs))
        items = [first]
        while self.accept(","):
            items.append(self.term())
        self.expect("}")
        return Collection("set", tuple(items))


def _constant(term: Term) -> Any:
    """A DDL option value: literals and (nested) maps of literals."""
    if isinstance(term, Literal):
        return term.value
    if isinstance(term, Collection) and term.kind == "map":
        return {str(_constant(k)): str(_constant(v)) for k, v in term.items}
    raise InvalidRequest("options must be constants")


def parse(text: str) -> Statement:
    return Parser(text).parse()
