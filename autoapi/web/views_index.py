"""``/api/``, ``/api/schema/`` and ``/api/docs/``: the index, the OpenAPI document, its UI."""

from django.shortcuts import render
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_csv.renderers import CSVRenderer

from autoapi.errors import NotFound, error_response
from autoapi.formats import renderers
from autoapi.formats.renderers import ROW_RENDERERS
from autoapi.formats.renderers import formats_for as formats
from autoapi.schema.naming import api_url, decode_segment, relation_segments
from autoapi.web import documents, openapi_documents
from autoapi.web.registry import registry


class IndexCSVRenderer(CSVRenderer):
    """``/api/?format=csv``: one line per relation, nested fields flattened (``formats.csv``),
    by djangorestframework-csv, which renders a DRF Response of plain data as CSV."""

    results_field = "relations"
    FIELDS = ["schema", "name", "kind", "comment", "columns", "key", "url", "catalog_url"]

    def render(self, data, media_type=None, renderer_context=None, writer_opts=None):
        if isinstance(data, dict) and self.results_field in data:
            data = [{**row, "key": ",".join(row["key"] or ())} for row in data[self.results_field]]
        # One column per format of the registry, whatever formats it holds.
        header = self.FIELDS + [f"formats.{r.format}" for r in ROW_RENDERERS]
        return super().render(data, media_type, {**(renderer_context or {}), "header": header}, writer_opts)


class ApiIndexView(APIView):
    renderer_classes = [JSONRenderer, IndexCSVRenderer]

    def get(self, request):
        snapshot = registry.current().snapshot
        relations = []
        for relation in snapshot.relations:
            base = request.build_absolute_uri(api_url(relation))
            schema, name = relation_segments(relation)
            # The first format of the registry is the default: its URL needs no ?format=.
            default = ROW_RENDERERS[0].format
            urls = {fmt: base if fmt == default else f"{base}?format={fmt}" for fmt in formats(relation)}
            relations.append(
                {
                    "schema": relation.schema,
                    "name": relation.name,
                    "kind": relation.kind,
                    "comment": relation.comment,
                    "columns": len(relation.columns),
                    "key": list(relation.key.columns) if relation.key else None,
                    "url": base,
                    "formats": urls,
                    "catalog_url": request.build_absolute_uri(f"/catalog/{schema}/{name}/"),
                }
            )
        return Response({"schema_version": snapshot.version, "count": len(relations), "relations": relations})


_index_view = ApiIndexView.as_view()
# The ``/api/`` requests served as a shared document (``autoapi.web.documents``): the plain ones, by
# format. Any other query or Accept header is answered directly, so no client can make the
# document store build one variant per header it invents.
SHARED_INDEX_ACCEPT = ("", "*/*", "application/json", "text/csv")


def api_index(request):
    """``/api/``: every relation with its URLs, built once per schema version (a whole-catalog
    document: megabytes at 10,000 relations)."""
    fmt, accept = request.GET.get("format", ""), request.META.get("HTTP_ACCEPT", "")
    if set(request.GET) - {"format"} or fmt not in ("", "json", "csv") or accept not in SHARED_INDEX_ACCEPT:
        return _index_view(request)

    def build():
        response = _index_view(request)
        response.render()
        if response.status_code != 200:
            raise documents.NotBuilt(response)
        return response.content, response["Content-Type"]

    try:
        version = registry.current().snapshot.version
    except Exception:  # the database is down: the view answers as it does
        return _index_view(request)
    family = ("api-index", request.scheme, request.get_host(), fmt, accept)
    try:
        version = documents.digest(
            (version, documents.settings_stamp(), tuple(r.format for r in renderers.ROW_RENDERERS))
        )
        return documents.respond(request, family, version, build)
    except documents.NotBuilt as passed:
        return passed.response


def openapi_document(request):
    """``/api/schema/``: the OpenAPI 3.1 document of the current snapshot (``openapi_documents``)."""
    return openapi_documents.respond_root(request, registry.current().snapshot)


def relation_openapi_document(request, schema: str, relation: str):
    """``/api/schema/<schema>/<relation>/openapi.json``: one relation's OpenAPI document."""
    snapshot = registry.current().snapshot
    try:
        found = snapshot.get(decode_segment(schema), decode_segment(relation))
    except ValueError:
        found = None
    if found is None:
        return error_response(NotFound("no published relation has this name; see /api/schema/ for the list"))
    return openapi_documents.respond_relation(request, snapshot, found)


def api_docs(request):
    """``/api/docs/``: Swagger UI, served from static files (no CDN)."""
    return render(request, "autoapi/docs.html", {"schema_url": "/api/schema/"})
