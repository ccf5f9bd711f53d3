//! `/v1/migrations` and `/v1/migration-jobs`: the moves berth runs, and the jobs an external
//! executor's agents claim, renew, complete and fail.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::{GroupId, InstanceId, Migration, MigrationFilter, MigrationId, MigrationReason, MigrationState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Operator, Result, V1Body, V1Error, V1Path, V1Query};
use crate::{AppState, time_format};

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MigrationBody {
    id: i64,
    account: i64,
    instance: i64,
    source_host: i64,
    target_host: i64,
    source_region: String,
    target_region: String,
    source_group: Option<i64>,
    target_group: Option<i64>,
    /// `user_request`, `repair`, `drain` or `failure`.
    reason: &'static str,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    state: &'static str,
    /// The repair or drain plan it belongs to.
    plan: Option<i64>,
    created: String,
    started: Option<String>,
    /// When a running migration completes, with the embedded executor.
    due: Option<String>,
    finished: Option<String>,
    /// The agent holding it, with an external executor.
    claimed_by: Option<String>,
    lease_expires: Option<String>,
    /// Why it failed.
    failure: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct MigrationQuery {
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    state: Option<String>,
    instance: Option<i64>,
    group: Option<i64>,
    /// `user_request`, `repair`, `drain` or `failure`.
    reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AgentBody {
    /// The agent's name: 1–64 letters, digits, `-`, `_` or `.`.
    agent: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct JobFailBody {
    agent: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobBody {
    migration: MigrationBody,
    /// Renew the lease before this time with a heartbeat, or the migration is rolled back.
    lease_expires: String,
}

pub(crate) fn migration_body(migration: &Migration) -> MigrationBody {
    let running = migration.state == MigrationState::Running;
    MigrationBody {
        id: migration.id.0,
        account: migration.account.0,
        instance: migration.instance.0,
        source_host: migration.source_host.0,
        target_host: migration.target_host.0,
        source_region: migration.source_region.to_string(),
        target_region: migration.target_region.to_string(),
        source_group: migration.source_group.map(|g| g.0),
        target_group: migration.target_group.map(|g| g.0),
        reason: migration.reason.as_str(),
        state: migration.state.as_str(),
        plan: migration.plan,
        created: time_format::rfc3339(migration.created_at),
        started: migration.started_at.map(time_format::rfc3339),
        due: (running && migration.due_at.0 != i64::MAX).then(|| time_format::rfc3339(migration.due_at)),
        finished: migration.finished_at.map(time_format::rfc3339),
        claimed_by: migration.claimed_by.clone(),
        lease_expires: migration.lease_expires_at.map(time_format::rfc3339),
        failure: migration.failure.clone(),
    }
}

/// Migrations of every account, newest first, filtered.
#[utoipa::path(get, path = "/v1/migrations", operation_id = "migration_list", tag = "migrations",
    params(MigrationQuery),
    responses((status = 200, body = [MigrationBody]), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody)))]
pub(crate) async fn migration_list(
    State(state): State<AppState>,
    _: Operator,
    V1Query(query): V1Query<MigrationQuery>,
) -> Result<Json<Vec<MigrationBody>>> {
    let filter = MigrationFilter {
        state: query
            .state
            .as_deref()
            .map(|s| {
                MigrationState::parse(s).ok_or_else(|| {
                    V1Error::invalid("state", "state must be queued, running, succeeded, failed or cancelled")
                })
            })
            .transpose()?,
        instance: query.instance.map(InstanceId),
        group: query.group.map(GroupId),
        reason: query
            .reason
            .as_deref()
            .map(|r| {
                MigrationReason::parse(r)
                    .ok_or_else(|| V1Error::invalid("reason", "reason must be user_request, repair, drain or failure"))
            })
            .transpose()?,
    };
    Ok(Json(state.berth.migrations(&filter).await?.iter().map(migration_body).collect()))
}

/// The migrations queued to run, in the order they will start.
#[utoipa::path(get, path = "/v1/migrations/plan", operation_id = "migration_plan", tag = "migrations",
    responses((status = 200, body = [MigrationBody]), (status = 401, body = super::ErrorBody)))]
pub(crate) async fn migration_plan(State(state): State<AppState>, _: Operator) -> Result<Json<Vec<MigrationBody>>> {
    Ok(Json(state.berth.migration_plan().await?.iter().map(migration_body).collect()))
}

/// One migration.
#[utoipa::path(get, path = "/v1/migrations/{id}", operation_id = "migration_view", tag = "migrations",
    params(("id" = i64, Path)),
    responses((status = 200, body = MigrationBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn migration_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path(id): V1Path<i64>,
) -> Result<Json<MigrationBody>> {
    Ok(Json(migration_body(&state.berth.migration(MigrationId(id)).await?)))
}

/// Claims the oldest running migration that no live lease holds (204 when there is none).
#[utoipa::path(post, path = "/v1/migration-jobs/claim", operation_id = "job_claim", tag = "migrations",
    request_body = AgentBody,
    responses((status = 200, body = JobBody), (status = 204, description = "Nothing to claim"),
        (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub(crate) async fn job_claim(
    State(state): State<AppState>,
    _: Operator,
    V1Body(body): V1Body<AgentBody>,
) -> Result<Response> {
    Ok(match state.berth.migration_claim(&body.agent).await? {
        Some(job) => Json(JobBody {
            migration: migration_body(&job.migration),
            lease_expires: time_format::rfc3339(job.lease_expires_at),
        })
        .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Renews the lease on a migration the agent holds.
#[utoipa::path(post, path = "/v1/migration-jobs/{id}/heartbeat", operation_id = "job_heartbeat",
    tag = "migrations", params(("id" = i64, Path)), request_body = AgentBody,
    responses((status = 200, body = JobBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn job_heartbeat(
    State(state): State<AppState>,
    _: Operator,
    V1Path(id): V1Path<i64>,
    V1Body(body): V1Body<AgentBody>,
) -> Result<Json<JobBody>> {
    let job = state.berth.migration_heartbeat(MigrationId(id), &body.agent).await?;
    Ok(Json(JobBody {
        migration: migration_body(&job.migration),
        lease_expires: time_format::rfc3339(job.lease_expires_at),
    }))
}

/// Reports a migration the agent holds done.
#[utoipa::path(post, path = "/v1/migration-jobs/{id}/complete", operation_id = "job_complete",
    tag = "migrations", params(("id" = i64, Path)), request_body = AgentBody,
    responses((status = 200, body = MigrationBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn job_complete(
    State(state): State<AppState>,
    _: Operator,
    V1Path(id): V1Path<i64>,
    V1Body(body): V1Body<AgentBody>,
) -> Result<Json<MigrationBody>> {
    Ok(Json(migration_body(&state.berth.migration_job_complete(MigrationId(id), &body.agent).await?)))
}

/// Reports a migration the agent holds failed: it is rolled back and retried elsewhere.
#[utoipa::path(post, path = "/v1/migration-jobs/{id}/fail", operation_id = "job_fail", tag = "migrations",
    params(("id" = i64, Path)), request_body = JobFailBody,
    responses((status = 200, body = MigrationBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub(crate) async fn job_fail(
    State(state): State<AppState>,
    _: Operator,
    V1Path(id): V1Path<i64>,
    V1Body(body): V1Body<JobFailBody>,
) -> Result<Json<MigrationBody>> {
    Ok(Json(migration_body(&state.berth.migration_job_fail(MigrationId(id), &body.agent, &body.reason).await?)))
}
