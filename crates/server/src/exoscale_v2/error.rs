//! The Exoscale dialect's one error mapping: core's facts, and the shared plumbing's refusals,
//! as `{"message": ...}` with the status Exoscale gives: 400 for a request that cannot be
//! valid, 404 for an unknown resource, 409 for a state that forbids the change, 403 for a
//! refused credential or permission.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::{Conflict, Error, Field, Limit, Problem, Refusal, Thing};

use super::wire;
use crate::http;

/// An error in the Exoscale format: `{"message": ...}`.
#[derive(Debug)]
pub(crate) struct ExoError {
    status: StatusCode,
    message: String,
}

impl ExoError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ExoError {
        ExoError { status, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ExoError {
        ExoError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ExoError {
        ExoError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ExoError {
        ExoError::new(StatusCode::FORBIDDEN, message)
    }
}

impl IntoResponse for ExoError {
    fn into_response(self) -> Response {
        crate::with_retry_after(self.status, axum::Json(wire::ErrorBody { message: self.message }))
    }
}

impl From<Error> for ExoError {
    fn from(error: Error) -> ExoError {
        match &error {
            Error::Invalid { field, problem } => ExoError::bad_request(invalid(*field, problem)),
            Error::Limit { limit, .. } => ExoError::bad_request(limited(limit)),
            Error::Refused { refusal, .. } => ExoError::bad_request(refused(refusal)),
            Error::Conflict { conflict, .. } => ExoError::new(StatusCode::CONFLICT, conflicting(conflict)),
            Error::Forbidden(denial) => ExoError::forbidden(format!("Forbidden: {denial}")),
            Error::NotFound(thing) => ExoError::not_found(format!("{} not found", thing_name(*thing))),
            Error::Unauthenticated => ExoError::forbidden("Invalid request signature"),
            Error::Unavailable | Error::Contended => {
                ExoError::new(StatusCode::SERVICE_UNAVAILABLE, crate::unavailable_reason(&error))
            }
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = ?error, "request failed");
                ExoError::new(StatusCode::INTERNAL_SERVER_ERROR, "An unexpected error occurred; please try again")
            }
        }
    }
}

impl From<http::Refusal> for ExoError {
    fn from(refusal: http::Refusal) -> ExoError {
        let status = refusal.status();
        match refusal {
            http::Refusal::BadValue { path, message } => {
                ExoError::new(status, format!("Invalid value in {path}: {message}"))
            }
            other => ExoError::new(status, other.standard_text().unwrap_or_default()),
        }
    }
}

/// What Exoscale calls a kind of thing.
fn thing_name(thing: Thing) -> &'static str {
    match thing {
        Thing::GlobalGroup | Thing::Group => "anti-affinity group",
        Thing::Region => "zone",
        other => other.name(),
    }
}

/// How an Exoscale request spells an input.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Group => "anti-affinity-groups",
        Field::Label => "name",
        other => other.name(),
    }
}

fn invalid(field: Field, problem: &Problem) -> String {
    match (field, problem) {
        (Field::Group, Problem::Unknown(id)) => format!("anti-affinity group {id} not found"),
        (Field::Group, Problem::Repeated(id)) => {
            format!("Invalid value in anti-affinity-groups - {id} is listed twice")
        }
        (_, problem) => format!("Invalid value in {} - {problem}", field_name(field)),
    }
}

fn conflicting(conflict: &Conflict) -> String {
    match conflict {
        Conflict::GroupNotEmpty { group, members } => format!(
            "anti-affinity group {} still has {members} instance(s); delete them before deleting the group",
            group.uuid
        ),
        Conflict::GroupNotCompliant(group) => {
            format!("anti-affinity group {} is not compliant and cannot be deleted", group.uuid)
        }
        other => other.to_string(),
    }
}

fn limited(limit: &Limit) -> String {
    match limit {
        Limit::GroupsPerRegion { region, limit } => {
            format!("You may have at most {limit} anti-affinity groups in {region}")
        }
        Limit::MembersPerGroup { group, limit, members } => format!(
            "anti-affinity group {} ({}) can hold at most {limit} instances; it has {members}",
            group.uuid, group.label
        ),
    }
}

/// Why placement refused, as a failed operation's message says it.
pub(crate) fn refused(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NoHost { region, no_host, groups } => {
            let why = Refusal::hosts_excluded(no_host, groups, &|group| group.to_string());
            format!("No host in {region} can take this instance: {why}")
        }
        Refusal::BreaksGroup { .. } => refusal.to_string(),
    }
}
