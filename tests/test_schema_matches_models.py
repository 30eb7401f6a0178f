"""The models and the migrations describe one schema, on each backend.

The session's database, built by the migrations, is compared with the models' metadata
(`bookd.tables.metadata`, the `target_metadata` of the migrations) by Alembic's autogenerate, the
comparison behind `alembic check`. Each difference is named by what a migration would have to do to
the migrated database for it to match the models: `add_column bookings.bar INTEGER NULL` is a
column a model has and no migration creates. Write that migration, or change the model back.

Compared by autogenerate: tables; columns, their types (`compare_type`), nullability and server
defaults (`compare_server_default`); foreign keys (columns, target, ON DELETE and ON UPDATE);
unique constraints; indexes (columns or expressions, uniqueness); comments (PostgreSQL only).

Compared here besides, as autogenerate does not: each table's primary key columns, in order; the
WHERE clause of partial indexes (on SQLite as written, on PostgreSQL as the server normalizes it:
the model's index is built on an empty temporary copy of its table, in a transaction rolled back);
CHECK constraints by name (not their expressions); SQLite's AUTOINCREMENT (`sqlite_autoincrement`).

Not compared: Python-side defaults (`default=`, which are not part of the schema), the expressions
of CHECK constraints, and index options other than the above (operator classes, INCLUDE, storage
parameters).
"""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Column, Index, Table, inspect, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import CreateIndex

from bookd.kit.db import READ_ONLY, create_engine
from bookd.tables import metadata

# Differences the comparison reports although the models and the migrations agree, as
# (backend: "sqlite", "postgresql" or "*"; the start of the difference as reported; why).
# Empty: on both backends the comparison is exact today. An entry that matches nothing fails the
# test, so that the list never outlives its reasons.
IGNORED: tuple[tuple[str, str, str], ...] = ()


async def test_migrations_build_the_schema_of_the_models(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=0)
    try:
        async with engine.connect() as conn:
            # A plain BEGIN on SQLite: a comparison takes no write lock.
            conn = await conn.execution_options(**{READ_ONLY: True})
            differences = await conn.run_sync(_differences)
            backend = conn.dialect.name
    finally:
        await engine.dispose()

    ignores = [entry for entry in IGNORED if entry[0] in ("*", backend)]
    reported = [d for d in differences if not any(d.startswith(e[1]) for e in ignores)]
    stale = [e for e in ignores if not any(d.startswith(e[1]) for d in differences)]
    assert not reported and not stale, _message(backend, reported, stale)


def _message(backend: str, reported: list[str], stale: list[tuple[str, str, str]]) -> str:
    lines = []
    if reported:
        lines += [
            f"The models and the migrations describe different schemas on {backend}. What a "
            "migration would have to do to the migrated database to match the models (write that "
            "migration, or change the model back):",
            *(f"  {d}" for d in reported),
        ]
    if stale:
        lines += [
            f"Entries of IGNORED in {__name__} that match no difference on {backend} (remove them):",
            *(f"  {e[0]}: {e[1]} ({e[2]})" for e in stale),
        ]
    return "\n".join(lines)


def _differences(conn: Connection) -> list[str]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    found = [_describe(diff, conn.dialect) for diff in compare_metadata(context, metadata)]
    try:
        return found + _beyond_autogenerate(conn)
    finally:
        conn.rollback()  # the temporary tables of `_postgresql_predicates`


# --- What autogenerate reports, in words ---------------------------------------------------------


def _describe(diff: Any, dialect: Dialect) -> str:
    if isinstance(diff, list):  # the changes of one column: (op, schema, table, column, ...)
        return "; ".join(_describe_column_change(change, dialect) for change in diff)
    op, *args = diff
    if op in ("add_table", "remove_table"):
        table: Table = args[0]
        return f"{op} {table.name} ({', '.join(_column(c, dialect) for c in table.columns)})"
    if op in ("add_column", "remove_column"):
        _schema, table_name, column = args
        return f"{op} {table_name}.{_column(column, dialect)}"
    if op in ("add_index", "remove_index"):
        return f"{op} {_index(args[0], dialect)}"
    if op in ("add_constraint", "remove_constraint"):
        constraint = args[0]
        columns = ", ".join(c.name for c in constraint.columns)
        return f"{op} {constraint.name} unique on {constraint.table.name}({columns})"
    if op in ("add_fk", "remove_fk"):
        fk = args[0]
        columns = ", ".join(c.name for c in fk.columns)
        target = ", ".join(e.target_fullname for e in fk.elements)
        actions = "".join(
            f" {name} {value}"
            for name, value in (("ondelete", fk.ondelete), ("onupdate", fk.onupdate))
            if value
        )
        return f"{op} {fk.name} on {fk.table.name}({columns}) -> {target}{actions}"
    if op in ("add_table_comment", "remove_table_comment"):
        return f"{op} {args[0].name}"
    return f"{op} {args!r}"


