"""The SQL that reads PostgreSQL's catalog: what introspection, the fingerprint and the change probe
ask. Kept apart from the Python that assembles the answers (``introspect.py``).

Every statement reads only ``pg_catalog``, calls only built-in functions (no extension's function:
an extension may live in a schema that is not on the role's ``search_path``, as Supabase installs
PostGIS in ``extensions``), and is filtered by the connecting role's privileges. Parameters:
``%(schemas)s`` (PORTAL_SCHEMAS, empty for all) and ``%(oids)s`` (published relations) and, for ``RELATIONS_SQL``, ``%(only)s`` (NULL for all, or the
relations to read again).
"""

SYSTEM_SCHEMA_FILTER = """
    n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%%'
    AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
    AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s::text[]))
    AND has_schema_privilege(n.oid, 'USAGE')
"""

READABLE = "(has_table_privilege({oid}, 'SELECT') OR has_any_column_privilege({oid}, 'SELECT'))"

# Every view and each relation it reads, at any depth: its range table, subqueries and sublinks
# included, as PostgreSQL records them in pg_depend (every user relation; since PostgreSQL 15
# pinned objects such as system catalogs are not recorded: their grants and policies are not the
# publisher's). A CTE of a WITH RECURSIVE. Set-based, never a subquery per relation: the planner
# keeps its cost estimate low, so a server with JIT on does not spend seconds compiling it.
VIEW_READS_CTE = """
view_reads(view, oid) AS (
    SELECT r.ev_class, d.refobjid FROM pg_rewrite r
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
    WHERE r.rulename = '_RETURN' AND d.refobjid <> r.ev_class
    UNION
    SELECT vr.view, d.refobjid FROM view_reads vr
    JOIN pg_rewrite r ON r.ev_class = vr.oid AND r.rulename = '_RETURN'
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
    WHERE d.refobjid <> r.ev_class
)"""

# Row security may hide rows of relation ``c`` from the role (docs/operations.md, "Permissions and versions"):
# for a table, PostgreSQL's own row_security_active() (on, and the role is not the owner unless
# FORCE, not BYPASSRLS, not a superuser); for a view, row security is on for any table it reads,
# at any depth (whoever it applies to: the role for a security_invoker view, else the view's
# owner). Then the relation's statistics describe rows the role may not see, and are not shown.
ROW_SECURITY = """
    CASE WHEN c.relkind = 'v' THEN c.oid IN (SELECT vr.view FROM view_reads vr
                                             JOIN pg_class t ON t.oid = vr.oid WHERE t.relrowsecurity)
    ELSE row_security_active(c.oid) END
"""

# The column defaults and generated expressions (pg_attrdef oids) that name an object the role may
# not use: a sequence (nextval), a function, a type, a column or table it may not read. They are
# not shown (``private.salary_of(id)``, a generated column over a column the role was not
# granted). Pinned built-in functions are not recorded in pg_depend: always shown.
HIDDEN_DEFAULTS = """
    SELECT dd.objid FROM pg_depend dd
    LEFT JOIN pg_class rc ON dd.refclassid = 'pg_class'::regclass AND rc.oid = dd.refobjid
    LEFT JOIN pg_proc p ON dd.refclassid = 'pg_proc'::regclass AND p.oid = dd.refobjid
    LEFT JOIN pg_type t ON dd.refclassid = 'pg_type'::regclass AND t.oid = dd.refobjid
    WHERE dd.classid = 'pg_attrdef'::regclass AND dd.deptype = 'n' AND NOT coalesce(CASE dd.refclassid
        WHEN 'pg_class'::regclass THEN has_schema_privilege(rc.relnamespace, 'USAGE') AND CASE
            WHEN rc.relkind = 'S' THEN has_sequence_privilege(rc.oid, 'SELECT') OR has_sequence_privilege(rc.oid, 'USAGE')
            WHEN dd.refobjsubid > 0 THEN has_column_privilege(rc.oid, dd.refobjsubid::int2, 'SELECT')
            ELSE has_table_privilege(rc.oid, 'SELECT') END
        WHEN 'pg_proc'::regclass THEN has_schema_privilege(p.pronamespace, 'USAGE') AND has_function_privilege(p.oid, 'EXECUTE')
        WHEN 'pg_type'::regclass THEN has_schema_privilege(t.typnamespace, 'USAGE') AND has_type_privilege(t.oid, 'USAGE')
        ELSE true END, false)
"""

