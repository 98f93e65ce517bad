"""Runs the SQL of docs/findings.md with DuckDB over audit reports, as Athena would over the bucket.

Reads a job on stdin, {"ddl": "<the CREATE EXTERNAL TABLE>", "root": "<dir>", "queries": ["<sql>", ...]},
where <dir> holds reports laid out as the audit stores them (<prefix>year=YYYY/month=MM/day=DD/<run>.json).
The table gets exactly the DDL's columns and partitions (Hive types turned into DuckDB's), and JSON keys are
matched case-insensitively, as the OpenX JSON SerDe does. Prints {"results": [{"columns": [...], "rows":
[[...], ...]}, ...]} with every value as text (NULL as null). Run by tests/docs.rs with the venv of
requirements-docs.txt.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile

import duckdb

sys.dont_write_bytecode = True

HIVE_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "boolean": "BOOLEAN", "double": "DOUBLE"}


def tokens(text: str) -> list[str]:
    return re.findall(r"`[^`]+`|<|>|,|:|[A-Za-z_][A-Za-z0-9_]*", text)


def parse_type(t: list[str], i: int) -> tuple[str, int]:
    name = t[i].lower()
    i += 1
    if name == "array":
        inner, i = parse_type(t, expect(t, i, "<"))
        return inner + "[]", expect(t, i, ">")
    if name == "map":
        key, i = parse_type(t, expect(t, i, "<"))
        value, i = parse_type(t, expect(t, i, ","))
        return f"MAP({key}, {value})", expect(t, i, ">")
    if name == "struct":
        i = expect(t, i, "<")
        fields = []
        while True:
            field = t[i].strip("`")
            kind, i = parse_type(t, expect(t, i + 1, ":"))
            fields.append(f'"{field}" {kind}')
            if t[i] == ">":
                return "STRUCT(" + ", ".join(fields) + ")", i + 1
            i = expect(t, i, ",")
    if name not in HIVE_TYPES:
        raise SystemExit(f"findings_sql: unknown Hive type {name!r}")
    return HIVE_TYPES[name], i


def expect(t: list[str], i: int, token: str) -> int:
    if i >= len(t) or t[i] != token:
        raise SystemExit(f"findings_sql: expected {token!r} in the DDL at {' '.join(t[i:i + 5])!r}")
    return i + 1


def schema(ddl: str) -> tuple[str, dict[str, str], list[str]]:
    """The table's name, its columns (DuckDB types) and its partition columns."""
    upper = ddl.upper()
    name = re.search(r"CREATE\s+EXTERNAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?", ddl, re.I).group(1)
    body = ddl[ddl.index("(") + 1 : upper.index("PARTITIONED BY")]
    body = body[: body.rindex(")")]
    t = tokens(body)
    columns, i = {}, 0
    while i < len(t):
        column = t[i].strip("`").lower()
        columns[column], i = parse_type(t, i + 1)
        if i < len(t):
            i = expect(t, i, ",")
    partitioned = ddl[upper.index("PARTITIONED BY") :]
    partitioned = partitioned[partitioned.index("(") + 1 : partitioned.index(")")]
    partitions = [p.split()[0].strip("`").lower() for p in partitioned.split(",")]
    return name, columns, partitions


def lower_keys(value):
    if isinstance(value, dict):
        return {k.lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main() -> int:
    job = json.load(sys.stdin)
    name, columns, partitions = schema(job["ddl"])
    with tempfile.TemporaryDirectory() as tmp:
        # The SerDe's view of each report: one line, keys lower-cased.
        found = 0
        for folder, _, files in os.walk(job["root"]):
            for file in files:
                if not file.endswith(".json"):
                    continue
                relative = os.path.relpath(os.path.join(folder, file), job["root"])
                os.makedirs(os.path.dirname(os.path.join(tmp, relative)), exist_ok=True)
                with open(os.path.join(folder, file), encoding="utf-8") as src:
                    report = lower_keys(json.load(src))
                with open(os.path.join(tmp, relative), "w", encoding="utf-8") as dst:
                    json.dump(report, dst)
                found += 1
        if not found:
            raise SystemExit(f"findings_sql: no report under {job['root']}")
        db = duckdb.connect()
        column_spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in columns.items()) + "}"
        hive_types = "{" + ", ".join(f"'{p}': 'VARCHAR'" for p in partitions) + "}"
        pattern = os.path.join(tmp, "**", "*.json").replace("'", "''")
        db.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_json('{pattern}', columns = {column_spec}, "
            f"format = 'newline_delimited', hive_partitioning = true, hive_types = {hive_types})"
        )
        results = []
        for query in job["queries"]:
            cursor = db.execute(query)
            results.append({
                "columns": [d[0] for d in cursor.description],
                "rows": [[text(v) for v in row] for row in cursor.fetchall()],
            })
    json.dump({"results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
