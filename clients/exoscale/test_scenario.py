"""An anti-affinity scenario driven by the official `exoscale` Python SDK against berth.

The steps run in file order and share, through `scenario` (a module-scoped record), one group
of instances in ch-gva-2 (the zone berth serves at /v2) and one group of GPU instances in
de-fra-1, where only two hosts have GPUs; a step that needs something an earlier step failed to
record fails with a message that says so. The authentication tests at the end stand alone.

Every mutation returns an operation, and every step waits on it with the SDK's own `wait()`,
which reads it back through `GET /v2/operation/{id}`. Where placement matters, the test asks
berth's own operator API (`GET /v1/instances/{id}`) which host each instance landed on.
"""

import re
import secrets

import pytest
from exoscale.api.exceptions import (
    ExoscaleAPIAuthException,
    ExoscaleAPIClientException,
    ExoscaleAPIServerException,
)

# The zone berth serves at /v2 (the `gva` client), and the one where only two hosts have GPUs
# (the `fra` client, at /de-fra-1/v2).
DEFAULT_ZONE = "ch-gva-2"
GPU_ZONE = "de-fra-1"
RUN = secrets.token_hex(3)
WEB_GROUP = f"exo-web-{RUN}"
GPU_GROUP = f"exo-gpu-{RUN}"
GROUP_LIMIT = 8


class Scenario(dict):
    """What the steps learn about the shared groups and instances."""

    def need(self, key: str):
        if key not in self:
            pytest.fail(f"an earlier step did not record {key!r}; see the first failure")
        return self[key]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario()


def waited(client, operation: dict, command: str) -> dict:
    """Waits on `operation` with the SDK's wait() and checks the finished operation."""
    assert operation.get("state") in ("pending", "success"), f"unexpected operation: {operation}"
    finished = client.wait(operation["id"])
    assert finished["id"] == operation["id"], finished
    assert finished["state"] == "success", finished
    reference = finished["reference"]
    assert reference["command"] == command, finished
    assert reference["id"], finished
    return finished


def create_group(client, name: str, description: str) -> str:
    """Creates an anti-affinity group, waits for it, and returns its id."""
    finished = waited(
        client,
        client.create_anti_affinity_group(name=name, description=description),
        "get-anti-affinity-group",
    )
    group_id = finished["reference"]["id"]
    assert finished["reference"]["link"] == f"/v2/anti-affinity-group/{group_id}", finished
    return group_id


def create_instance_operation(client, scenario: Scenario, name: str, instance_type: str, group_id: str) -> dict:
    return client.create_instance(
        name=name,
        instance_type={"id": instance_type},
        template={"id": scenario.need("template")},
        disk_size=10,
        anti_affinity_groups=[{"id": group_id}],
    )


def create_instance(client, scenario: Scenario, name: str, instance_type: str, group_id: str) -> str:
    """Creates an instance into `group_id`, waits for it, and returns its id."""
    operation = create_instance_operation(client, scenario, name, instance_type, group_id)
    finished = waited(client, operation, "get-instance")
    instance_id = finished["reference"]["id"]
    assert finished["reference"]["link"] == f"/v2/instance/{instance_id}", finished
    return instance_id


def member_ids(client, group_id: str) -> list[str]:
    group = client.get_anti_affinity_group(id=group_id)
    assert all(set(member) == {"id"} for member in group["instances"]), group
    return sorted(member["id"] for member in group["instances"])


def instance_ids(client) -> list[str]:
    return sorted(instance["id"] for instance in client.list_instances()["instances"])


def group_ids(client) -> list[str]:
    return sorted(group["id"] for group in client.list_anti_affinity_groups()["anti-affinity-groups"])


def client_error(excinfo, status: int) -> str:
    """Checks that an SDK exception carries a response with `status` and a JSON message."""
    response = excinfo.value.response
    assert response is not None, f"no response on {excinfo.value!r}"
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert f" {status}: " in str(excinfo.value), str(excinfo.value)
    message = response.json().get("message")
    assert isinstance(message, str) and message, f"no message in the error body: {response.text}"
    return message