# Relations the role may read (wholly, or some of their columns), with a flag for those that
# belong to an extension (PostGIS's spatial_ref_sys and friends), which are not published. A
# partition is published through its partitioned parent, and on its own only when the role may
# read none of its ancestors (it was granted the partition alone).
RELATIONS_SQL = f"""
WITH RECURSIVE {VIEW_READS_CTE}
SELECT c.oid, n.nspname, c.relname, c.relkind,
       obj_description(c.oid, 'pg_class'),
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END,
       c.relispopulated,
       EXISTS (SELECT 1 FROM pg_depend d
               WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'),
       {ROW_SECURITY}
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND (%(only)s::oid[] IS NULL OR c.oid = ANY(%(only)s::oid[]))
  AND {SYSTEM_SCHEMA_FILTER}
  AND {READABLE.format(oid="c.oid")}
  AND (NOT c.relispartition OR NOT EXISTS (
        SELECT 1 FROM pg_partition_ancestors(c.oid) AS a(relid)
        JOIN pg_class ac ON ac.oid = a.relid JOIN pg_namespace an ON an.oid = ac.relnamespace
        WHERE a.relid <> c.oid AND {READABLE.format(oid="a.relid")}
          AND has_schema_privilege(an.oid, 'USAGE')
          AND (cardinality(%(schemas)s::text[]) = 0 OR an.nspname = ANY(%(schemas)s::text[]))))
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = f"""
SELECT a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod), a.attnotnull,
       CASE WHEN ad.oid NOT IN ({HIDDEN_DEFAULTS}) THEN pg_get_expr(ad.adbin, ad.adrelid) END,
       col_description(a.attrelid, a.attnum)
FROM pg_attribute a
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE a.attrelid = ANY(%(oids)s::oid[])
  AND a.attnum > 0 AND NOT a.attisdropped
  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
ORDER BY a.attrelid, a.attnum
"""

# Types by OID, with their schema: an extension's functions live in its types' schema.
TYPES_SQL = """
SELECT t.oid, t.typname, t.typtype, t.typcategory, t.typbasetype, t.typelem, t.typtypmod, tn.nspname
FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace
WHERE t.oid = ANY(%(oids)s::oid[])
   OR t.typtype = 'd'
   OR t.oid IN (SELECT typelem FROM pg_type WHERE oid = ANY(%(oids)s::oid[]))
"""

ENUMS_SQL = """
SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder)
FROM pg_enum GROUP BY enumtypid
"""

EXTENSIONS_SQL = """
SELECT e.extname, n.nspname, e.extversion
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY e.extname
"""

# Primary keys, unique constraints and foreign keys, plus unique indexes that are not constraints
# (plain columns only: no expressions, no partial indexes).
KEYS_SQL = """
SELECT con.conrelid, con.conname, con.contype, con.conkey, con.confrelid, con.confkey
FROM pg_constraint con
WHERE con.conrelid = ANY(%(oids)s::oid[]) AND con.contype IN ('p', 'u', 'f')
UNION ALL
SELECT i.indrelid, ic.relname, 'u', i.indkey::int2[], 0, NULL
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY(%(oids)s::oid[]) AND i.indisunique AND NOT i.indisprimary
  AND i.indpred IS NULL AND i.indexprs IS NULL
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1, 3, 2
"""

# Every partition, at any depth, of the published partitioned tables, with its bound. Their rows
# are readable through the parent, so naming them reveals nothing the role cannot read.
PARTITIONS_SQL = """
SELECT tree.root, n.nspname, c.relname, parent.relname, tree.level,
       pg_get_expr(c.relpartbound, c.oid), c.relkind = 'p'
FROM (SELECT root, t.relid, t.parentrelid, t.level
      FROM unnest(%(oids)s::oid[]) AS root, pg_partition_tree(root) AS t
      WHERE t.level > 0) AS tree
