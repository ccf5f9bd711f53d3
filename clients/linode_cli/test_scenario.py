"""A placement-group scenario driven by the real linode-cli binary against berth.

The steps run in file order and share one strict group in us-mia and two Linodes through
`scenario`, a module-scoped record; a step that needs something an earlier step failed to
record fails with a message that says so. The error-path tests at the end stand alone.

Every assertion reads the CLI's own output (`--json`, or `--text` with `--format`) and its
exit code: 0 on success, 2 on an API error ("Request failed: CODE").
"""

import secrets
import time

import pytest

REGION = "us-mia"
TYPE = "g6-nanode-1"
RUN = secrets.token_hex(3)


class Scenario(dict):
    """What the steps learn about the shared group and Linodes."""

    def need(self, key: str):
        if key not in self:
            pytest.fail(f"an earlier step did not record {key!r}; see the first failure")
        return self[key]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario()


def strong_root_password() -> str:
    # Letters, digits and punctuation, well inside the 7–128 characters the API accepts.
    return f"Br-{secrets.token_urlsafe(24)}!9a"


def group_view(cli, group_id: int) -> dict:
    return cli.ok_json("placement", "group-view", str(group_id))


def member_ids(group: dict) -> list[int]:
    return [member["linode_id"] for member in group["members"]]


def wait_until_running(cli, linode_id: int) -> dict:
    deadline = time.monotonic() + 60
    while True:
        linode = cli.ok_json("linodes", "view", str(linode_id))
        if linode["status"] == "running" or time.monotonic() > deadline:
            return linode
        time.sleep(1)


def create_linode(cli, label: str, *extra: str) -> dict:
    image = first_public_image(cli)
    return cli.ok_json(
        "linodes", "create",
        "--type", TYPE,
        "--region", REGION,
        "--label", label,
        "--image", image,
        "--root_pass", strong_root_password(),
        *extra,
    )


def first_public_image(cli) -> str:
    # As the CLI's own integration helpers do: the first id of the public images.
    result = cli.ok("images", "list", "--is_public", "true", "--text", "--no-headers", "--format", "id")
    images = result.stdout.split()
    assert images, f"no public image:\n{result.describe()}"
    return images[0]


def test_groups_list_prints_a_table_with_the_placement_group_columns(cli):
    result = cli.ok("placement", "groups-list")
    header = next((line for line in result.stdout.splitlines() if "label" in line), "")
    for column in ("label", "placement_group_type", "region"):
        assert column in header, f"column {column!r} missing from the header:\n{result.describe()}"


def test_group_create_returns_the_new_strict_group(cli, scenario):
    label = f"cli-pg-{RUN}"
    result = cli.ok(
        "placement", "group-create",
        "--label", label,
        "--region", REGION,
        "--placement_group_type", "anti_affinity:local",
        "--placement_group_policy", "strict",
        "--text", "--no-headers", "--delimiter", ",",
        "--format", "id,label,region,placement_group_type,placement_group_policy,is_compliant",
    )
    fields = result.stdout.strip().split(",")
    assert len(fields) == 6, f"expected one line of six fields:\n{result.describe()}"
    group_id, *rest = fields
    assert group_id.isdigit(), f"the id is not a number:\n{result.describe()}"
    assert rest == [label, REGION, "anti_affinity:local", "strict", "True"], result.describe()
    scenario["group_id"] = int(group_id)
    scenario["label"] = label

    group = group_view(cli, scenario["group_id"])
    assert group["members"] == []


def test_a_linode_created_into_the_group_shows_the_group(cli, scenario):
    group_id = scenario.need("group_id")
    created = create_linode(cli, f"cli-first-{RUN}", "--placement_group.id", str(group_id))
    assert created["region"] == REGION
    assert created["placement_group"]["id"] == group_id
    scenario["first_linode"] = created["id"]

    linode = wait_until_running(cli, created["id"])
    assert linode["status"] == "running"
    assert linode["placement_group"]["id"] == group_id
    assert linode["placement_group"]["label"] == scenario["label"]
    assert linode["placement_group"]["placement_group_policy"] == "strict"
    assert linode["host_uuid"], "the Linode has no host_uuid"
    scenario["first_host"] = linode["host_uuid"]


def test_group_view_lists_the_linode_as_a_compliant_member(cli, scenario):
    group_id = scenario.need("group_id")
    first = scenario.need("first_linode")
    group = group_view(cli, group_id)
    assert group["members"] == [{"linode_id": first, "is_compliant": True}]
    assert group["is_compliant"] is True


