"""What the database holds: the frozen snapshot of relations and columns, how it is read from the
system catalogs, names and their URL segments, the type table (PostgreSQL type -> model field,
filter, lookups) and the Django models built from it."""