JOIN pg_class c ON c.oid = tree.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class parent ON parent.oid = tree.parentrelid
ORDER BY tree.root, tree.level, c.relname
"""

# Who sees what (docs/operations.md, "Permissions and versions"), as parts of the fingerprint: so a change
# makes a new snapshot version, hence new data tags (``dataversion.py``), new stored-download
# names, page-cache keys and validators. For every relation of ``closure`` (the published ones
# and all they read): its owner (who bypasses row security; whose rights a view uses), row
# security on and forced, reloptions (security_invoker, security_barrier), table and column
# grants, and its rules (a view's definition: any CREATE OR REPLACE VIEW). Then every row policy
# of the database (with its roles and expressions: a policy may guard a table read only through a
# function), and every role's attributes and memberships (GRANT group TO reader; BYPASSRLS).
PERMISSIONS_PARTS = """
    SELECT c.oid, concat_ws(',', 'who', c.oid, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
                     c.reloptions::text, c.relacl::text)
    FROM outside o JOIN pg_class c ON c.oid = o.oid
    UNION ALL
    SELECT a.attrelid, concat_ws(',', 'column grants', a.attrelid, a.attnum, a.attacl::text)
    FROM outside o JOIN pg_attribute a ON a.attrelid = o.oid WHERE a.attacl IS NOT NULL
    UNION ALL
    SELECT r.ev_class, concat_ws(',', 'rule', r.oid, r.ev_class, r.rulename, r.ev_enabled, md5(r.ev_action::text))
    FROM pg_rewrite r WHERE r.ev_class IN (SELECT oid FROM closure)
    UNION ALL
    SELECT 0::oid, concat_ws(',', 'policy', p.oid, p.polrelid, p.polname, p.polcmd, p.polpermissive, p.polroles::text,
                     md5(p.polqual::text), md5(p.polwithcheck::text))
    FROM pg_policy p
    UNION ALL
    SELECT 0::oid, concat_ws(',', 'role', r.oid, r.rolsuper, r.rolbypassrls, r.rolinherit) FROM pg_roles r
    UNION ALL
    SELECT 0::oid, concat_ws(',', 'member', m::text) FROM pg_auth_members m