def _describe_column_change(change: tuple[Any, ...], dialect: Dialect) -> str:
    op, _schema, table_name, column_name, _existing, migrated, model = change
    if op == "modify_type":
        migrated, model = _type(migrated, dialect), _type(model, dialect)
    elif op == "modify_default":
        migrated, model = _default(migrated, dialect), _default(model, dialect)
    return f"{op} {table_name}.{column_name}: migrations {migrated}, models {model}"


def _column(column: Column[Any], dialect: Dialect) -> str:
    described = f"{column.name} {_type(column.type, dialect)}"
    described += " NULL" if column.nullable else " NOT NULL"
    if column.server_default is not None:
        described += f" DEFAULT {_default(column.server_default, dialect)}"
    return described


def _index(index: Index, dialect: Dialect) -> str:
    assert index.table is not None
    parts = ", ".join(
        c.name if isinstance(c, Column) else _sql(c, dialect) for c in index.expressions
    )
    described = f"{index.name} on {index.table.name}({parts})"
    if index.unique:
        described += " unique"
    where = _where(index, dialect)
    return described + (f" where {where}" if where else "")


def _type(type_: Any, dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:
        return repr(type_)


def _default(default: Any, dialect: Dialect) -> str:
    if default is None or default is False:
        return "none"
    return _sql(getattr(default, "arg", default), dialect)


def _sql(expression: Any, dialect: Dialect) -> str:
    if isinstance(expression, str):
        return expression
    return str(
        expression.compile(
            dialect=dialect, compile_kwargs={"literal_binds": True, "include_table": False}
        )
    )


# --- What autogenerate does not compare ----------------------------------------------------------


def _beyond_autogenerate(conn: Connection) -> list[str]:
    dialect = conn.dialect
    inspector = inspect(conn)
    tables = [t for t in metadata.sorted_tables if inspector.has_table(t.name)]
    found = []

    for table in tables:
        migrated_key = inspector.get_pk_constraint(table.name)["constrained_columns"]
        model_key = [c.name for c in table.primary_key.columns]
        if migrated_key != model_key:
            found.append(
                f"modify_primary_key {table.name}: migrations ({', '.join(migrated_key)}), "
                f"models ({', '.join(model_key)})"
            )

        migrated_checks = {c["name"] for c in inspector.get_check_constraints(table.name)}
        model_checks = {
            str(c.name) for c in table.constraints if isinstance(c, CheckConstraint) and c.name
        }
        found += [
            f"add_check_constraint {n} on {table.name}"
            for n in sorted(model_checks - migrated_checks)
        ]
        found += [
            f"remove_check_constraint {n} on {table.name}"
            for n in sorted(migrated_checks - model_checks)
        ]

    # Partial indexes: the WHERE clause of each index both sides have, where either has one.
    migrated_indexes = [ix for t in tables for ix in inspector.get_indexes(t.name)]
    migrated_where = {
        ix["name"]: _sql(where, dialect)
        for ix in migrated_indexes
        if (where := ix.get("dialect_options", {}).get(f"{dialect.name}_where")) is not None
    }
    indexes = [
        ix
        for table in tables
        for ix in table.indexes
        if ix.name in {m["name"] for m in migrated_indexes}
        and (ix.name in migrated_where or _where(ix, dialect) is not None)
    ]
    if dialect.name == "postgresql":
        model_where = _postgresql_predicates(conn, indexes)
    else:
        model_where = {str(ix.name): _where(ix, dialect) for ix in indexes}
    for ix in indexes:
        name = str(ix.name)
        migrated, model = migrated_where.get(name), model_where.get(name)
        if _squeezed(migrated) != _squeezed(model):
            assert ix.table is not None
            found.append(
                f"modify_index_where {name} on {ix.table.name}: "
                f"migrations {migrated or 'none (all rows)'}, models {model or 'none (all rows)'}"
            )

    if dialect.name == "sqlite":
        created = dict(
            conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all()
        )
        for table in tables:
            migrated_auto = "AUTOINCREMENT" in created[table.name].upper()
            model_auto = bool(table.dialect_options["sqlite"]["autoincrement"])
            if migrated_auto != model_auto:
                found.append(
                    f"modify_sqlite_autoincrement {table.name}: "
                    f"migrations {migrated_auto}, models {model_auto}"
                )
    return found


def _where(index: Index, dialect: Dialect) -> str | None:
    where = index.dialect_options[dialect.name].get("where")
    return None if where is None else _sql(where, dialect)


def _postgresql_predicates(conn: Connection, indexes: list[Index]) -> dict[str, str | None]:
    """The WHERE clauses of `indexes` as PostgreSQL writes them back, from the same indexes built on
    empty temporary copies of their tables (which shadow the tables by name). The caller rolls back."""
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    for table in {ix.table.name for ix in indexes if ix.table is not None}:
        conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{table}" (LIKE "{schema}"."{table}")')
    for index in indexes:
        conn.execute(CreateIndex(index))
    rows = conn.execute(
        text(
            "SELECT c.relname, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = pg_my_temp_schema()"
        )
    ).all()
    return {name: where for name, where in rows}


def _squeezed(sql: str | None) -> str | None:
    return None if sql is None else re.sub(r"\s+", " ", sql).strip()