INSTANCE_FIELDS = {"id", "uuid", "account", "region", "state", "host", "target_host", "groups"}
HOST_FIELDS = {"id", "name", "uuid", "rack", "state"}
GROUP_FIELDS = {"id", "uuid", "label"}


def hosts_of(operator, instances: list[str], region: str, group_id: str, group_name: str) -> list[dict]:
    """The host of each instance according to berth's operator API, which must also place it in
    `region` and in the group, running and not migrating."""
    hosts = []
    for instance_id in instances:
        record = operator.instance(instance_id)
        assert INSTANCE_FIELDS <= set(record), f"fields missing: {INSTANCE_FIELDS - set(record)} in {record}"
        assert record["uuid"] == instance_id, record
        assert record["region"] == region, record
        assert record["state"] == "running", record
        assert record["target_host"] is None, f"instance {instance_id} is migrating: {record}"
        host = record["host"]
        assert host is not None, f"instance {instance_id} has no host: {record}"
        assert HOST_FIELDS <= set(host), f"host fields missing: {HOST_FIELDS - set(host)} in {record}"
        groups = [group for group in record["groups"] if group["uuid"] == group_id]
        assert len(groups) == 1, f"instance {instance_id} is not in group {group_id}: {record}"
        assert GROUP_FIELDS <= set(groups[0]) and groups[0]["label"] == group_name, record
        hosts.append(host)
    return hosts


def test_list_zones_finds_ch_gva_2_and_de_fra_1_pointing_back_at_this_berth(berth):
    # list_zones() is sent unsigned by the SDK, so this also checks that /v2/zone needs no key.
    zones = {zone["name"]: zone for zone in berth.client("/v2").list_zones()["zones"]}
    for name in (DEFAULT_ZONE, GPU_ZONE):
        assert name in zones, f"{name} is not listed: {sorted(zones)}"
        assert zones[name]["api-endpoint"] == f"{berth.url}/{name}/v2", zones[name]
    endpoints = [zone["api-endpoint"] for zone in zones.values()]
    assert len(set(endpoints)) == len(endpoints), f"two zones share an api-endpoint: {endpoints}"

    # The advertised endpoint is a working one: a client built from it sees the catalogue.
    advertised = berth.client(zones[GPU_ZONE]["api-endpoint"].removeprefix(berth.url))
    types = advertised.list_instance_types()["instance-types"]
    assert any(GPU_ZONE in instance_type["zones"] for instance_type in types), types


def test_an_anti_affinity_group_created_and_waited_on_reads_back_empty(gva, fra, scenario):
    group_id = create_group(gva, WEB_GROUP, "web tier")
    scenario["group"] = group_id

    group = gva.get_anti_affinity_group(id=group_id)
    assert group == {"id": group_id, "name": WEB_GROUP, "description": "web tier", "instances": []}
    assert group_id in group_ids(gva)
    # Groups belong to the organisation, not to a zone: every zone endpoint lists them.
    assert group_id in group_ids(fra)


def test_the_catalogue_offers_standard_small_gpu2_medium_and_a_public_ubuntu_template(gva, scenario):
    types = {(item["family"], item["size"]): item for item in gva.list_instance_types()["instance-types"]}
    assert ("standard", "small") in types, sorted(types)
    assert ("gpu2", "medium") in types, sorted(types)
    small, gpu = types[("standard", "small")], types[("gpu2", "medium")]
    assert small["gpus"] == 0 and gpu["gpus"] == 1, (small, gpu)
    assert {DEFAULT_ZONE, GPU_ZONE} <= set(small["zones"]), small
    assert GPU_ZONE in gpu["zones"], gpu
    assert gva.get_instance_type(id=small["id"])["id"] == small["id"]
    scenario["small"] = small["id"]
    scenario["gpu"] = gpu["id"]

    templates = gva.list_templates(visibility="public", family="ubuntu")["templates"]
    assert templates, "no public ubuntu template"
    assert all(item["family"] == "ubuntu" and item["visibility"] == "public" for item in templates), templates
    template = templates[0]
    assert {DEFAULT_ZONE, GPU_ZONE} <= set(template["zones"]), template
    assert gva.get_template(id=template["id"])["id"] == template["id"]
    scenario["template"] = template["id"]


