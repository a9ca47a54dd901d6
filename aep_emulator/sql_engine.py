"""The Query Service's SQL engine: one in-memory DuckDB database per sandbox.

Tables are the sandbox's datasets (:mod:`aep_emulator.lake`): each seed dataset is a table named
by its name in snake case, with the records its dataset exports write, loaded the first time a
query names it; a derived dataset is the table its ``CREATE TABLE ... AS SELECT`` made.

One statement per query, of four kinds: ``SELECT`` (and ``WITH``/``VALUES``), ``CREATE TABLE
[IF NOT EXISTS] x AS SELECT``, ``INSERT INTO x ...`` and ``DROP TABLE [IF EXISTS] x``. Anything
else fails, and DuckDB runs with external access disabled and its configuration locked: a query
cannot read or write the host's files (``read_csv``, ``COPY``, ``ATTACH``), install or load
extensions, or reach Python objects by name. Which table a statement may write is the query
service's decision (:mod:`aep_emulator.query_service`); this module only runs SQL.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from aep_emulator.datasets import Dataset, records
from aep_emulator.lake import SEED_TABLES

#: DuckDB settings fixed at connect time; ``lock_configuration`` then keeps them.
_CONFIG: dict[str, str | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "threads": 1,
    "memory_limit": "512MB",
    # No spilling to disk: a query past the memory limit fails instead of writing host files.
    "temp_directory": "",
}
_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_]*|"[^"]+")'
_CTAS = re.compile(rf"\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?({_IDENT})\s+AS\b", re.IGNORECASE)
_INSERT = re.compile(rf"\s*INSERT\s+INTO\s+({_IDENT})[\s(]", re.IGNORECASE)
_DROP = re.compile(rf"\s*DROP\s+TABLE\s+(IF\s+EXISTS\s+)?({_IDENT})\s*;?\s*$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE = re.compile(r"\n\nLINE (\d+): (.*)\n( *)\^", re.DOTALL)
SUPPORTED = (
    "the emulator's Query Service runs one SELECT, CREATE TABLE ... AS SELECT, "
    "INSERT INTO ... SELECT or DROP TABLE per query"
)


class SQLError(Exception):
    """A query's failure as the Query Service reports it: SQLSTATE-like code, text, position."""

    def __init__(self, code: str, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position

    def as_error(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "position": self.position}


@dataclass(frozen=True)
class Statement:
    """What a query's one statement is: its kind, the table it writes, and its IF clause."""

    kind: str  # "select", "ctas", "insert" or "drop"
    table: str | None = None
    if_clause: bool = False


@dataclass
class Outcome:
    """What a statement did: rows returned (SELECT) or written, and the rows a write made."""

    row_count: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: The tables the statement read (lower case), the written table excluded.
    read_tables: list[str] = field(default_factory=list)


_LEADING_COMMENTS = re.compile(r"^(?:\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/))*\s*", re.DOTALL)


def classify(sql: str) -> Statement:
    """The statement's kind, or :class:`SQLError` (a syntax error, or a statement not served)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as err:
        raise engine_error(err, sql) from None
    if len(statements) != 1:
        raise SQLError("0A000", f"{len(statements)} statements: {SUPPORTED}", None)
    kind = statements[0].type
    # Comments before the statement are SQL too (a .sql file's header): the verb comes after them.
    text = _LEADING_COMMENTS.sub("", statements[0].query, count=1)
    if kind == duckdb.StatementType.SELECT:
        return Statement("select")
    if kind == duckdb.StatementType.CREATE and (match := _CTAS.match(text)):
        return Statement("ctas", _unquote(match.group(2)), bool(match.group(1)))
    if kind == duckdb.StatementType.INSERT and (match := _INSERT.match(text)):
        return Statement("insert", _unquote(match.group(1)))
    if kind == duckdb.StatementType.DROP and (match := _DROP.match(text)):
        return Statement("drop", _unquote(match.group(2)), bool(match.group(1)))
    words = text.split()
    verb = " ".join(words[: 2 if words[0].upper() in ("CREATE", "DROP", "INSERT") else 1]).upper()
    raise SQLError("0A000", f"{verb} is not supported: {SUPPORTED}", 1)


class SandboxEngine:
    """One sandbox's DuckDB database; a lock keeps one statement at a time on its connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._con = duckdb.connect(":memory:", config=dict(_CONFIG))
        self._con.execute("SET lock_configuration = true").fetchall()
        self._loaded: set[str] = set()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def run(self, sql: str, statement: Statement) -> Outcome:
        """Run one classified statement; :class:`SQLError` when DuckDB refuses it."""
        with self._lock:
            self._load_seeds(sql)
            try:
                return self._run(sql, statement)
            except duckdb.Error as err:
                raise engine_error(err, sql) from None

    def _run(self, sql: str, statement: Statement) -> Outcome:
        con = self._con
        if statement.kind == "select":
            try:
                count = sum(batch.num_rows for batch in con.sql(sql).to_arrow_reader(50_000))
            except duckdb.Error:
                # The relation API's errors lack the ``LINE n:`` caret; execute's have it.
                con.execute(sql).fetchall()
                raise

            return Outcome(count, read_tables=self._read_tables(sql, None))
        table = statement.table or ""
        if statement.kind == "drop":
            con.execute(sql).fetchall()
            return Outcome(0)
        before = self._count(table) if statement.kind == "insert" else 0
        read = self._read_tables(sql, table) if statement.kind == "insert" else []
        con.execute(sql).fetchall()  # DuckDB wants every result read before the next statement
        if statement.kind == "ctas":
            read = self._read_tables(sql, table)
        rows = self._rows(table, before)
        return Outcome(len(rows), rows, read)

    def has_table(self, table: str) -> bool:
        with self._lock:
            found = self._con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower(?)", [table]
            ).fetchall()
        return bool(found and found[0][0])

    def _count(self, table: str) -> int:
        found = self._con.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchall()
        return int(found[0][0]) if found else 0

    def _rows(self, table: str, start: int) -> list[dict[str, Any]]:
        """The table's rows from ``start`` on, in the order they were written (DuckDB's rowid)."""
        result = self._con.execute(f"SELECT * FROM {_quoted(table)} ORDER BY rowid OFFSET {int(start)}")
        names = [column[0] for column in result.description or []]
        return [
            {name: plain(value) for name, value in zip(names, row, strict=True)} for row in result.fetchall()
        ]

    def _read_tables(self, sql: str, written: str | None) -> list[str]:
        """DuckDB's parse of the tables ``sql`` reads; where it cannot say (it binds an INSERT
        oddly), the tables of this database whose names are words of the SQL."""
        try:
            names = {n.lower() for n in self._con.get_table_names(sql)}
        except duckdb.Error:
            tables = {
                str(row[0]).lower()
                for row in self._con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
            names = {w.lower() for w in _WORD.findall(sql)} & tables
        return sorted(names - {(written or "").lower()})

    def _load_seeds(self, sql: str) -> None:
        """Create the tables of the seed datasets the SQL names (any word that is one), once."""
        wanted = {w.lower() for w in _WORD.findall(sql)} & set(SEED_TABLES) - self._loaded
        for table in sorted(wanted):
            self._load(table, SEED_TABLES[table])
            self._loaded.add(table)

    def _load(self, table: str, dataset: Dataset) -> None:
        source = pa.Table.from_pylist(list(records(dataset, 0, dataset.record_count)))
        name = f"_seed_{uuid.uuid4().hex}"
        self._con.register(name, source)
        try:
            self._con.execute(
                f"CREATE TABLE {table} AS SELECT _id, personID, email, CAST(loyaltyPoints AS BIGINT) AS loyaltyPoints,"
                f' country, strptime("timestamp", \'%Y-%m-%dT%H:%M:%SZ\') AS "timestamp" FROM {name}'
            ).fetchall()
        finally:
            self._con.unregister(name)


def engine_error(err: duckdb.Error, sql: str) -> SQLError:
    """DuckDB's error as a Query Service error: a SQLSTATE-like code, its text, its position."""
    text = str(err)
    found = _LINE.search(text)
    message = text[: found.start()] if found else text
    lines = [line for line in message.split("\n") if line and not _internal_hint(line)]
    return SQLError(_code(err, message), " ".join(lines).strip(), _position(sql, found))


def _code(err: duckdb.Error, message: str) -> str:
    lowered = message.lower()
    if isinstance(err, duckdb.ParserException):
        return "42601"
    if isinstance(err, duckdb.PermissionException):
        return "42501"
    if isinstance(err, duckdb.CatalogException):
        if "already exists" in lowered:
            return "42P07"
        if "function" in lowered:
            return "42883"
        return "42P01"
    if isinstance(err, duckdb.BinderException):
        return "42703" if "column" in lowered else "42000"
    if isinstance(err, duckdb.ConversionException):
        return "22P02"
    if isinstance(err, duckdb.OutOfRangeException):
        return "22003"
    if isinstance(err, duckdb.ConstraintException):
        return "23000"
    return "XX000"


def _internal_hint(line: str) -> bool:
    """DuckDB's "Did you mean" lines that point at its own catalog, which no AEP user has."""
    return line.startswith("Did you mean") and bool(re.search(r'"(pg_|duckdb_|information_schema)', line))


def _position(sql: str, found: re.Match[str] | None) -> int | None:
    """The 1-based character offset DuckDB's ``LINE n:`` caret points at, or None."""
    if found is None:
        return None
    lines = sql.split("\n")
    number = int(found.group(1))
    if not 1 <= number <= len(lines):
        return None
    shown = found.group(2).split("\n")[0]
    column = len(found.group(3)) - len(f"LINE {number}: ")
    line = lines[number - 1]
    if shown.startswith("..."):
        core = shown[3:].rstrip(".")
        at = line.find(core[: max(len(core), 1)])
        column = (at if at >= 0 else 0) + column - 3
    before = sum(len(text) + 1 for text in lines[: number - 1])
    return before + max(0, min(column, len(line))) + 1


def plain(value: Any) -> Any:
    """A DuckDB value as JSON and the dataset exports write it (timestamps as the seeds' ISO form)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
        return text + "Z"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _unquote(identifier: str) -> str:
    return identifier[1:-1] if identifier.startswith('"') else identifier


def _quoted(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'
