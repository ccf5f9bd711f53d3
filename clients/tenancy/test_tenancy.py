"""Tenancy as the official `linode-api4` SDK sees it: OAuth scopes, restricted users and grants.

The tenants come from conftest.py: a `linodes:read_only` token of the demo account's own user,
and a restricted user with a `*` token that holds `read_only` on one of three placement groups,
`read_write` on another and nothing on the third. Every call under test goes through the SDK
(`LinodeClient` on `{BERTH_URL}/v4`); what a refused call did or did not change is read back
with the demo account's unrestricted token, also through the SDK.

The tests stand alone: those that change the restricted user's grants put them back through
the `restricted_grants` fixture, and those that rename a group rename it to a fresh label.
"""

import secrets

import pytest
import requests
from linode_api4 import ApiError, PlacementGroup, PlacementGroupPolicy, PlacementGroupType
from linode_api4.objects.account import UserGrants

from conftest import READ_ONLY_SCOPES, REGION, RUN

# The reason berth gives, as the real API does, when a token's scopes do not cover a route.
SCOPE_REASON = "Your OAuth token is not authorized to use this endpoint."


def group_ids(client) -> set[int]:
    return {group.id for group in client.placement.groups()}


def group_labels(client) -> set[str]:
    return {group.label for group in client.placement.groups()}


def label_of(client, group_id: int) -> str:
    return client.load(PlacementGroup, group_id).label


def api_error(excinfo, status: int) -> list[str]:
    """Checks that an ApiError carries `status` and at least one reason; returns the reasons."""
    error = excinfo.value
    assert error.status == status, f"expected {status}, got {error.status}: {error}"
    assert f"[{status}]" in str(error), str(error)
    assert error.errors and all(isinstance(reason, str) and reason for reason in error.errors), error.json
    return error.errors


def create_group(client, label: str) -> PlacementGroup:
    return client.placement.group_create(
        label=label,
        region=REGION,
        placement_group_type=PlacementGroupType.anti_affinity_local,
        placement_group_policy=PlacementGroupPolicy.strict,
    )


def test_a_read_only_token_lists_the_placement_groups(read_only_client, tenancy):
    listed = {group.id: group for group in read_only_client.placement.groups()}
    assert tenancy.group_ids <= set(listed), f"missing: {tenancy.group_ids - set(listed)}"
    # The objects are the SDK's own, filled from the listing.
    group = listed[tenancy.hidden_group]
    assert isinstance(group, PlacementGroup)
    assert group.label == f"tenancy-hidden-{RUN}"
    assert group.region.id == REGION


def test_a_read_only_token_cannot_create_a_placement_group_and_nothing_is_created(
    read_only_client, full_client
):
    before = group_ids(full_client)
    label = f"tenancy-refused-{RUN}"
    with pytest.raises(ApiError) as excinfo:
        create_group(read_only_client, label)
    assert api_error(excinfo, 401) == [SCOPE_REASON]
    # The refusal names the token's scopes and the ones the route needs.
    headers = excinfo.value.response.headers
    assert headers.get("X-OAuth-Scopes") == READ_ONLY_SCOPES, dict(headers)
    assert headers.get("X-Accepted-OAuth-Scopes") == "linodes:read_write", dict(headers)

    assert group_ids(full_client) == before
    assert label not in group_labels(full_client)


def test_a_read_only_token_loads_a_group_but_cannot_save_a_new_label(read_only_client, full_client, tenancy):
    before = label_of(full_client, tenancy.hidden_group)
    group = read_only_client.load(PlacementGroup, tenancy.hidden_group)
    assert group.id == tenancy.hidden_group
    assert group.label == before

    group.label = f"tenancy-renamed-read-only-{RUN}"
    with pytest.raises(ApiError) as excinfo:
        group.save()
    assert api_error(excinfo, 401) == [SCOPE_REASON]
    assert label_of(full_client, tenancy.hidden_group) == before


def test_a_read_only_token_cannot_delete_a_group(read_only_client, full_client, tenancy):
    group = read_only_client.load(PlacementGroup, tenancy.hidden_group)
    with pytest.raises(ApiError) as excinfo:
        group.delete()
    assert api_error(excinfo, 401) == [SCOPE_REASON]
    assert tenancy.hidden_group in group_ids(full_client)


def test_a_restricted_user_lists_exactly_the_two_groups_it_holds_grants_on(restricted_client, tenancy):
    listed = list(restricted_client.placement.groups())
    assert sorted(group.id for group in listed) == sorted([tenancy.read_only_group, tenancy.read_write_group])


def test_a_restricted_user_cannot_load_a_group_it_holds_no_grant_on(restricted_client, full_client, tenancy):
    # The group exists: the demo token sees it.
    assert full_client.load(PlacementGroup, tenancy.hidden_group).id == tenancy.hidden_group
    with pytest.raises(ApiError) as excinfo:
        restricted_client.load(PlacementGroup, tenancy.hidden_group)
    assert api_error(excinfo, 404) == ["Not found"]


