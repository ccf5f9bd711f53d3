//! Rows to domain types and back: the one place that knows how the store spells each value.

use std::collections::BTreeMap;

use store::{FirewallRow, GroupRow, HostRow, InstanceRow, MigrationRow, OperationRow, RegionRow, Size};

use crate::error::{Error, Field, Result};
use crate::model::*;

pub(crate) fn kind_str(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::AntiAffinity => "anti-affinity",
        GroupKind::Affinity => "affinity",
    }
}

pub(crate) fn policy_str(policy: Policy) -> &'static str {
    match policy {
        Policy::Strict => "strict",
        Policy::Flexible => "flexible",
    }
}

fn corrupt(what: &str, value: &str) -> Error {
    Error::Internal(format!("the store holds an unknown {what} {value:?}"))
}

fn count(what: &str, value: i64) -> Result<u32> {
    u32::try_from(value).map_err(|_| corrupt(what, &value.to_string()))
}

fn amount(what: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(what, &value.to_string()))
}

pub(crate) fn host_state(value: &str) -> Result<HostState> {
    Ok(match value {
        "active" => HostState::Active,
        "draining" => HostState::Draining,
        "maintenance" => HostState::Maintenance,
        "failed" => HostState::Failed,
        other => return Err(corrupt("host state", other)),
    })
}

pub(crate) fn resources(size: Size) -> Result<Resources> {
    Ok(Resources {
        vcpus: count("vCPU count", size.vcpus)?,
        memory_mib: amount("memory size", size.memory_mib)?,
        disk_mib: amount("disk size", size.disk_mib)?,
        gpus: count("GPU count", size.gpus)?,
    })
}

pub(crate) fn size(resources: Resources) -> Size {
    Size {
        vcpus: i64::from(resources.vcpus),
        memory_mib: i64::try_from(resources.memory_mib).unwrap_or(i64::MAX),
        disk_mib: i64::try_from(resources.disk_mib).unwrap_or(i64::MAX),
        gpus: i64::from(resources.gpus),
    }
}

pub(crate) fn region(row: RegionRow) -> Result<Region> {
    Ok(Region {
        id: RegionId::parse(&row.id).map_err(|_| corrupt("region id", &row.id))?,
        label: row.label,
        country: row.country,
        site_type: row.site_type,
        status: row.status,
        max_members_per_group: count("member limit", row.max_members_per_group)?,
        max_groups_per_account: row.max_groups_per_account.map(|n| count("group limit", n)).transpose()?,
    })
}

pub(crate) fn host(row: &HostRow) -> Result<Host> {
    Ok(Host {
        id: HostId(row.id),
        uuid: row.uuid.clone(),
        name: row.name.clone(),
        region: RegionId::parse(&row.region_id).map_err(|_| corrupt("region id", &row.region_id))?,
        rack: row.rack.clone(),
        state: host_state(&row.state)?,
        capacity: resources(Size {
            vcpus: row.vcpus,
            memory_mib: row.memory_mib,
            disk_mib: row.disk_mib,
            gpus: row.gpus,
        })?,
        used: resources(Size {
            vcpus: row.used_vcpus,
            memory_mib: row.used_memory_mib,
            disk_mib: row.used_disk_mib,
            gpus: row.used_gpus,
        })?,
        labels: labels_from_store(&row.labels)?,
    })
}

pub(crate) fn group(row: GroupRow) -> Result<Group> {
    Ok(Group {
        id: GroupId(row.id),
        uuid: row.uuid,
        account: AccountId(row.account_id),
        label: Label::parse(Field::Label, &row.label).map_err(|_| corrupt("group label", &row.label))?,
        description: row.description,
        scope: match row.region_id {
            Some(region) => Scope::Region(RegionId::parse(&region).map_err(|_| corrupt("region id", &region))?),
            None => Scope::Global,
        },
        kind: match row.kind.as_str() {
            "anti-affinity" => GroupKind::AntiAffinity,
            "affinity" => GroupKind::Affinity,
            other => return Err(corrupt("group kind", other)),
        },
        policy: match row.policy.as_str() {
            "strict" => Policy::Strict,
            "flexible" => Policy::Flexible,
            other => return Err(corrupt("group policy", other)),
        },
        domain: match row.domain.as_str() {
            "host" => FailureDomain::Host,
            "rack" => FailureDomain::Rack,
            other => return Err(corrupt("failure domain", other)),
        },
        max_per_domain: count("members per domain", row.max_per_domain)?,
        max_members: row.max_members.map(|n| count("member limit", n)).transpose()?,
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
    })
}

