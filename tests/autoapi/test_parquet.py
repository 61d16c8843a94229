"""Parquet downloads read back by pyarrow and by DuckDB, every value of every type of the fixture
database compared with PostgreSQL's (docs/downloads.md, "Parquet"); GeoParquet metadata, GeoPandas's reading
of it against PostGIS's geometries, and GDAL's where gdal-bin has the Parquet driver (Debian 12's
GDAL 3.6 has not)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.autoapi.file_values import expected_rows, flattened, parquet_expectation, same
from tests.autoapi.helpers import body, published_relations, readable, url

PARQUET = "application/vnd.apache.parquet"


def parquet_table(client, relation, query: str) -> pa.Table:
    response = client.get(url(relation, f"format=parquet&{query}"))
    assert response.status_code == 200, body(response)[:500]
    assert response["Content-Type"] == PARQUET
    return pq.read_table(io.BytesIO(body(response)))


def plain(array: pa.ChunkedArray) -> list:
    """Values as the tests compare them: dates, timestamps and times as integers (Python's
    datetime holds neither BC dates nor year 10000), uuid as text, JSON as its text."""
    kind = array.type
    if kind in (pa.uuid(), pa.json_()):
        storage = pa.chunked_array([c.storage for c in array.chunks], kind.storage_type).to_pylist()
        return [None if v is None else str(uuid.UUID(bytes=v)) if kind == pa.uuid() else v for v in storage]
    if pa.types.is_date32(kind):
        return array.cast(pa.int32()).to_pylist()
    if pa.types.is_timestamp(kind) or pa.types.is_time64(kind):
        return array.cast(pa.int64()).to_pylist()
    return array.to_pylist()


def columns_of(table: pa.Table) -> list[list]:
    return [plain(table.column(i)) for i in range(table.num_columns)]


def compare(relation, ours_by_column: list[list], theirs_rows: list[list], where: str):
    ours_rows = [list(row) for row in zip(*ours_by_column)] if ours_by_column else []
    theirs_rows = [[flattened(v) if c.is_array else v for c, v in zip(relation.columns, row)] for row in theirs_rows]
    # The same rows in any order (the order of every format is test_pagination's concern).
    ours_rows, theirs_rows = sorted(ours_rows, key=repr), sorted(theirs_rows, key=repr)
    assert len(ours_rows) == len(theirs_rows), (relation.name, where)
    for ours, theirs in zip(ours_rows, theirs_rows):
        for column, a, b in zip(relation.columns, ours, theirs):
            assert same(a, b), (relation.name, column.name, where, a, b)


def duckdb_columns(data: bytes, table: pa.Table) -> list[list]:
    """The same file through DuckDB, temporal values as integers again."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".parquet") as fh:
        fh.write(data)
        fh.flush()
        described = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{fh.name}')").fetchall()
        parts = []
        for i, (_, kind, *_rest) in enumerate(described):
            parts.append(_duck_plain(kind, f"columns_{i}"))
        names = ", ".join(f'"{n.replace(chr(34), chr(34) * 2)}" AS columns_{i}' for i, (n, *_r) in enumerate(described))
        query = f"SELECT {', '.join(parts)} FROM (SELECT {names} FROM read_parquet('{fh.name}'))"
        rows = con.execute(query).fetchall()
    return [list(col) for col in zip(*rows)] if rows else [[] for _ in range(table.num_columns)]


def _duck_plain(kind: str, name: str) -> str:
    if kind == "DATE":
        return f"date_diff('day', DATE '1970-01-01', {name})"
    if kind.startswith("TIMESTAMP"):
        return f"epoch_us({name})"
    if kind == "TIME":
        return f"(hour({name}) * 3600000000 + minute({name}) * 60000000 + microsecond({name}))::BIGINT"
    if kind in ("UUID", "JSON"):
        return f"{name}::VARCHAR"
    return name


def test_every_value_of_every_relation_reads_back_exactly(client, superuser_conn):
    checked = 0
    for relation in published_relations():
        if not readable(relation) or not relation.columns:
            continue
        response = client.get(url(relation, "format=parquet&limit=all"))
        assert response.status_code == 200, (relation.name, body(response)[:300])
        data = body(response)
        table = pq.read_table(io.BytesIO(data))
        assert table.column_names == [c.name for c in relation.columns]
        theirs = expected_rows(superuser_conn, relation, relation.columns, parquet_expectation)
        compare(relation, columns_of(table), theirs, "pyarrow")
        compare(relation, duckdb_columns(data, table), theirs, "duckdb")
        checked += 1
    assert checked > 50


