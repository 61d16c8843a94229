"""``manage.py dump_snapshot``: the current schema snapshot as JSON, with what was skipped and why.

"Skipped" holds what introspection left out (extension-owned relations, a relation it could not
describe, a catalog read that failed) and the relations whose API could not be built: this
command builds every relation's endpoints, as serving would on first use.

Each column also shows how the API treats its type (``api_type``: the typemap kind, its lookups
and whether it sorts), so a type that fell back to the opaque text form is visible at a glance.
``--stable`` leaves out what changes from one cluster to another (oids, times, the fingerprint,
extension versions), for golden-file comparisons.
"""

import json

from django.core.management.base import BaseCommand
from django.db import connections

from autoapi.conf import DATABASE_ALIAS, portal_setting
from autoapi.schema.introspect import read_snapshot
from autoapi.schema.typemap import type_info
from autoapi.web.api import PublishedAPI

VOLATILE = ("oid", "built_at", "version", "server_version")


def snapshot_document(snapshot, stable: bool = False) -> dict:
    document = snapshot.as_dict()
    failures = PublishedAPI(snapshot).build_all()
    document["skipped"] = list(document["skipped"]) + [
        {"what": f"{schema}.{name}", "why": why, "schema": schema, "name": name}
        for (schema, name), why in failures.items()
    ]
    for relation, record in zip(document["relations"], snapshot.relations):
        for column, column_record in zip(relation["columns"], record.columns):
            info = type_info(column_record)
            column["api_type"] = {"kind": info.kind, "lookups": list(info.lookups), "sortable": info.sortable}
    if stable:
        for name in VOLATILE:
            document.pop(name, None)
        for relation in document["relations"]:
            relation.pop("oid", None)
        for extension in document["extensions"]:
            extension.pop("version", None)
    return document


class Command(BaseCommand):
    help = "Print the published database's schema snapshot as JSON, with what was skipped and why."

    def add_arguments(self, parser):
        parser.add_argument("--stable", action="store_true", help="leave out oids, times and the fingerprint")
        parser.add_argument("--indent", type=int, default=2)

    def handle(self, *args, stable=False, indent=2, **options):
        with connections[DATABASE_ALIAS].cursor() as cursor:
            snapshot = read_snapshot(cursor, portal_setting("SCHEMAS"))
        document = snapshot_document(snapshot, stable=stable)
        self.stdout.write(json.dumps(document, indent=indent or None, ensure_ascii=False, default=list))
        for skipped in document["skipped"]:
            self.stderr.write(f"skipped {skipped['what']}: {skipped['why']}")
