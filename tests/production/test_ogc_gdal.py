"""GDAL's own OGC API Features client (the OAPIF driver of ``ogrinfo`` and ``ogr2ogr``, from
Debian's gdal-bin, which ``make test`` installs) against the portal under gunicorn: it lists the
collections, and copies a collection page by page (``next`` links) into a GeoPackage holding
exactly the relation's rows."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess

import pytest

from tests.production.support import portal_server

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(
        shutil.which("ogrinfo") is None or shutil.which("ogr2ogr") is None,
        reason="GDAL's ogrinfo/ogr2ogr are not installed (apt-get install gdal-bin; make test does)",
    ),
]

GDAL_ENV = {"GDAL_HTTP_TIMEOUT": "30", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": "", "GDAL_HTTP_UNSAFESSL": "NO"}


def gdal(*args: str) -> str:
    import os

    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, **GDAL_ENV})
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The portal under gunicorn with its own configuration (its request log counts GDAL's pages)."""
    with portal_server(tmp_path_factory.mktemp("ogc_gdal"), GUNICORN_WORKERS="1") as running:
        yield running


def item_requests(server, collection: str) -> int:
    return server.log().count(f'"path": "/ogc/collections/{collection}/items"')


def copy_collection(tmp_path, base: str, collection: str, page_size: int):
    """(columns, rows as dicts, ``ogrinfo -al`` of the copy: geometries as WKT)."""
    out = tmp_path / f"{collection}.gpkg"
    gdal(
        "ogr2ogr",
        "-f",
        "GPKG",
        str(out),
        f"OAPIF:{base}/ogc",
        collection,
        "-oo",
        f"PAGE_SIZE={page_size}",
        "-nln",
        "copied",
    )
    connection = sqlite3.connect(out)
    try:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(copied)")]
        rows = connection.execute("SELECT * FROM copied").fetchall()
    finally:
        connection.close()
    return columns, [dict(zip(columns, row)) for row in rows], gdal("ogrinfo", "-ro", "-al", str(out))


def test_ogrinfo_lists_the_collections(server):
    listing = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{server.base_url}/ogc")
    assert "public.places_latlon" in listing
    assert "public.agg_sales" not in listing  # no location: not a collection


def test_ogr2ogr_copies_a_collection_page_by_page(server, tmp_path, reader_conn):
    before = item_requests(server, "public.places_latlon")
    columns, rows, listing = copy_collection(tmp_path, server.base_url, "public.places_latlon", page_size=2)
    assert item_requests(server, "public.places_latlon") - before >= 3  # GDAL followed the next links
    with reader_conn.cursor() as cursor:
        cursor.execute("SELECT id, name, latitude, longitude FROM public.places_latlon ORDER BY id")
        expected = cursor.fetchall()
    assert len(rows) == len(expected) == 5  # three pages of two
    copied = sorted((r["id"], r["name"], r["latitude"], r["longitude"]) for r in rows)
    assert copied == expected
    assert "POINT (151.215297 -33.856784)" in listing and "POINT (0 0)" in listing


def test_ogr2ogr_copies_a_postgis_collection(requires_postgis, server, tmp_path, reader_conn):
    columns, rows, listing = copy_collection(tmp_path, server.base_url, "public.geo_points", page_size=2)
    with reader_conn.cursor() as cursor:
        cursor.execute("SELECT id, name FROM public.geo_points ORDER BY id")
        expected = cursor.fetchall()
    assert sorted((r["id"], r["name"]) for r in rows) == expected
    assert "POINT (-73.985664 40.74844)" in listing and "POINT (151.215297 -33.856784)" in listing
