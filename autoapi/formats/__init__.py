"""How rows are written: each format's record (``records.py``), one renderer per format (CSV, JSON,
NDJSON, GeoJSON, Parquet, XLSX, vector tiles), the row sources that feed them from PostgreSQL's COPY,
and download file names."""
