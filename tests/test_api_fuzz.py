"""Schema-driven fuzzing of the running API against the OpenAPI document it serves.

A real demo fleet (simulated robots, manager, bridge) on 127.0.0.1; schemathesis generates
requests from /api/v1/openapi.json for every operation but the endless SSE stream, and
checks that no answer is a 5xx and none contradicts the document (status code, content
type, body schema, headers).
"""

from __future__ import annotations

from typing import Iterator

import pytest
from fleet_testing import Proc, fleet_env, free_port, get_json, wait_for

# No module-level skip: launch_testing's pytest plugin imports every test module of a
# folder while collecting it, and a skip raised there would skip the whole folder.
try:
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import content_type_conformance
    from schemathesis.specs.openapi.checks import response_headers_conformance
    from schemathesis.specs.openapi.checks import response_schema_conformance
    from schemathesis.specs.openapi.checks import status_code_conformance
except ImportError:
    schemathesis = None
MISSING = 'schemathesis is not installed (make test installs it)'

TOKEN = 'fuzz-token'
AUTH = {'Authorization': f'Bearer {TOKEN}'}


@pytest.fixture(scope='module')
def api_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp('fuzz')
    web_yaml = tmp / 'web.yaml'
    web_yaml.write_text('rate_limit: {per_second: 5000, burst: 5000}\n')
    port = free_port()
    demo = Proc('demo', ['-m', 'fleet_sim.demo', '--robots', '2', '--port', str(port),
                         '--database', str(tmp / 'fleet.db'), '--web-config', str(web_yaml),
                         '--speed', '3'], tmp, env=fleet_env(FLEET_TOKEN=TOKEN))
    base = f'http://127.0.0.1:{port}'
    try:
        wait_for(lambda: (get_json(f'{base}/api/v1/robots', AUTH) or {}).get('total', 0) >= 2
                 and get_json(f'{base}/api/v1/missions', AUTH) is not None,
                 timeout=60, message='the demo API answering')
        yield base
    finally:
        code = demo.stop()
        assert code == 0, demo.output()[-3000:]
        assert 'Traceback' not in demo.output(), demo.output()[-3000:]


@pytest.fixture(scope='module')
def api_schema(api_base: str) -> object:
    return schemathesis.openapi.from_url(f'{api_base}/api/v1/openapi.json').exclude(
        path_regex=r'.*/events/stream$')


if schemathesis is None:
    def test_api_conforms_to_its_openapi_document() -> None:
        pytest.skip(MISSING)
else:
    schema = schemathesis.pytest.from_fixture('api_schema')
    CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, response_headers_conformance]

    @schema.parametrize()
    @settings(max_examples=25, deadline=None,
              suppress_health_check=list(HealthCheck), derandomize=True)
    def test_api_conforms_to_its_openapi_document(case: object, api_base: str) -> None:
        case.call_and_validate(base_url=api_base, headers=AUTH, checks=CHECKS)  # type: ignore


@pytest.mark.skipif(schemathesis is None, reason=MISSING)
def test_fuzzing_covers_the_api(api_schema: object) -> None:
    paths = {result.ok().path for result in api_schema.get_all_operations()}  # type: ignore
    assert {'/api/v1/missions', '/api/v1/robots/{robot_id}', '/api/v1/incidents'} <= paths
