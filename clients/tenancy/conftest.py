"""Sets up the tenants that clients/tenancy/test_tenancy.py drives the official `linode-api4`
SDK with, against the berth that scripts/with-berth started.

Everything about users, tokens and grants goes through berth's own operator API (/v1), with
plain `requests` and the operator token from BERTH_OPERATOR_TOKEN; the placement groups are
created through the SDK with the demo account's unrestricted token from BERTH_TOKEN. The SDK
reads no environment variable of its own: everything it uses is passed here.
"""

import os
import secrets
from dataclasses import dataclass

import pytest
import requests
from linode_api4 import LinodeClient, PlacementGroupPolicy, PlacementGroupType

# A core region berth serves placement groups in, and a suffix that keeps this run's labels and
# usernames apart from anything else on the same berth.
REGION = "us-mia"
RUN = secrets.token_hex(3)

# The scopes of the read-only token, as berth echoes them in X-OAuth-Scopes.
READ_ONLY_SCOPES = "linodes:read_only"


@dataclass(frozen=True)
class Berth:
    """Where berth is and the credentials it was seeded with."""

    url: str
    token: str
    operator_token: str

    def client(self, token: str) -> LinodeClient:
        """An SDK client on `{url}/v4` with `token`."""
        return LinodeClient(token, base_url=f"{self.url}/v4")


class Operator:
    """berth's native operator API (/v1), through plain `requests` and the operator token.

    Every helper requires the status the operator API documents for success and returns the
    JSON body, so a setup step that goes wrong fails with berth's own answer.
    """

    def __init__(self, berth: Berth):
        self.url = f"{berth.url}/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {berth.operator_token}"

    def call(self, method: str, path: str, status: int, body: dict | None = None):
        response = self.session.request(method, f"{self.url}{path}", json=body, timeout=30)
        assert response.status_code == status, (
            f"{method} /v1{path} {body} answered {response.status_code} (expected {status}): {response.text}"
        )
        return response.json()

    def demo_account_id(self) -> int:
        accounts = [account for account in self.call("GET", "/accounts", 200) if account["name"] == "demo"]
        assert len(accounts) == 1, f"expected one account named demo: {accounts}"
        return accounts[0]["id"]

    def demo_user_id(self, account_id: int) -> int:
        users = self.call("GET", f"/accounts/{account_id}/users", 200)
        unrestricted = [user for user in users if not user["restricted"]]
        assert len(unrestricted) == 1, f"expected the demo account to have one unrestricted user: {users}"
        return unrestricted[0]["id"]

    def user_create(self, account_id: int, username: str, restricted: bool) -> int:
        user = self.call(
            "POST",
            f"/accounts/{account_id}/users",
            201,
            {"username": username, "email": f"{username}@tenancy.example", "restricted": restricted},
        )
        assert user["username"] == username and user["restricted"] is restricted, user
        return user["id"]

    def token_create(self, account_id: int, user_id: int, label: str, scopes: str) -> str:
        """Creates a personal access token and returns the bearer token itself."""
        created = self.call(
            "POST",
            f"/accounts/{account_id}/users/{user_id}/tokens",
            201,
            {"label": label, "scopes": scopes},
        )
        assert created["scopes"] == scopes, created
        assert isinstance(created["token"], str) and created["token"], created
        return created["token"]

    def grants_set(self, account_id: int, user_id: int, grants: dict) -> dict:
        """Replaces the user's grants (what is left out gets no permission)."""
        return self.call("PUT", f"/accounts/{account_id}/users/{user_id}/grants", 200, grants)


@dataclass(frozen=True)
class Tenancy:
    """The tenants and groups every test shares.

    `read_only_token` belongs to the demo account's own (unrestricted) user but carries only
    `linodes:read_only`; `restricted_token` is a `*` token of a restricted user of the same
    account, which holds `read_only` on `read_only_group`, `read_write` on `read_write_group`
    and nothing on `hidden_group`.
    """

    account_id: int
    demo_user_id: int
    read_only_token: str
    restricted_user_id: int
    restricted_token: str
    read_only_group: int
    read_write_group: int
    hidden_group: int

    @property
    def group_ids(self) -> set[int]:
        return {self.read_only_group, self.read_write_group, self.hidden_group}

    def restricted_grants(self, add_linodes: bool = False) -> dict:
        """The restricted user's grants as the operator API takes them."""
        return {
            "global": ["add_linodes"] if add_linodes else [],
            "placement_group": [
                {"id": self.read_only_group, "permissions": "read_only"},
                {"id": self.read_write_group, "permissions": "read_write"},
                {"id": self.hidden_group, "permissions": None},
            ],
        }


def required_environment(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run this through scripts/with-berth or scripts/test")
    return value


@pytest.fixture(scope="session")
def berth() -> Berth:
    return Berth(
        url=required_environment("BERTH_URL").rstrip("/"),
        token=required_environment("BERTH_TOKEN"),
        operator_token=required_environment("BERTH_OPERATOR_TOKEN"),
    )


@pytest.fixture(scope="session")
def operator(berth) -> Operator:
    return Operator(berth)


@pytest.fixture(scope="session")
def full_client(berth) -> LinodeClient:
    """The SDK with the demo account's unrestricted `*` token."""
    return berth.client(berth.token)


def create_group(client: LinodeClient, label: str) -> int:
    group = client.placement.group_create(
        label=label,
        region=REGION,
        placement_group_type=PlacementGroupType.anti_affinity_local,
        placement_group_policy=PlacementGroupPolicy.strict,
    )
    assert group.label == label, group._raw_json
    return group.id


@pytest.fixture(scope="session")
def tenancy(operator, full_client) -> Tenancy:
    account_id = operator.demo_account_id()
    demo_user_id = operator.demo_user_id(account_id)
    read_only_token = operator.token_create(account_id, demo_user_id, f"read-only-{RUN}", READ_ONLY_SCOPES)
    restricted_user_id = operator.user_create(account_id, f"restricted-{RUN}", restricted=True)
    restricted_token = operator.token_create(account_id, restricted_user_id, f"everything-{RUN}", "*")

    tenancy = Tenancy(
        account_id=account_id,
        demo_user_id=demo_user_id,
        read_only_token=read_only_token,
        restricted_user_id=restricted_user_id,
        restricted_token=restricted_token,
        read_only_group=create_group(full_client, f"tenancy-read-only-{RUN}"),
        read_write_group=create_group(full_client, f"tenancy-read-write-{RUN}"),
        hidden_group=create_group(full_client, f"tenancy-hidden-{RUN}"),
    )
    operator.grants_set(account_id, restricted_user_id, tenancy.restricted_grants())
    return tenancy


@pytest.fixture(scope="session")
def read_only_client(berth, tenancy) -> LinodeClient:
    """The SDK with the demo user's `linodes:read_only` token."""
    return berth.client(tenancy.read_only_token)


@pytest.fixture(scope="session")
def restricted_client(berth, tenancy) -> LinodeClient:
    """The SDK with the restricted user's `*` token."""
    return berth.client(tenancy.restricted_token)


@pytest.fixture
def restricted_grants(operator, tenancy):
    """Puts the restricted user's grants back to the shared setup (no `add_linodes`) before and
    after a test that changes them, so that no test depends on the order they run in."""
    operator.grants_set(tenancy.account_id, tenancy.restricted_user_id, tenancy.restricted_grants())
    yield tenancy
    operator.grants_set(tenancy.account_id, tenancy.restricted_user_id, tenancy.restricted_grants())