def test_a_restricted_user_cannot_save_a_group_it_holds_read_only_on(restricted_client, full_client, tenancy):
    before = label_of(full_client, tenancy.read_only_group)
    group = restricted_client.load(PlacementGroup, tenancy.read_only_group)
    assert group.label == before

    group.label = f"tenancy-renamed-restricted-{RUN}"
    with pytest.raises(ApiError) as excinfo:
        group.save()
    api_error(excinfo, 403)
    assert label_of(full_client, tenancy.read_only_group) == before


def test_a_restricted_user_saves_a_group_it_holds_read_write_on(restricted_client, full_client, tenancy):
    label = f"tenancy-renamed-read-write-{RUN}-{secrets.token_hex(2)}"
    assert label_of(full_client, tenancy.read_write_group) != label

    group = restricted_client.load(PlacementGroup, tenancy.read_write_group)
    group.label = label
    assert group.save() is True
    assert label_of(full_client, tenancy.read_write_group) == label
    assert label_of(restricted_client, tenancy.read_write_group) == label


def test_a_restricted_user_without_add_linodes_cannot_create_a_group(restricted_client, full_client, restricted_grants):
    before = group_ids(full_client)
    label = f"tenancy-restricted-refused-{RUN}"
    with pytest.raises(ApiError) as excinfo:
        create_group(restricted_client, label)
    api_error(excinfo, 403)
    assert group_ids(full_client) == before
    assert label not in group_labels(full_client)


def test_a_restricted_user_with_add_linodes_creates_a_group_and_deletes_it(
    restricted_client, full_client, operator, restricted_grants
):
    tenancy = restricted_grants
    operator.grants_set(tenancy.account_id, tenancy.restricted_user_id, tenancy.restricted_grants(add_linodes=True))

    label = f"tenancy-restricted-own-{RUN}"
    created = create_group(restricted_client, label)
    assert created.label == label
    assert created.id not in tenancy.group_ids
    # The demo account sees the new group, and its creator sees it beside its two granted ones.
    assert label_of(full_client, created.id) == label
    assert group_ids(restricted_client) == {tenancy.read_only_group, tenancy.read_write_group, created.id}
    # As on the real API, the creator holds read_write on what it created.
    placement_grants = restricted_client.get("/profile/grants")["placement_group"]
    own_grants = {grant["id"]: grant["permissions"] for grant in placement_grants}
    assert own_grants.get(created.id) == "read_write", own_grants

    assert restricted_client.load(PlacementGroup, created.id).delete() is True
    assert created.id not in group_ids(full_client)
    with pytest.raises(ApiError) as excinfo:
        full_client.load(PlacementGroup, created.id)
    assert api_error(excinfo, 404) == ["Not found"]


def test_profile_grants_of_a_restricted_user_show_its_placement_group_grants(restricted_client, restricted_grants):
    tenancy = restricted_grants
    # The SDK's own view: a UserGrants for the profile's user, with the global grants. linode-api4
    # 5.48.0 maps no `placement_group` key (get_obj_grants), so those are read raw below.
    grants = restricted_client.profile().grants
    assert isinstance(grants, UserGrants), grants
    assert grants.username == f"restricted-{RUN}"
    assert grants.global_grants.add_linodes is False

    raw = restricted_client.get("/profile/grants")
    assert raw["global"]["add_linodes"] is False, raw["global"]
    permissions = {grant["id"]: grant["permissions"] for grant in raw["placement_group"]}
    assert permissions.get(tenancy.read_only_group) == "read_only", raw["placement_group"]
    assert permissions.get(tenancy.read_write_group) == "read_write", raw["placement_group"]
    assert permissions.get(tenancy.hidden_group) is None, raw["placement_group"]
    assert all("label" in grant for grant in raw["placement_group"]), raw["placement_group"]


def test_profile_grants_of_the_unrestricted_demo_user_are_none(full_client, berth):
    # A 204 with no body: the SDK's get() returns None, and Profile.grants turns that into None.
    assert full_client.profile().restricted is False
    assert full_client.profile().grants is None
    assert full_client.get("/profile/grants") is None

    response = requests.get(
        f"{berth.url}/v4/profile/grants", headers={"Authorization": f"Bearer {berth.token}"}, timeout=30
    )
    assert response.status_code == 204, response.text
    assert response.content == b""


def test_a_read_only_token_sees_its_scopes_in_the_oauth_headers(berth, tenancy):
    response = requests.get(
        f"{berth.url}/v4/placement/groups",
        headers={"Authorization": f"Bearer {tenancy.read_only_token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.headers.get("X-OAuth-Scopes") == READ_ONLY_SCOPES, dict(response.headers)
    assert response.headers.get("X-Accepted-OAuth-Scopes") == "linodes:read_only", dict(response.headers)
    assert tenancy.group_ids <= {group["id"] for group in response.json()["data"]}
