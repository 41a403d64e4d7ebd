"""``GET /metrics``: Prometheus's text format, for an API key (open when no keys are set).

What it holds is ``observability/prometheus.py``'s; a scraper sends the key as
``Authorization: Bearer <key>`` (Prometheus's ``authorization`` setting).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from voxgate.observability.prometheus import CONTENT_TYPE
from voxgate.server.gateway import AdminDep, GatewayDep

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(gateway: GatewayDep, grant: AdminDep) -> Response:
    """Every metric of this server, as Prometheus scrapes them."""
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE)
