"""Every HTTP route under generated requests (schemathesis over the OpenAPI schema): no 5xx.

A real ``voxgate serve`` (the loopback engine: no models) takes a fixed budget of requests per
operation, as an attacker or a careless client would send them: any body, any parameter. Its
log must show no unhandled exception either.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from voxgate.bench.server import serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback ``voxgate serve`` with generous rate limits; its URL and its log file."""
    data = tmp_path_factory.mktemp("fuzz")
    log = data / "server.log"
    env = {
        "VOXGATE_ENGINE": "loopback",
        "VOXGATE_DATA_DIR": str(data),
        "VOXGATE_SESSIONS_PER_MINUTE": "100000",
        "VOXGATE_OFFERS_PER_MINUTE": "100000",
        "VOXGATE_CLIENT_SECRETS_PER_MINUTE": "100000",
    }
    with serve(env=env, timeout=60, log=str(log)) as served:
        yield served.http, log


@pytest.fixture(scope="module")
def api(server: tuple[str, Path]) -> schemathesis.BaseSchema:
    url, _ = server
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_no_route_answers_5xx_nor_logs_an_unhandled_exception(
    server: tuple[str, Path], api: schemathesis.BaseSchema
) -> None:
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10
    statuses: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
    assert len(statuses) >= 10 * len(operations)
    assert any(400 <= s < 500 for s in statuses)
    _, log = server
    assert "Traceback" not in log.read_text()