def test_assigning_a_second_linode_keeps_the_strict_group_compliant_or_is_refused(cli, scenario):
    group_id = scenario.need("group_id")
    first = scenario.need("first_linode")
    first_host = scenario.need("first_host")

    created = create_linode(cli, f"cli-second-{RUN}")
    second = created["id"]
    scenario["second_linode"] = second
    linode = wait_until_running(cli, second)
    # The CLI leaves out null fields, so a Linode in no group has no placement_group at all.
    assert linode.get("placement_group") is None, linode
    assert linode["host_uuid"], "the second Linode has no host_uuid"
    same_host = linode["host_uuid"] == first_host

    help_text = cli.ok("placement", "assign-linode", "--help").stdout
    assert "--linodes" in help_text, help_text

    result = cli.run("placement", "assign-linode", str(group_id), "--linodes", str(second), "--json")
    if same_host:
        # Berth put the ungrouped Linode on the first one's host: a strict group must refuse.
        print(f"the second Linode shares host {first_host} with the first: expecting a refusal")
        assert result.returncode == 2, f"a strict group accepted a Linode on a member's host:\n{result.describe()}"
        assert "Request failed: 400" in result.stderr, result.describe()
        assert member_ids(group_view(cli, group_id)) == [first]
        scenario["second_assigned"] = False
        return

    print(f"the Linodes are on different hosts ({first_host}, {linode['host_uuid']}): expecting an assignment")
    assert result.returncode == 0, f"expected the assignment to succeed:\n{result.describe()}"
    assert str(group_id) in result.stdout, result.describe()
    (assigned,) = result.json()
    assert assigned["id"] == group_id
    assert sorted(member_ids(assigned)) == sorted([first, second])

    group = group_view(cli, group_id)
    assert sorted(member_ids(group)) == sorted([first, second])
    assert group["is_compliant"] is True
    assert all(member["is_compliant"] for member in group["members"]), group
    assert cli.ok_json("linodes", "view", str(second))["placement_group"]["id"] == group_id
    scenario["second_assigned"] = True


def test_unassigning_the_second_linode_removes_it_from_the_group(cli, scenario):
    group_id = scenario.need("group_id")
    first = scenario.need("first_linode")
    second = scenario.need("second_linode")
    if scenario.need("second_assigned"):
        # `--linode` is an argparse prefix of `--linodes`, as in the CLI's own test.
        unassigned = cli.ok_json("placement", "unassign-linode", str(group_id), "--linode", str(second))
        assert member_ids(unassigned) == [first]
    else:
        print("the second Linode was never assigned: checking that the group still lacks it")

    group = group_view(cli, group_id)
    assert member_ids(group) == [first]
    assert cli.ok_json("linodes", "view", str(second)).get("placement_group") is None


def test_group_update_changes_the_label(cli, scenario):
    group_id = scenario.need("group_id")
    new_label = f"cli-pg-{RUN}-renamed"
    updated = cli.ok_json("placement", "group-update", str(group_id), "--label", new_label)
    assert updated["label"] == new_label

    result = cli.ok("placement", "group-view", str(group_id), "--format", "label", "--text", "--no-headers")
    assert result.stdout.strip() == new_label, result.describe()


def test_deleting_a_group_that_still_has_a_member_fails_and_names_the_members(cli, scenario):
    group_id = scenario.need("group_id")
    first = scenario.need("first_linode")
    result = cli.run("placement", "group-delete", str(group_id), "--json")
    assert result.returncode == 2, f"deleting a group with a member should fail:\n{result.describe()}"
    assert "Request failed: 400" in result.stderr, result.describe()
    reasons = " ".join(error["reason"] for error in result.errors())
    assert "member" in reasons.lower(), result.describe()
    assert member_ids(group_view(cli, group_id)) == [first]


def test_deleting_the_linodes_and_then_the_group_succeeds(cli, scenario):
    group_id = scenario.need("group_id")
    for key in ("first_linode", "second_linode"):
        linode_id = scenario.need(key)
        cli.ok("linodes", "delete", str(linode_id))
        gone = cli.run("linodes", "view", str(linode_id))
        assert gone.returncode == 2 and "404" in gone.stderr, gone.describe()
    assert group_view(cli, group_id)["members"] == []

    cli.ok("placement", "group-delete", str(group_id))
    result = cli.run("placement", "group-view", str(group_id))
    assert result.returncode != 0, f"the deleted group is still there:\n{result.describe()}"
    assert "Request failed: 404" in result.stderr, result.describe()
    assert "Not found" in result.output, result.describe()


def create_group_expecting_an_error(cli, label: str, region: str):
    # `--label=VALUE` so that a label starting with "-" reaches the API instead of argparse.
    result = cli.run(
        "placement", "group-create",
        f"--label={label}",
        "--region", region,
        "--placement_group_type", "anti_affinity:local",
        "--placement_group_policy", "strict",
        "--json",
    )
    assert result.returncode == 2, f"expected the API to refuse the group:\n{result.describe()}"
    assert "Request failed: 400" in result.stderr, result.describe()
    return result


def test_group_create_with_an_invalid_label_fails_with_the_berth_reason(cli):
    result = create_group_expecting_an_error(cli, "-bad-", REGION)
    (error,) = result.errors()
    assert error["field"] == "label", result.describe()
    assert "label" in error["reason"].lower(), result.describe()
    labels = cli.ok("placement", "groups-list", "--text", "--no-headers", "--format", "label").stdout.split()
    assert "-bad-" not in labels


def test_group_create_in_an_unknown_region_fails_with_the_berth_reason(cli):
    result = create_group_expecting_an_error(cli, f"cli-nowhere-{RUN}", "xx-nowhere")
    (error,) = result.errors()
    assert error["field"] == "region", result.describe()
    assert "region" in error["reason"].lower(), result.describe()


def test_a_wrong_token_is_refused_with_invalid_token(cli):
    result = cli.run("placement", "groups-list", "--json", token=f"wrong-{secrets.token_hex(16)}")
    assert result.returncode == 2, result.describe()
    assert "Request failed: 401" in result.stderr, result.describe()
    assert [error["reason"] for error in result.errors()] == ["Invalid Token"], result.describe()