def test_three_instances_created_into_the_group_are_its_only_members(gva, scenario):
    group_id = scenario.need("group")
    small = scenario.need("small")
    names = [f"{WEB_GROUP}-{index}" for index in range(1, 4)]
    created = [create_instance(gva, scenario, name, small, group_id) for name in names]
    scenario["instances"] = created

    assert len(set(created)) == 3, created
    assert member_ids(gva, group_id) == sorted(created)
    for instance_id, name in zip(created, names):
        instance = gva.get_instance(id=instance_id)
        assert instance["id"] == instance_id
        assert instance["name"] == name
        assert instance["anti-affinity-groups"] == [{"id": group_id}], instance
        assert instance["instance-type"]["id"] == small, instance
        assert instance["state"] == "running", instance
    assert instance_ids(gva) == sorted(created)


def test_berth_places_the_three_members_on_three_different_hosts(operator, scenario):
    group_id = scenario.need("group")
    created = scenario.need("instances")
    hosts = hosts_of(operator, created, DEFAULT_ZONE, group_id, WEB_GROUP)
    assert len({host["id"] for host in hosts}) == 3, f"members share a host: {hosts}"

    # The operator API takes berth's integer id as well as the Exoscale UUID.
    first = operator.instance(created[0])
    assert operator.instance(first["id"])["uuid"] == created[0]


def test_the_group_takes_eight_members_and_refuses_a_ninth_with_400(gva, scenario):
    group_id = scenario.need("group")
    small = scenario.need("small")
    created = list(scenario.need("instances"))
    for index in range(len(created) + 1, GROUP_LIMIT + 1):
        created.append(create_instance(gva, scenario, f"{WEB_GROUP}-{index}", small, group_id))
    scenario["instances"] = created
    assert member_ids(gva, group_id) == sorted(created)
    assert len(created) == GROUP_LIMIT

    with pytest.raises(ExoscaleAPIClientException) as excinfo:
        create_instance_operation(gva, scenario, f"{WEB_GROUP}-9", small, group_id)
    message = client_error(excinfo, 400)
    assert re.search(rf"\b{GROUP_LIMIT}\b", message) and re.search(r"at most|limit", message), message

    assert member_ids(gva, group_id) == sorted(created)
    assert instance_ids(gva) == sorted(created), "the refused ninth instance was left behind"


def test_berth_places_the_eight_members_on_eight_different_hosts(operator, scenario):
    group_id = scenario.need("group")
    created = scenario.need("instances")
    assert len(created) == GROUP_LIMIT, f"the group was not filled: {created}"
    hosts = hosts_of(operator, created, DEFAULT_ZONE, group_id, WEB_GROUP)
    assert len({host["id"] for host in hosts}) == GROUP_LIMIT, f"members share a host: {hosts}"


def test_two_gpu_instances_in_a_de_fra_1_group_land_on_two_different_hosts(fra, operator, scenario):
    gpu = scenario.need("gpu")
    group_id = create_group(fra, GPU_GROUP, "gpu tier")
    scenario["gpu_group"] = group_id

    created = [create_instance(fra, scenario, f"{GPU_GROUP}-{index}", gpu, group_id) for index in (1, 2)]
    scenario["gpu_instances"] = created
    assert member_ids(fra, group_id) == sorted(created)
    for instance_id in created:
        assert fra.get_instance(id=instance_id)["anti-affinity-groups"] == [{"id": group_id}]
    hosts = hosts_of(operator, created, GPU_ZONE, group_id, GPU_GROUP)
    assert len({host["id"] for host in hosts}) == 2, f"the GPU instances share a host: {hosts}"