"""

# The fingerprint: a hash of everything a snapshot depends on, per relation (``part_of``: the
# relation's oid) and for what all relations depend on (key 0: types, enums, extensions,
# policies, roles and memberships). The snapshot's version is the hash of these rows
# (``introspect.version_of``); comparing them with the previous read says which relations changed,
# so that a new table re-reads that table only (``introspect.changed_relations``). Run only when the
# change probe moved; about 0.2 s at 10,000 relations.
RELATION_HASHES_SQL = f"""
WITH RECURSIVE {VIEW_READS_CTE},
published(oid) AS (
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMA_FILTER}
),
-- Every relation of the published schemas, and every relation their views read, at any depth and
-- in any schema: whatever decides who sees what through them (PERMISSIONS_PARTS).
closure(oid) AS (
    SELECT oid FROM published
    UNION
    SELECT vr.oid FROM view_reads vr JOIN published p ON p.oid = vr.view
),
-- Those outside the published schemas: the published ones' owner, row security, options and
-- column grants are in their own rows below already (so each is read once).
outside(oid) AS (
    SELECT oid FROM closure EXCEPT SELECT oid FROM published
)
SELECT part_of, md5(count(*) || '-' || coalesce(sum(hashtextextended(part, 0)::numeric), 0))
FROM (
    SELECT c.oid AS part_of, concat_ws(',', c.oid, n.nspname, c.relname, c.relkind, c.relacl::text, n.nspacl::text,
                     c.relispopulated, d.description, has_table_privilege(c.oid, 'SELECT'),
                     c.relispartition, pg_get_expr(c.relpartbound, c.oid),
                     c.relowner, c.relrowsecurity, c.relforcerowsecurity, c.reloptions::text) AS part
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = c.oid AND d.objsubid = 0
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT a.attrelid, concat_ws(',', a.attrelid, a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull,
                     a.attacl::text, a.atthasdef, d.description)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = a.attrelid AND d.objsubid = a.attnum
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
      AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT con.conrelid, concat_ws(',', con.oid, con.conname, con.contype, con.conrelid, con.conkey::text,
                     con.confrelid, con.confkey::text)
    FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
    WHERE con.contype IN ('p', 'u', 'f') AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    SELECT i.indrelid, concat_ws(',', i.indexrelid, i.indrelid, i.indisunique, i.indkey::text, ic.relname)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE i.indisunique AND {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    -- A changed default is a new pg_attrdef row (a new oid); whether the role may see it, too.
    SELECT ad.adrelid, concat_ws(',', ad.oid, ad.adrelid, ad.adnum, ad.oid IN ({HIDDEN_DEFAULTS}))
    FROM pg_attrdef ad JOIN pg_class c ON c.oid = ad.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {SYSTEM_SCHEMA_FILTER}
    UNION ALL
    -- Type names (a renamed enum, domain or extension type), in the schemas the role may use. A
    -- relation's own row type (and its array) is a part of that relation: every CREATE TABLE makes
    -- two, which must not make every relation's parts move.
    SELECT CASE WHEN t.typrelid <> 0 THEN t.typrelid ELSE coalesce(e.typrelid, 0::oid) END,
           concat_ws(',', t.oid, t.typname, t.typnamespace)
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typelem <> 0 AND e.typrelid <> 0
    WHERE {SYSTEM_SCHEMA_FILTER.replace("AND (cardinality", "AND (true OR cardinality")}
    UNION ALL
    SELECT 0::oid, concat_ws(',', e.enumtypid, e.enumlabel, e.enumsortorder) FROM pg_enum e
    UNION ALL
    SELECT 0::oid, concat_ws(',', e.oid, e.extname, e.extnamespace, e.extversion) FROM pg_extension e
    UNION ALL
    {PERMISSIONS_PARTS}
) AS parts
GROUP BY part_of
"""

# Before re-reading only the relations whose parts changed: the views that read any of them, at any
# depth (a view's row security follows its tables': ``ROW_SECURITY``), the relations with a column
# of their row type (a renamed table renames its type), and whether any of them is a
# partition or a partitioned table (a partitioned table's record lists its partitions: read whole).
CHANGED_SPREAD_SQL = f"""
WITH RECURSIVE {VIEW_READS_CTE}
SELECT ARRAY(SELECT DISTINCT vr.view FROM view_reads vr WHERE vr.oid = ANY(%(oids)s::oid[])
             UNION
             -- relations with a column of a changed relation's row type (or an array of it): the
             -- column's dependency on its type, through pg_depend's index on what is depended on
             SELECT d.objid FROM pg_class c
             JOIN pg_type rt ON rt.oid = c.reltype
             JOIN pg_depend d ON d.refclassid = 'pg_type'::regclass AND d.refobjid IN (rt.oid, rt.typarray)
             WHERE c.oid = ANY(%(oids)s::oid[]) AND d.classid = 'pg_class'::regclass AND d.objsubid > 0),
       EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = ANY(%(oids)s::oid[]) AND (c.relispartition OR c.relkind = 'p'))
"""

# The change probe: the newest row version and the row count of each catalog a snapshot reads.
# Any DDL, GRANT, REVOKE or COMMENT writes a new row version (a new xmin, newer than every other)
# or deletes rows (the count moves), so an unchanged probe means an unchanged catalog. It reads
# no text and joins nothing, so it stays within a few milliseconds on thousands of tables; when
# it moves (for any schema), the full fingerprint decides whether the published part changed.
CHANGE_PROBE_SQL = """
SELECT concat_ws(',',
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_class),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_attribute),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_constraint),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_index),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_description),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_namespace),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_type),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_enum),
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_attrdef),
    -- Role membership changes what the role may read (GRANT some_role TO reader).
    (SELECT max(xmin::text::bigint) || ':' || count(*) FROM pg_auth_members),
    -- View definitions and row policies (CREATE OR REPLACE VIEW, CREATE/ALTER/DROP POLICY), and
    -- the roles' attributes (ALTER ROLE ... BYPASSRLS): pg_authid itself is not readable.
    (SELECT coalesce(max(xmin::text::bigint), 0) || ':' || count(*) FROM pg_rewrite),
    (SELECT coalesce(max(xmin::text::bigint), 0) || ':' || count(*) FROM pg_policy),
    (SELECT md5(string_agg(concat_ws(':', oid, rolsuper, rolbypassrls, rolinherit), ',' ORDER BY oid)) FROM pg_roles))
"""
