"""How rows are written: one renderer per format (CSV, JSON, NDJSON, GeoJSON, Parquet, XLSX,
vector tiles), the row sources that feed them from PostgreSQL's COPY, and download file names."""
