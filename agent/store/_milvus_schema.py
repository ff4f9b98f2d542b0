"""Turning a ``CollectionSpec`` into a Milvus schema, checking an existing one, shaping rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.errors import SchemaMismatchError, StoreError
from agent.store._milvus_types import (
    ID_FIELD,
    SPARSE_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    CollectionSpec,
    FieldKind,
    FieldSpec,
)

if TYPE_CHECKING:
    from pymilvus import MilvusClient


def _data_type(kind: FieldKind) -> Any:
    from pymilvus import DataType

    return {
        "str": DataType.VARCHAR,
        "int": DataType.INT64,
        "float": DataType.DOUBLE,
        "bool": DataType.BOOL,
        "str_list": DataType.ARRAY,
        "json": DataType.JSON,
    }[kind]


def build_schema(client: MilvusClient, spec: CollectionSpec, *, bm25: bool) -> tuple[Any, Any]:
    """The pymilvus schema and index params for ``spec`` (with a BM25 function if ``bm25``)."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=spec.description
    )
    schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=spec.id_max_length)
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=spec.dim)
    schema.add_field(
        TEXT_FIELD, DataType.VARCHAR, max_length=spec.text_max_length, enable_analyzer=bm25
    )
    if bm25:
        schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="text_bm25",
                function_type=FunctionType.BM25,
                input_field_names=[TEXT_FIELD],
                output_field_names=[SPARSE_FIELD],
            )
        )
    for f in spec.fields:
        _add_scalar(schema, f)
    index_params = client.prepare_index_params()
    index_params.add_index(
        VECTOR_FIELD,
        index_type="HNSW",
        metric_type="COSINE",
        params={"M": spec.hnsw_m, "efConstruction": spec.hnsw_ef_construction},
    )
    if bm25:
        index_params.add_index(SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return schema, index_params


def _add_scalar(schema: Any, f: FieldSpec) -> None:
    from pymilvus import DataType

    if f.kind == "str":
        schema.add_field(
            f.name, DataType.VARCHAR, max_length=f.max_length, description=f.description
        )
    elif f.kind == "str_list":
        schema.add_field(
            f.name,
            DataType.ARRAY,
            element_type=DataType.VARCHAR,
            max_capacity=f.max_items,
            max_length=f.max_length,
            description=f.description,
        )
    else:
        schema.add_field(f.name, _data_type(f.kind), description=f.description)


def check_schema(spec: CollectionSpec, described: Mapping[str, Any], *, uri: str) -> bool:
    """Raise ``SchemaMismatchError`` unless the existing collection fits ``spec``.

    Returns whether it has the BM25 function (its searches can be hybrid)."""
    from pymilvus import DataType

    fields = {f["name"]: f for f in described.get("fields", [])}
    hybrid = any(
        getattr(fn.get("type"), "name", str(fn.get("type"))) == "BM25"
        and SPARSE_FIELD in fn.get("output_field_names", [])
        for fn in described.get("functions", []) or []
    )
    expected: dict[str, Any] = {
        ID_FIELD: DataType.VARCHAR,
        VECTOR_FIELD: DataType.FLOAT_VECTOR,
        TEXT_FIELD: DataType.VARCHAR,
    }
    if hybrid:
        expected[SPARSE_FIELD] = DataType.SPARSE_FLOAT_VECTOR
    expected.update({f.name: _data_type(f.kind) for f in spec.fields})
    problems: list[str] = []
    for name, dtype in expected.items():
        got = fields.get(name)
        if got is None:
            problems.append(f"field {name!r} is missing")
        elif got.get("type") != dtype:
            problems.append(
                f"field {name!r} is {_type_name(got.get('type'))}, expected {_type_name(dtype)}"
            )
    for name in fields.keys() - expected.keys():
        problems.append(f"unexpected field {name!r}")
    vector = fields.get(VECTOR_FIELD)
    if vector is not None:
        dim = int(vector.get("params", {}).get("dim", -1))
        if dim != spec.dim:
            problems.append(
                f"vector dimension is {dim}, expected {spec.dim} "
                "(was it built with another embedding model?)"
            )
    for f in spec.fields:
        got = fields.get(f.name)
        if (
            f.kind == "str_list"
            and got is not None
            and got.get("element_type") not in (None, DataType.VARCHAR)
        ):
            problems.append(
                f"field {f.name!r} holds {_type_name(got.get('element_type'))}, expected VARCHAR"
            )
    primary = [n for n, f in fields.items() if f.get("is_primary")]
    if primary and primary != [ID_FIELD]:
        problems.append(f"primary key is {primary}, expected ['id']")
    if problems:
        raise SchemaMismatchError(
            f"collection {spec.name!r} at {uri} does not match what this version needs:\n  "
            + "\n  ".join(problems)
            + "\nFix: use another collection name, point at another database, or drop and "
            "re-create it (e.g. `agent docs remove --all` for the documents) and ingest again."
        )
    return hybrid


def _type_name(dtype: Any) -> str:
    return getattr(dtype, "name", str(dtype))


def _clip_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def prepare_row(spec: CollectionSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """Check and complete one row: declared keys only, defaults filled, labels clipped."""
    unknown = row.keys() - {ID_FIELD, VECTOR_FIELD, TEXT_FIELD, *(f.name for f in spec.fields)}
    if unknown:
        raise StoreError(f"collection {spec.name!r}: rows may not have fields {sorted(unknown)}")
    for required in (ID_FIELD, VECTOR_FIELD, TEXT_FIELD):
        if required not in row:
            raise StoreError(f"collection {spec.name!r}: a row lacks {required!r}")
    text = str(row[TEXT_FIELD])
    if len(text.encode("utf-8")) > spec.text_max_length:
        raise StoreError(
            f"collection {spec.name!r}: text of row {row[ID_FIELD]!r} is longer than "
            f"{spec.text_max_length} bytes; chunk it smaller"
        )
    vector = row[VECTOR_FIELD]
    if len(vector) != spec.dim:
        raise StoreError(
            f"collection {spec.name!r}: vector of row {row[ID_FIELD]!r} has {len(vector)} "
            f"dimensions, expected {spec.dim}"
        )
    out: dict[str, Any] = {ID_FIELD: str(row[ID_FIELD]), VECTOR_FIELD: vector, TEXT_FIELD: text}
    for f in spec.fields:
        value = row.get(f.name, f.default())
        if f.kind == "str":
            value = _clip_utf8(str(value), f.max_length)
        elif f.kind == "str_list":
            items = [_clip_utf8(str(v), f.max_length) for v in value]
            if len(items) > f.max_items:
                raise StoreError(f"field {f.name!r} takes at most {f.max_items} items")
            value = items
        out[f.name] = value
    return out
