"""Model fields for PostgreSQL types that Django has no field for.

The portal never reads values through these fields (PostgreSQL renders JSON and CSV itself, see
``queries.py``); they exist so that the ORM can build WHERE and ORDER BY clauses on any column.
"""

from django.db import models
from django.db.models import lookups

from autoapi.db.sql import Literal, compose, identifier


class PassThroughField(models.Field):
    """Any type whose values PostgreSQL parses from a quoted literal (money, inet, interval, ...).

    Filter values travel as text; PostgreSQL casts the untyped literal to the column's type and
    rejects what does not parse, which the API turns into a 400 naming the parameter.
    """

    def get_internal_type(self):
        # "TextField" makes Django cast to ::text for contains/startswith lookups.
        return "TextField"

    def db_type(self, connection):
        return None  # unmanaged: never created

    def get_prep_value(self, value):
        if value is None or isinstance(value, str):
            return value
        return str(value)


class JSONDocumentField(PassThroughField):
    """json and jsonb: ``has_key`` and ``contains`` (jsonb containment; json is cast to jsonb)."""


class ArrayValuesField(PassThroughField):
    """Arrays of any element type: ``contains`` (``@>``) and ``overlap`` (``&&``).

    The value is a PostgreSQL array literal sent untyped, so PostgreSQL reads it as the column's
    own array type.
    """


class TextSearchField(PassThroughField):
    """tsvector: ``search`` with ``websearch_to_tsquery`` (what people type into a search box)."""


class GeometryField(PassThroughField):
    """PostGIS geometry and geography; ``bbox`` intersects a WGS 84 envelope, in the column's SRID."""

    def __init__(self, *args, srid=None, geography=False, postgis='"public"', **kwargs):
        self.srid = srid
        self.geography = geography
        self.postgis = postgis  # the quoted schema PostGIS lives in (typemap.postgis_schema)
        super().__init__(*args, **kwargs)


class CaseInsensitiveTextField(models.TextField):
    """citext, from an extension that may live outside the search_path (Supabase: ``extensions``).

    ``=``, ``<`` and friends must be citext's own operators, which compare case-insensitively
    and agree with ORDER BY (citext's default sort order): unqualified, PostgreSQL would not see
    them and would compare as text, so filters and keyset cursors would disagree with the sort.
    Each comparison names the operator with its schema: ``OPERATOR("extensions".=)``.
    """

    def __init__(self, *args, type_schema="public", **kwargs):
        self.type_schema = type_schema
        super().__init__(*args, **kwargs)

    def db_type(self, connection):
        return None  # unmanaged: never created


def qualified_comparison(name: str, operator: str) -> type[models.Lookup]:
    """``<column>__<name>`` on citext as ``lhs OPERATOR(schema.<operator>) rhs``."""

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        schema = identifier(self.lhs.output_field.type_schema)
        return (
            compose("{lhs} OPERATOR({s}.{op}) ({rhs})::{s}.citext", lhs=lhs, s=schema, op=operator, rhs=rhs),
            (*lhs_params, *rhs_params),
        )

    lookup = type(f"Citext_{name}", (models.Lookup,), {"lookup_name": name, "as_sql": as_sql})
    CaseInsensitiveTextField.register_lookup(lookup)
    return lookup


for _name, _operator in (("exact", "="), ("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")):
    qualified_comparison(_name, _operator)


@CaseInsensitiveTextField.register_lookup
class CitextIn(lookups.In):
    """``__in`` with citext's own ``=``: ``lhs OPERATOR(schema.=) ANY(ARRAY[...]::schema.citext[])``."""

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)  # "(%s, %s, ...)"
        schema = identifier(self.lhs.output_field.type_schema)
        return (
            compose("{lhs} OPERATOR({s}.=) ANY(ARRAY[{values}]::{s}.citext[])", lhs=lhs, s=schema, values=rhs[1:-1]),
            (*lhs_params, *rhs_params),
        )


def operator_lookup(field: type[models.Field], name: str, template: str) -> type[models.Lookup]:
    """Register ``<column>__<name>`` on ``field`` as ``template`` with ``{lhs}`` and ``{rhs}``."""

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return template.format(lhs=lhs, rhs=rhs), (*lhs_params, *rhs_params)

    lookup = type(f"{field.__name__}_{name}", (models.Lookup,), {"lookup_name": name, "as_sql": as_sql})
    field.register_lookup(lookup)
    return lookup


operator_lookup(JSONDocumentField, "has_key", "({lhs})::jsonb ? {rhs}")  # json is cast to jsonb
operator_lookup(JSONDocumentField, "contains", "({lhs})::jsonb @> ({rhs})::jsonb")
operator_lookup(ArrayValuesField, "contains", "{lhs} @> {rhs}")
operator_lookup(ArrayValuesField, "overlap", "{lhs} && {rhs}")
operator_lookup(TextSearchField, "search", "{lhs} @@ websearch_to_tsquery({rhs})")
# CQL2's LIKE (autoapi/cql2): % and _ wildcards, \ escapes, as PostgreSQL's own LIKE has them.
operator_lookup(models.TextField, "cql_like", "{lhs} LIKE {rhs}")
operator_lookup(models.TextField, "cql_ilike", "{lhs} ILIKE {rhs}")


@GeometryField.register_lookup
class BBoxIntersects(models.Lookup):
    """``ST_Intersects`` with the envelope transformed to the column's SRID (not the column to
    WGS 84), so the column's GiST index can be used. The value is (minx, miny, maxx, maxy)."""

    lookup_name = "bbox"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        p = field.postgis  # every PostGIS name qualified: nothing depends on the search_path
        parts = {"p": p, "lhs": lhs, "envelope": compose("{}.ST_MakeEnvelope(%s, %s, %s, %s, 4326)", p)}
        corners = tuple(float(v) for v in self.rhs)
        if field.geography and corners[2] - corners[0] < 180:
            return compose("{p}.ST_Intersects({lhs}, {envelope}::{p}.geography)", **parts), (*lhs_params, *corners)
        if field.geography:  # a geography edge may not span 180 degrees: compare as plain lon/lat
            return compose("{p}.ST_Intersects({lhs}::{p}.geometry, {envelope})", **parts), (*lhs_params, *corners)
        if field.srid == 4326:
            return compose("{p}.ST_Intersects({lhs}, {envelope})", **parts), (*lhs_params, *corners)
        if field.srid:
            return (
                compose(
                    "{p}.ST_Intersects({lhs}, {p}.ST_Transform({envelope}, {srid}))",
                    srid=Literal(int(field.srid)),
                    **parts,
                ),
                (*lhs_params, *corners),
            )
        # No fixed SRID: bring each row to WGS 84 as the output does (SRID 0 is taken as WGS 84).
        return (
            compose(
                "{p}.ST_Intersects((CASE WHEN {p}.ST_SRID({lhs}) IN (0, 4326) THEN {p}.ST_SetSRID({lhs}, 4326) "
                "ELSE {p}.ST_Transform({lhs}, 4326) END), {envelope})",
                **parts,
            ),
            (*lhs_params * 3, *corners),
        )