def test_types_are_the_columns_types(client):
    by_name = {r.name: r for r in published_relations()}
    schema = parquet_table(client, by_name["types_numeric"], "limit=1").schema
    assert schema.field("i8").type == pa.int64() and schema.field("i2").type == pa.int16()
    assert schema.field("n_money").type == pa.decimal128(12, 2)
    assert schema.field("n_free").type == pa.string() and schema.field("n_big").type == pa.string()
    assert schema.field("r4").type == pa.float32() and schema.field("f8").type == pa.float64()
    schema = parquet_table(client, by_name["types_datetime"], "limit=1").schema
    assert schema.field("tstz").type == pa.timestamp("us", tz="UTC") and schema.field("ts").type == pa.timestamp("us")
    assert schema.field("d").type == pa.date32() and schema.field("t").type == pa.time64("us")
    assert schema.field("iv").type == pa.string() and schema.field("ttz").type == pa.string()
    schema = parquet_table(client, by_name["types_misc"], "limit=1").schema
    assert schema.field("u").type == pa.uuid() and schema.field("bin").type == pa.binary()
    assert schema.field("flag").type == pa.bool_()
    assert parquet_table(client, by_name["types_json"], "limit=1").schema.field("jb").type == pa.json_()
    schema = parquet_table(client, by_name["types_arrays"], "limit=1").schema
    assert schema.field("ia").type == pa.list_(pa.int32()) and schema.field("ta").type == pa.list_(pa.string())


def test_pages_filters_fields_and_ordering(client):
    relation = next(r for r in published_relations() if r.name == "big_2500")
    page = client.get(url(relation, "format=parquet&limit=7&offset=100&fields=label,id"))
    assert page["Content-Disposition"].startswith("inline") and ".parquet" in page["Content-Disposition"]
    assert 'rel="next"' in page["Link"]
    table = pq.read_table(io.BytesIO(body(page)))
    assert table.column_names == ["label", "id"] and table.column("id").to_pylist() == list(range(101, 108))
    table = parquet_table(client, relation, "limit=all&id__lte=5&ordering=-id&fields=id")
    assert table.column("id").to_pylist() == [5, 4, 3, 2, 1]
    streamed = client.get(url(relation, "format=parquet&limit=all"))
    assert streamed.streaming and streamed["Content-Disposition"].startswith("attachment")
    assert pq.read_table(io.BytesIO(body(streamed))).num_rows == 2500
    one = client.get(url(relation).replace("?", "") + "42/?format=parquet")
    assert one.status_code == 200 and pq.read_table(io.BytesIO(one.content)).column("id").to_pylist() == [42]
    assert client.get(url(relation) + "999999/?format=parquet").status_code == 404
    empty = parquet_table(client, relation, "limit=all&id__gt=999999")
    assert empty.num_rows == 0 and empty.column_names == [c.name for c in relation.columns]


def test_row_groups_are_written_as_rows_come(client, monkeypatch):
    from autoapi.formats import exports, parquet

    monkeypatch.setattr(parquet, "ROW_GROUP_ROWS", 1000)
    monkeypatch.setattr(exports, "COPY_BATCH_BYTES", 2048)  # COPY's chunks of a few hundred rows
    monkeypatch.setattr(parquet, "PARSE_BYTES", 2048)
    relation = next(r for r in published_relations() if r.name == "big_2500")
    response = client.get(url(relation, "format=parquet&limit=all&fields=id"))
    chunks = list(response.streaming_content)
    assert len(chunks) >= 3
    metadata = pq.ParquetFile(io.BytesIO(b"".join(chunks))).metadata
    assert metadata.num_rows == 2500 and metadata.num_row_groups >= 3


def test_group_by_aggregates(client, superuser_conn):
    relation = next(r for r in published_relations() if r.name == "big_2500")
    query = "limit=all&group_by=id__gt&aggregate=count"
    assert client.get(url(relation, f"format=parquet&{query}")).status_code == 400  # as for every format
    numbers = next(r for r in published_relations() if r.name == "types_numeric")
    table = parquet_table(client, numbers, "group_by=i2&aggregate=count,sum:i4,avg:i4,max:n_money&limit=all")
    assert table.schema.field("count").type == pa.int64() and table.schema.field("sum_i4").type == pa.int64()
    assert table.schema.field("max_n_money").type == pa.decimal128(12, 2)
    rows = superuser_conn.execute(
        "SELECT i2, count(*), sum(i4), avg(i4)::text, max(n_money) FROM public.types_numeric "
        "GROUP BY i2 ORDER BY i2 NULLS LAST"
    )
    assert [list(r.values()) for r in table.to_pylist()] == [list(r) for r in rows]


