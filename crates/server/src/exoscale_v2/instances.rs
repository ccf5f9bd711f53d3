//! `/instance`: instances of one zone, placed by the engine; membership of anti-affinity groups
//! is set at creation and never changes.

use crate::catalog::{exoscale_type, template};
use axum::Json;
use axum::extract::State;
use berth_core::{
    Error, Field, GroupChoice, GroupKey, InstanceCreate, InstanceSelection, InstanceState, InstanceUpdate,
    InstanceView, Label, OperationReference, OperationRequest, OperationState, Principal, Region, Resources,
};

use super::wire::{self, InstanceCreateBody, InstanceUpdateBody};
use super::{ExoError, ExoId, Result, Signed, canonical_uuid};
use crate::AppState;

pub(crate) async fn list(State(state): State<AppState>, request: Signed) -> Result<Json<wire::Instances>> {
    // The zone's instances alone: the store narrows the account's list to them.
    let zone = InstanceSelection { region: Some(request.zone.id.to_string()), ..InstanceSelection::default() };
    let instances = state.berth.instances_selected(&request.principal, &zone).await?;
    let instances = instances.iter().map(|i| wire::instance(i, false)).collect();
    Ok(Json(wire::Instances { instances }))
}

/// Creates an instance. A request that cannot be valid is a 400 and creates nothing; a valid
/// one that no host can take ends in a failed operation with reason `unavailable`, and leaves
/// nothing behind either.
pub(crate) async fn create(State(state): State<AppState>, request: Signed) -> Result<Json<wire::OperationBody>> {
    let body: InstanceCreateBody = request.json()?;
    let type_id = reference_id(body.instance_type, "instance-type")?;
    let instance_type =
        exoscale_type(&type_id).ok_or_else(|| ExoError::bad_request(format!("instance type {type_id} not found")))?;
    let template_id = reference_id(body.template, "template")?;
    let template =
        template(&template_id).ok_or_else(|| ExoError::bad_request(format!("template {template_id} not found")))?;
    let disk = wire::disk_size(body.disk_size)?;
    let name = match body.name.as_deref() {
        Some(name) => wire::instance_name(name)?,
        // 64 random bits, as a hostname: two defaults in one account are as good as never.
        None => Label::parse(Field::Label, &format!("vm-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]))?,
    };
    wire::user_data(body.user_data.as_deref())?;
    wire::public_ip_assignment(body.public_ip_assignment.as_deref())?;
    for (field, references) in [("security-groups", &body.security_groups)] {
        if references.as_ref().is_some_and(|list| list.iter().any(|r| r.id.is_none())) {
            return Err(ExoError::bad_request(format!("Invalid value in {field} - every item needs an id")));
        }
    }
    let groups = body
        .anti_affinity_groups
        .unwrap_or_default()
        .into_iter()
        .map(|reference| {
            let id = reference_id(Some(reference), "anti-affinity-groups")?;
            Ok(GroupChoice { group: GroupKey::Global(id), compliant_only: false })
        })
        .collect::<Result<Vec<_>>>()?;
    let size = Resources {
        vcpus: instance_type.cpus,
        memory_mib: instance_type.memory_mib,
        disk_mib: disk.saturating_mul(1024),
        gpus: instance_type.gpus,
    };
    let create = InstanceCreate {
        label: name,
        unique_label: false,
        region: request.zone.id.clone(),
        type_id: instance_type.id.to_string(),
        size,
        image: Some(template.id.to_string()),
        tags: Vec::new(),
        labels: wire::labels(body.labels)?,
        firewall: None,
        groups,
        state: if body.auto_start.unwrap_or(true) { InstanceState::Running } else { InstanceState::Stopped },
    };
    let operation = match state.berth.instance_create_with_operation(&request.principal, create, OPERATION).await {
        Ok((_, operation)) => operation,
        Err(Error::Refused { refusal, .. }) => {
            // The instance that could not be placed never existed; the reference names the id
            // it would have had, as the failed operation's subject.
            let id = uuid::Uuid::new_v4().to_string();
            let message = super::error::refused(&refusal);
            let failure = (OperationState::Failure, Some("unavailable"), message.as_str(), reference(&id));
            state.berth.operation_record(&request.principal, failure.0, failure.1, failure.2, failure.3).await?
        }
        Err(error) => return Err(error.into()),
    };
    Ok(Json(wire::operation(&operation)))
}

pub(crate) async fn view(State(state): State<AppState>, id: ExoId, request: Signed) -> Result<Json<wire::Instance>> {
    let view = in_zone(&state, &request.principal, &request.zone, &id).await?;
    Ok(Json(wire::instance(&view, true)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    id: ExoId,
    request: Signed,
) -> Result<Json<wire::OperationBody>> {
    let view = in_zone(&state, &request.principal, &request.zone, &id).await?;
    let body: InstanceUpdateBody = request.json()?;
    wire::user_data(body.user_data.as_deref())?;
    wire::public_ip_assignment(body.public_ip_assignment.as_deref())?;
    let update = InstanceUpdate {
        label: body.name.as_deref().map(wire::instance_name).transpose()?,
        unique_label: false,
        tags: None,
        labels: body.labels.map(|labels| wire::labels(Some(labels))).transpose()?,
    };
    let (_, operation) =
        state.berth.instance_update_with_operation(&request.principal, view.instance.id, update, OPERATION).await?;
    Ok(Json(wire::operation(&operation)))
}

/// Deletes an instance: its host's capacity is released and it leaves its groups.
pub(crate) async fn delete(
    State(state): State<AppState>,
    id: ExoId,
    request: Signed,
) -> Result<Json<wire::OperationBody>> {
    let view = in_zone(&state, &request.principal, &request.zone, &id).await?;
    let operation = state.berth.instance_delete_with_operation(&request.principal, view.instance.id, OPERATION).await?;
    Ok(Json(wire::operation(&operation)))
}

/// The operation every change of an instance records, in the change's transaction.
const OPERATION: OperationRequest = OperationRequest { reference };

fn reference(id: &str) -> OperationReference {
    OperationReference { id: id.to_string(), link: format!("/v2/instance/{id}"), command: "get-instance".to_string() }
}

fn reference_id(reference: Option<wire::Reference>, field: &str) -> Result<String> {
    let id =
        reference.and_then(|r| r.id).ok_or_else(|| ExoError::bad_request(format!("Missing value for {field}.id")))?;
    canonical_uuid(&id).ok_or_else(|| ExoError::bad_request(format!("Invalid value in {field}.id - should be a UUID")))
}

/// An instance of the caller in the zone the request addresses; elsewhere it does not exist.
async fn in_zone(state: &AppState, principal: &Principal, zone: &Region, id: &ExoId) -> Result<InstanceView> {
    let id = id.uuid("instance")?;
    let view = state.berth.instance_get_by_uuid(principal, &id).await?;
    if view.instance.region != zone.id {
        return Err(ExoError::not_found(format!("instance {id} not found")));
    }
    Ok(view)
}
