//! `/v1/regions`, `/v1/hosts`, `/v1/groups`, `/v1/instances`, `/v1/explain`: the fleet as the
//! operator sees and steers it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_core::{
    AccountId, ExplainPlacement, GroupDetail, GroupFilter, GroupId, GroupKind, Host, HostCreate, HostFilter, HostState,
    HostUpdate, InstanceFilter, InstanceId, JoinAssessment, Policy, Region, RegionCreate, RegionId, Resources, Scope,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::instances::{InstanceDetail, detail};
use super::{Operator, Result, V1Body, V1Error, V1Path, V1Query};
use crate::AppState;

/// An amount of each resource.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Capacity {
    vcpus: u32,
    memory_mib: u64,
    disk_mib: u64,
    #[serde(default)]
    gpus: u32,
}

impl From<Resources> for Capacity {
    fn from(r: Resources) -> Capacity {
        Capacity { vcpus: r.vcpus, memory_mib: r.memory_mib, disk_mib: r.disk_mib, gpus: r.gpus }
    }
}

impl From<Capacity> for Resources {
    fn from(c: Capacity) -> Resources {
        Resources { vcpus: c.vcpus, memory_mib: c.memory_mib, disk_mib: c.disk_mib, gpus: c.gpus }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegionBody {
    id: String,
    label: String,
    country: String,
    status: String,
    site_type: String,
    /// At most this many members in a group of the region.
    max_members_per_group: u32,
    /// At most this many groups per account in the region; `null`: no limit.
    max_groups_per_account: Option<u32>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RegionCreateBody {
    /// Lower-case letters, digits and dashes, such as `eu-west`.
    id: String,
    label: String,
    /// A two-letter country code.
    country: String,
    #[serde(default = "default_members")]
    max_members_per_group: u32,
    #[serde(default)]
    max_groups_per_account: Option<u32>,
}

fn default_members() -> u32 {
    5
}

/// A host, in short.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HostRef {
    id: i64,
    name: String,
    rack: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HostBody {
    id: i64,
    name: String,
    uuid: String,
    region: String,
    rack: String,
    /// `active`, `draining`, `maintenance` or `failed`.
    state: &'static str,
    labels: BTreeMap<String, String>,
    capacity: Capacity,
    used: Capacity,
    free: Capacity,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HostInstance {
    id: i64,
    uuid: String,
    account: i64,
    label: String,
    size: Capacity,
    /// Whether it is migrating here rather than running here.
    arriving: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StuckInstance {
    instance: i64,
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HostDetailBody {
    #[serde(flatten)]
    host: HostBody,
    instances: Vec<HostInstance>,
    /// While the host drains: the instances no other host can take, and why.
    stuck: Vec<StuckInstance>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct HostCreateBody {
    region: String,
    /// Unique; by default `{region}-{rack}-h{n}`.
    #[serde(default)]
    name: Option<String>,
    rack: String,
    capacity: Capacity,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct HostUpdateBody {
    #[serde(default)]
    rack: Option<String>,
    #[serde(default)]
    capacity: Option<Capacity>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct HostQuery {
    region: Option<String>,
    rack: Option<String>,
    /// `active`, `draining`, `maintenance` or `failed`.
    state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberBody {
    instance: i64,
    uuid: String,
    /// The host it stands on; `null` while it is offline.
    host: Option<HostRef>,
    is_compliant: bool,
    /// Why it is not compliant.
    reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupBody {
    id: i64,
    uuid: String,
    account: i64,
    label: String,
    description: String,
    /// The group's region, or `null` for a global group.
    region: Option<String>,
    /// `anti-affinity` or `affinity`.
    kind: &'static str,
    /// `strict` or `flexible`.
    policy: &'static str,
    /// `host` or `rack`.
    failure_domain: &'static str,
    max_per_domain: u32,
    max_members: Option<u32>,
    is_compliant: bool,
    /// In join order: the later joiner of a collision is the non-compliant one.
    members: Vec<MemberBody>,
    inbound: Vec<i64>,
    outbound: Vec<i64>,
    /// Why repair cannot make the group compliant, as of its last attempt.
    repair_note: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct GroupQuery {
    account: Option<i64>,
    region: Option<String>,
    compliant: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct InstanceQuery {
    account: Option<i64>,
    region: Option<String>,
    /// A host id or name.
    host: Option<String>,
    offline: Option<bool>,
}

/// What to place, for a dry run: a type (Linode or Exoscale) or a size.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ExplainPlacementBody {
    region: String,
    #[serde(rename = "type", default)]
    type_id: Option<String>,
    /// The disk in GiB, for an Exoscale type (whose disk is chosen per instance).
    #[serde(default)]
    disk_gib: Option<u64>,
    #[serde(default)]
    size: Option<Capacity>,
    #[serde(default)]
    groups: Vec<i64>,
    /// Treat flexible groups as strict.
    #[serde(default)]
    compliant_only: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Candidate {
    host: HostRef,
    /// How many flexible groups the instance would break there.
    flexible_breaches: u32,
    free: Capacity,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExclusionGroup {
    /// Why, e.g. `lack memory` or `hold a member of group 7 (web)`.
    reason: String,
    count: usize,
    hosts: Vec<HostRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Breach {
    group: i64,
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExplainBody {
    /// The host the engine would choose; `null` when none qualifies.
    chosen: Option<HostRef>,
    /// Why it won (or why nothing could).
    why: String,
    /// The flexible groups the instance would break on the chosen host.
    breaches: Vec<Breach>,
    /// Every host that could take it, in the engine's order of preference.
    candidates: Vec<Candidate>,
    /// Every host that could not, grouped by reason.
    excluded: Vec<ExclusionGroup>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ExplainAssignmentBody {
    instance: i64,
    group: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssignmentBody {
    instance: i64,
    group: i64,
    /// `compliant`: it may join and the group stays as it is; `non_compliant`: it may join
    /// (flexible group) and becomes non-compliant; `refused`: the strict group refuses it.
    verdict: &'static str,
    reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct HeadroomQuery {
    /// A Linode or Exoscale type; or give `vcpus` and `memory_mib`.
    #[serde(rename = "type")]
    type_id: Option<String>,
    disk_gib: Option<u64>,
    vcpus: Option<u32>,
    memory_mib: Option<u64>,
    disk_mib: Option<u64>,
    gpus: Option<u32>,
    /// The region to measure a global group in.
    region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HeadroomBody {
    group: i64,
    region: String,
    size: Capacity,
    /// How many more members of this size fit now.
    now: u32,
    /// How many would still fit after losing the worst single host.
    after_worst_host: u32,
    worst_host: Option<HostRef>,
    /// How many would still fit after losing the worst single rack.
    after_worst_rack: u32,
    worst_rack: Option<String>,
}

fn region_body(region: Region) -> RegionBody {
    RegionBody {
        id: region.id.to_string(),
        label: region.label,
        country: region.country,
        status: region.status,
        site_type: region.site_type,
        max_members_per_group: region.max_members_per_group,
        max_groups_per_account: region.max_groups_per_account,
    }
}

fn host_ref(host: &Host) -> HostRef {
    HostRef { id: host.id.0, name: host.name.clone(), rack: host.rack.clone() }
}

pub(crate) fn host_body(host: &Host) -> HostBody {
    HostBody {
        id: host.id.0,
        name: host.name.clone(),
        uuid: host.uuid.clone(),
        region: host.region.to_string(),
        rack: host.rack.clone(),
        state: host.state.as_str(),
        labels: host.labels.clone(),
        capacity: host.capacity.into(),
        used: host.used.into(),
        free: host.free().into(),
    }
}

fn group_body(detail: GroupDetail) -> GroupBody {
    let group = &detail.view.group;
    GroupBody {
        id: group.id.0,
        uuid: group.uuid.clone(),
        account: group.account.0,
        label: group.label.to_string(),
        description: group.description.clone(),
        region: match &group.scope {
            Scope::Region(region) => Some(region.to_string()),
            Scope::Global => None,
        },
        kind: match group.kind {
            GroupKind::AntiAffinity => "anti-affinity",
            GroupKind::Affinity => "affinity",
        },
        policy: match group.policy {
            Policy::Strict => "strict",
            Policy::Flexible => "flexible",
        },
        failure_domain: group.domain.as_str(),
        max_per_domain: group.max_per_domain,
        max_members: group.max_members,
        is_compliant: detail.view.is_compliant,
        members: detail
            .view
            .members
            .iter()
            .map(|m| MemberBody {
                instance: m.instance.0,
                uuid: m.uuid.clone(),
                host: detail.hosts.get(&m.instance).and_then(|h| h.as_ref().map(host_ref)),
                is_compliant: m.is_compliant,
                reason: m.reason.clone(),
            })
            .collect(),
        inbound: detail.view.inbound.iter().map(|i| i.0).collect(),
        outbound: detail.view.outbound.iter().map(|i| i.0).collect(),
        repair_note: detail.repair_note,
    }
}

fn region_id(field: &str, value: &str) -> Result<RegionId> {
    RegionId::parse(value).map_err(|_| V1Error::invalid(field, format!("{value} is not a region id")))
}

fn host_state(value: &str) -> Result<HostState> {
    match value {
        "active" => Ok(HostState::Active),
        "draining" => Ok(HostState::Draining),
        "maintenance" => Ok(HostState::Maintenance),
        "failed" => Ok(HostState::Failed),
        _ => Err(V1Error::invalid("state", "state must be active, draining, maintenance or failed")),
    }
}

/// A size from a type (with its disk when the type leaves it open) or from explicit amounts.
fn size_of(type_id: Option<&str>, disk_gib: Option<u64>, explicit: Option<Capacity>) -> Result<Resources> {
    match (type_id, explicit) {
        (Some(type_id), None) => {
            let (mut size, disk_included) = crate::catalog::type_size(type_id)
                .ok_or_else(|| V1Error::invalid("type", format!("{type_id} is not an instance type")))?;
            match (disk_included, disk_gib) {
                (_, Some(disk)) => size.disk_mib = disk.saturating_mul(1024),
                (true, None) => {}
                (false, None) => return Err(V1Error::invalid("disk_gib", "this type needs disk_gib")),
            }
            Ok(size)
        }
        (None, Some(capacity)) if capacity.vcpus > 0 && capacity.memory_mib > 0 => Ok(capacity.into()),
        (None, Some(_)) => Err(V1Error::invalid("size", "a size needs vCPUs and memory")),
        _ => Err(V1Error::invalid("type", "give a type or a size, not both or neither")),
    }
}

/// Every region.
#[utoipa::path(get, path = "/v1/regions", operation_id = "region_list", tag = "fleet",
    responses((status = 200, body = [RegionBody]), (status = 401, body = super::ErrorBody)))]
pub(crate) async fn region_list(State(state): State<AppState>, _: Operator) -> Result<Json<Vec<RegionBody>>> {
    Ok(Json(state.berth.regions().await?.into_iter().map(region_body).collect()))
}

/// Creates a region, with its limits.
#[utoipa::path(post, path = "/v1/regions", operation_id = "region_create", tag = "fleet",
    request_body = RegionCreateBody,
    responses((status = 201, body = RegionBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn region_create(
    State(state): State<AppState>,
    _: Operator,
    V1Body(body): V1Body<RegionCreateBody>,
) -> Result<(StatusCode, Json<RegionBody>)> {
    let create = RegionCreate {
        id: region_id("id", &body.id)?,
        label: body.label,
        country: body.country,
        max_members_per_group: body.max_members_per_group,
        max_groups_per_account: body.max_groups_per_account,
    };
    Ok((StatusCode::CREATED, Json(region_body(state.berth.region_create(create).await?))))
}

/// One region.
#[utoipa::path(get, path = "/v1/regions/{region}", operation_id = "region_view", tag = "fleet",
    params(("region" = String, Path)),
    responses((status = 200, body = RegionBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn region_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path(region): V1Path<String>,
) -> Result<Json<RegionBody>> {
    let id =
        RegionId::parse(&region).map_err(|_| V1Error::from(berth_core::Error::not_found(berth_core::Thing::Region)))?;
    Ok(Json(region_body(state.berth.region(&id).await?)))
}

/// Hosts, filtered by region, rack and state.
#[utoipa::path(get, path = "/v1/hosts", operation_id = "host_list", tag = "fleet", params(HostQuery),
    responses((status = 200, body = [HostBody]), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub(crate) async fn host_list(
    State(state): State<AppState>,
    _: Operator,
    V1Query(query): V1Query<HostQuery>,
) -> Result<Json<Vec<HostBody>>> {
    let filter = HostFilter {
        region: query.region.as_deref().map(|r| region_id("region", r)).transpose()?,
        rack: query.rack,
        state: query.state.as_deref().map(host_state).transpose()?,
    };
    Ok(Json(state.berth.hosts_filtered(&filter).await?.iter().map(host_body).collect()))
}

/// Registers a host; it takes placements at once.
#[utoipa::path(post, path = "/v1/hosts", operation_id = "host_register", tag = "fleet",
    request_body = HostCreateBody,
    responses((status = 201, body = HostBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn host_register(
    State(state): State<AppState>,
    _: Operator,
    V1Body(body): V1Body<HostCreateBody>,
) -> Result<(StatusCode, Json<HostBody>)> {
    let create = HostCreate {
        region: region_id("region", &body.region)?,
        name: body.name,
        rack: body.rack,
        capacity: body.capacity.into(),
        labels: body.labels,
    };
    Ok((StatusCode::CREATED, Json(host_body(&state.berth.host_register(create).await?))))
}

async fn host_detail_body(state: &AppState, key: &str) -> Result<HostDetailBody> {
    let detail = state.berth.host_detail(key).await?;
    Ok(HostDetailBody {
        instances: detail
            .instances
            .iter()
            .map(|i| HostInstance {
                id: i.id.0,
                uuid: i.uuid.clone(),
                account: i.account.0,
                label: i.label.to_string(),
                size: i.size.into(),
                arriving: i.target_host == Some(detail.host.id),
            })
            .collect(),
        stuck: detail
            .stuck
            .iter()
            .map(|(id, reason)| StuckInstance { instance: id.0, reason: reason.clone() })
            .collect(),
        host: host_body(&detail.host),
    })
}

/// One host, by id or name, with its instances and free capacity.
#[utoipa::path(get, path = "/v1/hosts/{host}", operation_id = "host_view", tag = "fleet",
    params(("host" = String, Path, description = "The host's id or name")),
    responses((status = 200, body = HostDetailBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn host_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path(host): V1Path<String>,
) -> Result<Json<HostDetailBody>> {
    Ok(Json(host_detail_body(&state, &host).await?))
}

/// Changes a host's rack, capacity or labels; capacity cannot go below what is in use.
#[utoipa::path(patch, path = "/v1/hosts/{host}", operation_id = "host_update", tag = "fleet",
    params(("host" = String, Path)), request_body = HostUpdateBody,
    responses((status = 200, body = HostBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub(crate) async fn host_update(
    State(state): State<AppState>,
    _: Operator,
    V1Path(host): V1Path<String>,
    V1Body(body): V1Body<HostUpdateBody>,
) -> Result<Json<HostBody>> {
    let update = HostUpdate { rack: body.rack, capacity: body.capacity.map(Into::into), labels: body.labels };
    Ok(Json(host_body(&state.berth.host_update(&host, update).await?)))
}

/// Drains a host: nothing new lands on it, and its instances are moved away.
#[utoipa::path(post, path = "/v1/hosts/{host}/drain", operation_id = "host_drain", tag = "fleet",
    params(("host" = String, Path)),
    responses((status = 200, body = HostDetailBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn host_drain(
    State(state): State<AppState>,
    _: Operator,
    V1Path(host): V1Path<String>,
) -> Result<Json<HostDetailBody>> {
    state.berth.host_drain(&host).await?;
    Ok(Json(host_detail_body(&state, &host).await?))
}

/// Puts a drained host in maintenance.
#[utoipa::path(post, path = "/v1/hosts/{host}/maintenance", operation_id = "host_maintenance", tag = "fleet",
    params(("host" = String, Path)),
    responses((status = 200, body = HostDetailBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn host_maintenance(
    State(state): State<AppState>,
    _: Operator,
    V1Path(host): V1Path<String>,
) -> Result<Json<HostDetailBody>> {
    state.berth.host_maintenance(&host).await?;
    Ok(Json(host_detail_body(&state, &host).await?))
}

/// Returns a host to service.
#[utoipa::path(post, path = "/v1/hosts/{host}/activate", operation_id = "host_activate", tag = "fleet",
    params(("host" = String, Path)),
    responses((status = 200, body = HostDetailBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn host_activate(
    State(state): State<AppState>,
    _: Operator,
    V1Path(host): V1Path<String>,
) -> Result<Json<HostDetailBody>> {
    state.berth.host_activate(&host).await?;
    Ok(Json(host_detail_body(&state, &host).await?))
}

/// Fails a host: its instances are started elsewhere at once, or wait offline.
#[utoipa::path(post, path = "/v1/hosts/{host}/fail", operation_id = "host_fail", tag = "fleet",
    params(("host" = String, Path)),
    responses((status = 200, body = HostDetailBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn host_fail(
    State(state): State<AppState>,
    _: Operator,
    V1Path(host): V1Path<String>,
) -> Result<Json<HostDetailBody>> {
    let detail = state.berth.host_fail(&host).await?;
    let mut body = host_detail_body(&state, &host).await?;
    body.stuck =
        detail.stuck.iter().map(|(id, reason)| StuckInstance { instance: id.0, reason: reason.clone() }).collect();
    Ok(Json(body))
}

/// Groups of every account, with each member's host and compliance.
#[utoipa::path(get, path = "/v1/groups", operation_id = "group_list", tag = "fleet", params(GroupQuery),
    responses((status = 200, body = [GroupBody]), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub(crate) async fn group_list(
    State(state): State<AppState>,
    _: Operator,
    V1Query(query): V1Query<GroupQuery>,
) -> Result<Json<Vec<GroupBody>>> {
    let filter = GroupFilter {
        account: query.account.map(AccountId),
        region: query.region.as_deref().map(|r| region_id("region", r)).transpose()?,
        compliant: query.compliant,
    };
    Ok(Json(state.berth.groups_operator(&filter).await?.into_iter().map(group_body).collect()))
}

/// One group, with each member's host, compliance and reason.
#[utoipa::path(get, path = "/v1/groups/{id}", operation_id = "group_view", tag = "fleet",
    params(("id" = i64, Path)),
    responses((status = 200, body = GroupBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn group_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path(id): V1Path<i64>,
) -> Result<Json<GroupBody>> {
    Ok(Json(group_body(state.berth.group_operator(GroupId(id)).await?)))
}

/// How many more members of a size a group can take, now and after losing its worst host and
/// worst rack.
#[utoipa::path(get, path = "/v1/groups/{id}/headroom", operation_id = "group_headroom", tag = "fleet",
    params(("id" = i64, Path), HeadroomQuery),
    responses((status = 200, body = HeadroomBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn group_headroom(
    State(state): State<AppState>,
    _: Operator,
    V1Path(id): V1Path<i64>,
    V1Query(query): V1Query<HeadroomQuery>,
) -> Result<Json<HeadroomBody>> {
    let explicit = match (query.vcpus, query.memory_mib) {
        (Some(vcpus), Some(memory_mib)) => {
            Some(Capacity { vcpus, memory_mib, disk_mib: query.disk_mib.unwrap_or(0), gpus: query.gpus.unwrap_or(0) })
        }
        (None, None) => None,
        _ => return Err(V1Error::invalid("vcpus", "give both vcpus and memory_mib")),
    };
    let size = size_of(query.type_id.as_deref(), query.disk_gib, explicit)?;
    let region = query.region.as_deref().map(|r| region_id("region", r)).transpose()?;
    let (group, region, headroom) = state.berth.headroom(GroupId(id), size, region).await?;
    let hosts = state.berth.hosts(&region).await?;
    Ok(Json(HeadroomBody {
        group: group.id.0,
        region: region.to_string(),
        size: size.into(),
        now: headroom.now,
        after_worst_host: headroom.after_worst_host,
        worst_host: headroom.worst_host.and_then(|h| hosts.iter().find(|host| host.id == h)).map(host_ref),
        after_worst_rack: headroom.after_worst_rack,
        worst_rack: headroom.worst_rack.map(|rack| rack.rsplit('/').next().unwrap_or(&rack).to_string()),
    }))
}

/// Instances of every account, filtered.
#[utoipa::path(get, path = "/v1/instances", operation_id = "instance_list", tag = "fleet", params(InstanceQuery),
    responses((status = 200, body = [InstanceDetail]), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub(crate) async fn instance_list(
    State(state): State<AppState>,
    _: Operator,
    V1Query(query): V1Query<InstanceQuery>,
) -> Result<Json<Vec<InstanceDetail>>> {
    let host = match &query.host {
        Some(key) => Some(state.berth.host_detail(key).await?.host.id),
        None => None,
    };
    let filter = InstanceFilter {
        account: query.account.map(AccountId),
        region: query.region.as_deref().map(|r| region_id("region", r)).transpose()?,
        host,
        offline: query.offline,
    };
    let views = state.berth.instances_operator(&filter).await?;
    let hosts: Vec<Host> = state.berth.hosts_filtered(&HostFilter::default()).await?;
    Ok(Json(views.iter().map(|view| detail(view, &hosts)).collect()))
}

/// A dry run of a placement: the host the engine would choose and why, and every excluded
/// host grouped by reason. Nothing changes.
#[utoipa::path(post, path = "/v1/explain/placement", operation_id = "explain_placement", tag = "fleet",
    request_body = ExplainPlacementBody,
    responses((status = 200, body = ExplainBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub(crate) async fn explain_placement(
    State(state): State<AppState>,
    _: Operator,
    V1Body(body): V1Body<ExplainPlacementBody>,
) -> Result<Json<ExplainBody>> {
    let size = size_of(body.type_id.as_deref(), body.disk_gib, body.size)?;
    let request = ExplainPlacement {
        region: region_id("region", &body.region)?,
        size,
        groups: body.groups.iter().map(|g| GroupId(*g)).collect(),
        compliant_only: body.compliant_only,
    };
    let explained = state.berth.explain_placement(&request).await?;
    Ok(Json(ExplainBody {
        chosen: explained.chosen.as_ref().map(host_ref),
        why: explained.why.clone(),
        breaches: explained.breaches.iter().map(|(g, reason)| Breach { group: g.0, reason: reason.clone() }).collect(),
        candidates: explained
            .candidates
            .iter()
            .map(|(host, cost)| Candidate { host: host_ref(host), flexible_breaches: *cost, free: host.free().into() })
            .collect(),
        excluded: explained
            .excluded
            .iter()
            .map(|(reason, hosts)| ExclusionGroup {
                reason: reason.clone(),
                count: hosts.len(),
                hosts: hosts.iter().map(host_ref).collect(),
            })
            .collect(),
    }))
}

/// A dry run of assigning an existing instance to a group where it stands.
#[utoipa::path(post, path = "/v1/explain/assignment", operation_id = "explain_assignment", tag = "fleet",
    request_body = ExplainAssignmentBody,
    responses((status = 200, body = AssignmentBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub(crate) async fn explain_assignment(
    State(state): State<AppState>,
    _: Operator,
    V1Body(body): V1Body<ExplainAssignmentBody>,
) -> Result<Json<AssignmentBody>> {
    let (assessment, _, group) = state.berth.explain_assignment(InstanceId(body.instance), GroupId(body.group)).await?;
    let (verdict, reason) = match assessment {
        JoinAssessment::Compliant => ("compliant", None),
        JoinAssessment::NonCompliant(breach) => ("non_compliant", Some(breach.to_string())),
        JoinAssessment::Refused(breach) => ("refused", Some(breach.to_string())),
    };
    Ok(Json(AssignmentBody { instance: body.instance, group: group.id.0, verdict, reason }))
}