def test_a_third_gpu_instance_fails_as_unavailable_and_leaves_nothing_behind(fra, gva, scenario):
    gpu = scenario.need("gpu")
    group_id = scenario.need("gpu_group")
    created = scenario.need("gpu_instances")

    operation = create_instance_operation(fra, scenario, f"{GPU_GROUP}-3", gpu, group_id)
    with pytest.raises(ExoscaleAPIServerException) as excinfo:
        fra.wait(operation["id"])
    assert "failure, unavailable" in str(excinfo.value), str(excinfo.value)

    failed = fra.get_operation(id=operation["id"])
    assert failed["state"] == "failure", failed
    assert failed["reason"] == "unavailable", failed
    assert "lack GPUs" in failed.get("message", ""), f"the message does not explain the hosts: {failed}"

    assert instance_ids(fra) == sorted(created), "the failed third instance was left behind"
    assert member_ids(fra, group_id) == sorted(created)
    reference = failed.get("reference", {}).get("id")
    if reference is not None:
        with pytest.raises(ExoscaleAPIClientException) as missing:
            fra.get_instance(id=reference)
        client_error(missing, 404)
    # Instances are zone-local: ch-gva-2 still lists only its own group's eight.
    assert instance_ids(gva) == sorted(scenario.need("instances"))


def test_deleting_a_group_that_still_has_members_is_refused_with_409(gva, fra, scenario):
    for client, group_key, instances_key in ((gva, "group", "instances"), (fra, "gpu_group", "gpu_instances")):
        group_id = scenario.need(group_key)
        with pytest.raises(ExoscaleAPIClientException) as excinfo:
            client.delete_anti_affinity_group(id=group_id)
        client_error(excinfo, 409)
        assert member_ids(client, group_id) == sorted(scenario.need(instances_key))


def test_deleting_every_instance_empties_the_groups_and_the_instance_lists(gva, fra, scenario):
    for client, group_key, instances_key in ((gva, "group", "instances"), (fra, "gpu_group", "gpu_instances")):
        group_id = scenario.need(group_key)
        for instance_id in scenario.need(instances_key):
            finished = waited(client, client.delete_instance(id=instance_id), "get-instance")
            assert finished["reference"]["id"] == instance_id, finished
            with pytest.raises(ExoscaleAPIClientException) as excinfo:
                client.get_instance(id=instance_id)
            client_error(excinfo, 404)
        assert member_ids(client, group_id) == []
        assert instance_ids(client) == []
    scenario["instances_deleted"] = True


def test_deleting_the_empty_groups_leaves_no_group(gva, fra, scenario):
    scenario.need("instances_deleted")
    for client, group_key in ((gva, "group"), (fra, "gpu_group")):
        group_id = scenario.need(group_key)
        finished = waited(client, client.delete_anti_affinity_group(id=group_id), "get-anti-affinity-group")
        assert finished["reference"]["id"] == group_id, finished
        with pytest.raises(ExoscaleAPIClientException) as excinfo:
            client.get_anti_affinity_group(id=group_id)
        client_error(excinfo, 404)
    assert group_ids(gva) == []
    assert group_ids(fra) == []


def test_a_request_signed_with_a_wrong_secret_is_refused_with_403_and_changes_nothing(berth, gva):
    wrong = berth.client("/v2", secret=f"wrong-secret-{secrets.token_hex(8)}")
    with pytest.raises(ExoscaleAPIAuthException) as excinfo:
        wrong.list_anti_affinity_groups()
    client_error(excinfo, 403)

    before = group_ids(gva)
    with pytest.raises(ExoscaleAPIAuthException) as excinfo:
        wrong.create_anti_affinity_group(name=f"exo-forged-{RUN}", description="must not exist")
    client_error(excinfo, 403)
    assert group_ids(gva) == before


def test_a_request_with_an_unknown_key_is_refused_with_403(berth):
    unknown = berth.client("/v2", key=f"EXOunknown{secrets.token_hex(12)}")
    with pytest.raises(ExoscaleAPIAuthException) as excinfo:
        unknown.list_instances()
    client_error(excinfo, 403)
