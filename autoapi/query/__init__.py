"""Turning a request's parameters into SQL: filters, ordering, shaping (fields, expand), cursors
and pages, counts, aggregates and grouping, and the statements the formats read."""
