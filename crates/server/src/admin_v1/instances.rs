//! `/v1/instances`: any account's instance, with the hosts it stands on.

use axum::Json;
use axum::extract::State;
use berth_core::{Host, InstanceView, Scope};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Operator, Result, V1Path};
use crate::AppState;

/// An instance as the operator sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InstanceDetail {
    /// The integer id (the Linode dialect's).
    id: i64,
    /// The UUID (the Exoscale dialect's).
    uuid: String,
    /// The account that owns it.
    account: i64,
    label: String,
    region: String,
    /// `running`, `stopped`, `migrating` or `offline`.
    state: &'static str,
    /// Why it is offline: its host failed and no other could take it.
    offline_reason: Option<String>,
    /// The host it runs on; `null` while it is offline.
    host: Option<HostSummary>,
    /// The host a migration is moving it to.
    target_host: Option<HostSummary>,
    /// Its groups, in the order it joined them.
    groups: Vec<GroupSummary>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HostSummary {
    id: i64,
    name: String,
    uuid: String,
    region: String,
    rack: String,
    /// `active`, `draining`, `maintenance` or `failed`.
    state: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupSummary {
    id: i64,
    uuid: String,
    label: String,
    /// The group's region, or `null` for a global group.
    region: Option<String>,
}

/// One instance of any account, by integer id or UUID.
#[utoipa::path(
    get,
    path = "/v1/instances/{id}",
    operation_id = "instance_view",
    params(("id" = String, Path, description = "The instance's integer id or UUID")),
    security(("operator" = [])),
    responses(
        (status = 200, description = "The instance", body = InstanceDetail),
        (status = 401, description = "No valid operator token", body = super::ErrorBody),
        (status = 404, description = "No such instance", body = super::ErrorBody),
    ),
    tag = "instances"
)]
pub(crate) async fn view(
    State(state): State<AppState>,
    _operator: Operator,
    V1Path(id): V1Path<String>,
) -> Result<Json<InstanceDetail>> {
    let (view, hosts) = state.berth.operator_instance(&id).await?;
    Ok(Json(detail(&view, &hosts)))
}

pub(crate) fn detail(view: &InstanceView, hosts: &[Host]) -> InstanceDetail {
    let instance = &view.instance;
    let summary = |id: Option<berth_core::HostId>| {
        let host = hosts.iter().find(|h| Some(h.id) == id)?;
        Some(HostSummary {
            id: host.id.0,
            name: host.name.clone(),
            uuid: host.uuid.clone(),
            region: host.region.to_string(),
            rack: host.rack.clone(),
            state: host.state.as_str(),
        })
    };
    InstanceDetail {
        id: instance.id.0,
        uuid: instance.uuid.clone(),
        account: instance.account.0,
        label: instance.label.to_string(),
        region: instance.region.to_string(),
        state: if instance.is_offline() {
            "offline"
        } else if view.is_migrating() {
            "migrating"
        } else {
            instance.state.as_str()
        },
        offline_reason: instance.offline_reason.clone(),
        host: summary(instance.host),
        target_host: summary(instance.target_host),
        groups: view
            .groups
            .iter()
            .map(|g| GroupSummary {
                id: g.id.0,
                uuid: g.uuid.clone(),
                label: g.label.to_string(),
                region: match &g.scope {
                    Scope::Region(region) => Some(region.to_string()),
                    Scope::Global => None,
                },
            })
            .collect(),
    }
}
