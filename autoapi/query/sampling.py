"""A request's rows read from a sample of the relation: ``TABLESAMPLE SYSTEM (p) REPEATABLE (seed)``.

The catalog's facets estimate counts from a sample when counting every row runs out of time
(``catalog/facet_estimates.py``). The sample replaces the relation in the ``FROM`` clause of the
request's own queryset, so the request's filters, ``?filter=``, grouping and ordering, the
read-only role and row security all apply to the sampled rows as they do to every row: PostgreSQL
samples the relation's pages first, then keeps the rows its policies let the role see.

``SYSTEM`` reads about ``p`` percent of the relation's pages (the cost grows with the sample, not
with the relation); ``REPEATABLE`` with a fixed seed picks the same pages each time while the
relation is unchanged, so a page shows the same estimates on every load. PostgreSQL samples
tables, partitioned tables and materialized views, never views (nor foreign tables whose server
cannot): ``can_sample`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models.sql.datastructures import BaseTable

SAMPLED_KINDS = ("table", "partitioned table", "materialized view")
SEED = 23  # any constant: the same pages on every load


@dataclass(frozen=True)
class TableSample:
    percent: float  # of the relation's pages, 0 < percent <= 100

    def __post_init__(self):
        if not 0 < self.percent <= 100:
            raise ValueError(f"a sample is more than 0 and at most 100 percent, not {self.percent}")

    @property
    def scale(self) -> float:
        """What a count over the sample is multiplied by to estimate the count over every row."""
        return 100 / self.percent


def can_sample(relation) -> bool:
    return relation.kind in SAMPLED_KINDS


class _SampledTable(BaseTable):
    """The relation in ``FROM``, followed by its ``TABLESAMPLE`` clause (after the alias, where
    PostgreSQL's grammar puts it). The percentage and seed are numbers, passed as parameters."""

    def __init__(self, table_name, alias, sample: TableSample):
        super().__init__(table_name, alias)
        self.sample = sample

    def as_sql(self, compiler, connection):
        sql, params = super().as_sql(compiler, connection)
        return f"{sql} TABLESAMPLE SYSTEM (%s) REPEATABLE (%s)", [*params, float(self.sample.percent), SEED]

    def relabeled_clone(self, change_map):
        return self.__class__(self.table_name, change_map.get(self.table_alias, self.table_alias), self.sample)

    @property
    def identity(self):
        return self.__class__, self.table_name, self.table_alias, self.sample


def sampled(queryset, sample: TableSample):
    """``queryset`` (unfiltered: filters are added after) reading its relation through ``sample``."""
    queryset = queryset.all()  # a clone: its alias map is a copy, the original keeps every row
    query = queryset.query
    alias = query.get_initial_alias()
    table = query.alias_map[alias]
    query.alias_map[alias] = _SampledTable(table.table_name, table.table_alias, sample)
    return queryset