/// Tags are kept one per line; a tag never holds a control character, so never a newline.
pub(crate) fn tags_to_store(tags: &[String]) -> String {
    tags.join("\n")
}

pub(crate) fn tags_from_store(tags: &str) -> Vec<String> {
    if tags.is_empty() { Vec::new() } else { tags.split('\n').map(str::to_string).collect() }
}

/// Labels are kept as a JSON object of strings.
pub(crate) fn labels_to_store(labels: &BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).unwrap_or_else(|_| "{}".to_string())
}

pub(crate) fn labels_from_store(labels: &str) -> Result<BTreeMap<String, String>> {
    serde_json::from_str(labels).map_err(|_| corrupt("label set", labels))
}

pub(crate) fn instance(row: InstanceRow) -> Result<Instance> {
    let size = row.size();
    let labels = labels_from_store(&row.labels)?;
    Ok(Instance {
        id: InstanceId(row.id),
        uuid: row.uuid,
        account: AccountId(row.account_id),
        label: Label::parse(Field::Label, &row.label).map_err(|_| corrupt("instance label", &row.label))?,
        region: RegionId::parse(&row.region_id).map_err(|_| corrupt("region id", &row.region_id))?,
        type_id: row.type_id,
        size: resources(size)?,
        host: row.host_id.map(HostId),
        target_host: row.target_host_id.map(HostId),
        state: match row.state.as_str() {
            "running" => InstanceState::Running,
            "stopped" => InstanceState::Stopped,
            other => return Err(corrupt("instance state", other)),
        },
        image: row.image,
        tags: tags_from_store(&row.tags),
        firewall: row.firewall_id.map(FirewallId),
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
        labels,
        offline_reason: row.offline_reason,
    })
}

pub(crate) fn operation(row: OperationRow) -> Result<Operation> {
    Ok(Operation {
        state: match row.state.as_str() {
            "pending" => OperationState::Pending,
            "success" => OperationState::Success,
            "failure" => OperationState::Failure,
            "timeout" => OperationState::Timeout,
            other => return Err(corrupt("operation state", other)),
        },
        id: row.id,
        account: AccountId(row.account_id),
        reason: row.reason,
        message: row.message,
        reference: OperationReference {
            id: row.reference_id,
            link: row.reference_link,
            command: row.reference_command,
        },
        created_at: Timestamp(row.created_at),
    })
}

pub(crate) fn migration(row: MigrationRow) -> Result<Migration> {
    Ok(Migration {
        id: MigrationId(row.id),
        account: AccountId(row.account_id),
        instance: InstanceId(row.instance_id),
        source_host: HostId(row.source_host_id),
        target_host: HostId(row.target_host_id),
        source_region: RegionId::parse(&row.source_region_id)
            .map_err(|_| corrupt("region id", &row.source_region_id))?,
        target_region: RegionId::parse(&row.target_region_id)
            .map_err(|_| corrupt("region id", &row.target_region_id))?,
        source_group: row.source_group_id.map(GroupId),
        target_group: row.target_group_id.map(GroupId),
        reason: MigrationReason::parse(&row.reason).ok_or_else(|| corrupt("migration reason", &row.reason))?,
        state: MigrationState::parse(&row.state).ok_or_else(|| corrupt("migration state", &row.state))?,
        created_at: Timestamp(row.created_at),
        due_at: Timestamp(row.due_at),
        finished_at: row.finished_at.map(Timestamp),
        plan: row.plan_id,
        started_at: row.started_at.map(Timestamp),
        claimed_by: row.claimed_by,
        lease_expires_at: row.lease_expires_at.map(Timestamp),
        failure: row.failure,
    })
}

pub(crate) fn firewall(row: FirewallRow) -> Result<Firewall> {
    Ok(Firewall {
        id: FirewallId(row.id),
        account: AccountId(row.account_id),
        label: Label::parse(Field::Label, &row.label).map_err(|_| corrupt("firewall label", &row.label))?,
        status: row.status,
        rules: row.rules,
        tags: tags_from_store(&row.tags),
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
    })
}
