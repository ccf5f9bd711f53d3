"""Points the official `exoscale` Python SDK, and a plain `requests` session for berth's own
operator API, at the berth that scripts/with-berth started.

The berth comes from BERTH_URL (http://127.0.0.1:PORT), the demo account's Exoscale key and
secret from BERTH_EXOSCALE_KEY and BERTH_EXOSCALE_SECRET, and the operator's bearer token from
BERTH_OPERATOR_TOKEN. The SDK reads no environment variable of its own: everything it uses is
passed here.
"""

import os
from dataclasses import dataclass

import pytest
import requests
from exoscale.api.v2 import Client


@dataclass(frozen=True)
class Berth:
    """Where berth is and the credentials it was seeded with."""

    url: str
    key: str
    secret: str
    operator_token: str

    def client(self, path: str = "/v2", key: str | None = None, secret: str | None = None) -> Client:
        """An SDK client on `{url}{path}`, signing with the demo account unless told otherwise."""
        return Client(
            self.key if key is None else key,
            self.secret if secret is None else secret,
            url=f"{self.url}{path}",
        )


class Operator:
    """berth's native operator API (/v1), read with plain `requests` and the operator token."""

    def __init__(self, berth: Berth):
        self.url = f"{berth.url}/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {berth.operator_token}"

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.url}{path}", timeout=30)

    def instance(self, instance_id: str | int) -> dict:
        """GET /v1/instances/{id}; requires 200 and returns the JSON object."""
        response = self.get(f"/instances/{instance_id}")
        assert response.status_code == 200, (
            f"GET /v1/instances/{instance_id} answered {response.status_code}: {response.text}"
        )
        return response.json()


def required_environment(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run this through scripts/with-berth or scripts/test")
    return value


@pytest.fixture(scope="session")
def berth() -> Berth:
    return Berth(
        url=required_environment("BERTH_URL").rstrip("/"),
        key=required_environment("BERTH_EXOSCALE_KEY"),
        secret=required_environment("BERTH_EXOSCALE_SECRET"),
        operator_token=required_environment("BERTH_OPERATOR_TOKEN"),
    )


@pytest.fixture(scope="session")
def gva(berth) -> Client:
    """The SDK on berth's default zone, ch-gva-2, at /v2."""
    return berth.client("/v2")


@pytest.fixture(scope="session")
def fra(berth) -> Client:
    """The SDK on de-fra-1, at /de-fra-1/v2."""
    return berth.client("/de-fra-1/v2")


@pytest.fixture(scope="session")
def operator(berth) -> Operator:
    return Operator(berth)