def test_exotic_names_survive(client):
    for relation in published_relations():
        if relation.schema == "public" and relation.name.startswith("types_"):
            continue
        if readable(relation) and relation.columns and any(not c.name.isidentifier() for c in relation.columns):
            assert parquet_table(client, relation, "limit=5").column_names == [c.name for c in relation.columns]


@pytest.mark.spatial
def test_geoparquet_metadata(client):
    by_name = {r.name: r for r in published_relations()}
    checked = 0
    for relation in published_relations():
        if not relation.geometry_columns or not readable(relation):
            continue
        table = parquet_table(client, relation, "limit=all")
        geo = json.loads(table.schema.metadata[b"geo"])
        assert geo["version"] == "1.1.0" and geo["primary_column"] == relation.geometry_columns[0].name
        for column in relation.geometry_columns:
            entry = geo["columns"][column.name]
            assert entry["encoding"] == "WKB" and table.schema.field(column.name).type == pa.binary()
            if column.srid and column.srid != 4326:
                assert entry["crs"]["id"] == {"authority": "EPSG", "code": column.srid}
            else:
                assert "crs" not in entry  # OGC:CRS84: longitude, latitude
            if column.is_geography:
                assert entry["edges"] == "spherical"
        checked += 1
    assert checked >= 4
    assert by_name["geom_mixed"].geometry_columns[0].geometry_type == "Geometry"


@pytest.mark.spatial
@pytest.mark.filterwarnings("ignore:The geo metadata indicate that column:UserWarning")  # spherical edges: planar to it
def test_geopandas_reads_the_geometries_postgis_has(client, superuser_conn):
    """GeoPandas (its own reading of the GeoParquet metadata, shapely's of the WKB) gives every
    geometry PostGIS holds, in the column's CRS (WGS 84 for a column without a fixed SRID)."""
    geopandas = pytest.importorskip("geopandas")
    shapely = pytest.importorskip("shapely")
    checked = 0
    for relation in published_relations():
        if (
            not relation.geometry_columns
            or not readable(relation)
            or not relation.key
            or len(relation.key.columns) != 1
        ):
            continue
        column, key = relation.geometry_columns[0], relation.key.columns[0]
        frame = geopandas.read_parquet(io.BytesIO(body(client.get(url(relation, "format=parquet&limit=all")))))
        assert frame.geometry.name == column.name
        srid = column.srid if column.srid and not column.is_geography else 4326
        if srid == 4326:  # the GeoParquet default, left out of the metadata: OGC:CRS84
            assert frame.crs.to_authority() == ("OGC", "CRS84"), relation.name
        else:
            assert frame.crs.to_epsg() == srid, relation.name
        geom = quote(column.name) + ("::extensions.geometry" if column.is_geography else "")
        if not column.srid:  # mixed SRIDs: written in WGS 84, as GeoJSON is
            geom = f"extensions.ST_Transform(extensions.ST_SetSRID({geom}, coalesce(nullif(extensions.ST_SRID({geom}), 0), 4326)), 4326)"
        rows = superuser_conn.execute(
            f"SELECT {quote(key)}, extensions.ST_AsText({geom}) FROM {quote(relation.schema)}.{quote(relation.name)}"
        )
        theirs = {k: None if w is None else shapely.from_wkt(w) for k, w in rows}
        ours = dict(zip(frame[key], frame.geometry))
        assert set(ours) == set(theirs), relation.name
        for k, geometry in theirs.items():
            mine = ours[k]
            if geometry is None:
                assert mine is None, (relation.name, k)
            else:
                assert mine.equals_exact(geometry, 1e-9) or (mine.is_empty and geometry.is_empty), (relation.name, k)
        checked += 1
    assert checked >= 4


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ogr_reads_parquet() -> bool:
    if not shutil.which("ogrinfo"):
        return False
    formats = subprocess.run(["ogrinfo", "--formats"], capture_output=True, text=True).stdout
    return "Parquet" in formats


@pytest.mark.spatial
@pytest.mark.skipif(not _ogr_reads_parquet(), reason="needs gdal-bin with the (Geo)Parquet driver")
def test_gdal_reads_geoparquet(client, tmp_path):
    relation = next(r for r in published_relations() if r.geometry_columns and r.geometry_columns[0].srid == 2263)
    path = tmp_path / "layer.parquet"
    path.write_bytes(body(client.get(url(relation, "format=parquet&limit=all"))))
    info = subprocess.run(["ogrinfo", "-so", "-al", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Geometry: Polygon" in info and "2263" in info
    rows = pq.read_metadata(path).num_rows
    assert rows and f"Feature Count: {rows}" in info
