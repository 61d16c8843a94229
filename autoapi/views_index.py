"""``/api/``, ``/api/schema/`` and ``/api/docs/``: the index, the OpenAPI document, its UI."""
from django.http import HttpResponse
from django.shortcuts import render
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from autoapi.queries import geometry_source
from autoapi.registry import registry
from autoapi.public import api_url, relation_segments


class ApiIndexView(APIView):
    renderer_classes = [JSONRenderer]

    def get(self, request):
        snapshot = registry.current().snapshot
        relations = []
        for relation in snapshot.relations:
            base = request.build_absolute_uri(api_url(relation))
            schema, name = relation_segments(relation)
            formats = {"json": base, "csv": base + "?format=csv", "ndjson": base + "?format=ndjson"}
            if geometry_source(relation) is not None:
                formats["geojson"] = base + "?format=geojson"
            relations.append(
                {
                    "schema": relation.schema,
                    "name": relation.name,
                    "kind": relation.kind,
                    "comment": relation.comment,
                    "columns": len(relation.columns),
                    "key": list(relation.key.columns) if relation.key else None,
                    "url": base,
                    "formats": formats,
                    "catalog_url": request.build_absolute_uri(f"/catalog/{schema}/{name}/"),
                }
            )
        return Response({"schema_version": snapshot.version, "count": len(relations), "relations": relations})


def openapi_document(request):
    """``/api/schema/``: the OpenAPI 3.1 document of the current snapshot."""
    return HttpResponse(registry.current().openapi_json(), content_type="application/vnd.oai.openapi+json; charset=utf-8")


def api_docs(request):
    """``/api/docs/``: Swagger UI, served from static files (no CDN)."""
    return render(request, "autoapi/docs.html", {"schema_url": "/api/schema/"})
