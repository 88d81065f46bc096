"""Schemathesis fuzzes the hub's OpenAPI schema: no input, with or without the token, is a 5xx.

The hub runs in this process (its own event loop in a thread, real HTTP on loopback, real
SQLite); one breaker is opened and evaluated first, so the alert, health and series routes
have something to show. A bounded number of examples per operation keeps this under a minute.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from ccr.core.config import parse_settings
from ccr.hub import Hub
from tests.fixtures.hub import API_TOKEN, SECRET, free_port

EXAMPLES = 50
"""Inputs per route. All routes run as one test item: with ~40 routes (the audit and screen
routes added), 80 took 127 s under coverage on 2 cores, past the item timeout."""


class HubThread:
    """A hub on its own event loop in a thread, so the fuzzer's sync client can call it."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = parse_settings({
            "hub": {"listen": f"127.0.0.1:{free_port()}", "data_dir": str(data_dir)},
            "servers": [{"id": "laptop", "kind": "local"}],
            "alerts": {"interval_s": 60},
        })
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def start(self) -> Hub:
        self.thread.start()

        async def start() -> Hub:
            hub = Hub(self.settings)
            await hub.start()
            assert hub.breakers is not None
            for _ in range(hub.settings.reliability.breaker_failures):
                await hub.breakers.failure("laptop", "fuzz: made to fail")
            await hub.alerts.evaluate()
            return hub

        self.hub: Hub = self.run(start())  # type: ignore[assignment]
        return self.hub

    def stop(self) -> None:
        self.run(self.hub.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CCR_SHARED_SECRET", SECRET)
        mp.setenv("CCR_API_TOKEN", API_TOKEN)
        mp.delenv("CCR_TELEGRAM_TOKEN", raising=False)
        runner = HubThread(tmp_path_factory.mktemp("fuzz") / "data")
        hub = runner.start()
        try:
            yield hub.settings.hub.url
        finally:
            runner.stop()


@pytest.fixture(scope="module")
def api_schema(hub_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{hub_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(400)  # one item for every route (see EXAMPLES)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_input_is_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {API_TOKEN}"},
                           checks=[not_a_server_error], timeout=10)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_the_token_nothing_is_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(timeout=10)
    assert response.status_code < 500, response.text[:300]
