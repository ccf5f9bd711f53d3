//! The Linode dialect's one error mapping: core's facts, and the shared plumbing's refusals,
//! in the words, statuses and field names Linode's clients expect.
//!
//! Linode answers every refused change with 400, whatever refused it (an invalid value, a
//! state, a limit, placement); the reason is a sentence and `field` names the input at fault
//! as the request spelled it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_core::{Act, Conflict, Denial, Error, Field, Form, GroupRef, Limit, Problem, Refusal, Thing};
use serde::Serialize;

use super::grants;
use crate::http;

/// An error in the Linode format: `{"errors": [{"reason": ..., "field": ...}]}`.
#[derive(Debug)]
pub(crate) struct LinodeError {
    status: StatusCode,
    reason: String,
    field: Option<String>,
}

#[derive(Serialize)]
struct ErrorsBody {
    errors: [ErrorItem; 1],
}

#[derive(Serialize)]
struct ErrorItem {
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl LinodeError {
    pub(crate) fn new(status: StatusCode, reason: impl Into<String>, field: Option<&str>) -> LinodeError {
        LinodeError { status, reason: reason.into(), field: field.map(str::to_string) }
    }

    pub(crate) fn bad_request(reason: impl Into<String>, field: &str) -> LinodeError {
        LinodeError::new(StatusCode::BAD_REQUEST, reason, Some(field))
    }

    pub(crate) fn not_found() -> LinodeError {
        LinodeError::new(StatusCode::NOT_FOUND, "Not found", None)
    }
}

impl IntoResponse for LinodeError {
    fn into_response(self) -> Response {
        let body = ErrorsBody { errors: [ErrorItem { reason: self.reason, field: self.field }] };
        crate::with_retry_after(self.status, axum::Json(body))
    }
}

impl From<Error> for LinodeError {
    fn from(error: Error) -> LinodeError {
        let field = error.field().map(field_name);
        let bad = |reason: String| LinodeError { status: StatusCode::BAD_REQUEST, reason, field: field.clone() };
        match &error {
            Error::Invalid { field, problem } => bad(invalid(*field, problem)),
            Error::Conflict { conflict, .. } => bad(conflicting(conflict)),
            Error::Limit { limit, .. } => bad(limited(limit)),
            Error::Refused { refusal, .. } => bad(refused(refusal)),
            Error::NotFound(_) => LinodeError::not_found(),
            Error::Forbidden(denial) => LinodeError::new(StatusCode::FORBIDDEN, denied(denial), None),
            Error::Unauthenticated => LinodeError::new(StatusCode::UNAUTHORIZED, "Invalid Token", None),
            Error::Unavailable | Error::Contended => {
                LinodeError::new(StatusCode::SERVICE_UNAVAILABLE, crate::unavailable_reason(&error), None)
            }
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = ?error, "request failed");
                LinodeError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "An unexpected error occurred; please try again",
                    None,
                )
            }
        }
    }
}

impl From<http::Refusal> for LinodeError {
    fn from(refusal: http::Refusal) -> LinodeError {
        let status = refusal.status();
        match refusal {
            http::Refusal::BadValue { path, message } => {
                LinodeError::new(status, format!("{path}: {message}"), Some(&path))
            }
            other => LinodeError::new(status, other.standard_text().unwrap_or_default(), None),
        }
    }
}

/// How a Linode request spells an input.
fn field_name(field: Field) -> String {
    match field {
        Field::Group => "placement_group.id".to_string(),
        Field::Instances => "linodes".to_string(),
        Field::Firewall => "firewall_id".to_string(),
        Field::Grants(kind) => grants::kind_name(kind).to_string(),
        other => other.name().to_string(),
    }
}

/// What Linode calls a kind of thing, in a sentence.
fn thing_name(thing: Thing) -> &'static str {
    match thing {
        Thing::Instance => "Linode",
        Thing::Group => "placement group",
        Thing::GlobalGroup => "anti-affinity group",
        Thing::Firewall => "firewall",
        other => other.name(),
    }
}

fn group(group: &GroupRef) -> String {
    if group.global { group.uuid.clone() } else { group.id.to_string() }
}

fn invalid(field: Field, problem: &Problem) -> String {
    let name = field_name(field);
    match (field, problem) {
        (Field::Region, Problem::Unknown(_) | Problem::Malformed { .. }) => "region is not valid".to_string(),
        (Field::Group, Problem::Unknown(id)) => format!("Placement group {id} not found"),
        (Field::Group, Problem::Repeated(id)) => format!("Placement group {id} is listed more than once"),
        (Field::Firewall, Problem::Unknown(id)) => format!("Firewall {id} not found"),
        (Field::Instances, Problem::Unknown(id)) => format!("Linode {id} not found"),
        (Field::Instances, Problem::Empty) => "At least one instance must be given".to_string(),
        (Field::Instances, Problem::Repeated(_)) => "The same Linode is listed more than once".to_string(),
        (Field::Grants(kind), Problem::Unknown(id)) => {
            format!("{} {id} not found in this account", grants::kind_name(kind))
        }
        (Field::Rights, Problem::Unknown(grant)) => format!("{grant} is not a global grant"),
        (Field::Scopes, Problem::Malformed { value: Some(scope), .. }) => format!("{scope} is not a valid scope"),
        (_, Problem::Taken(thing)) => format!(
            "Label must be unique among your {}",
            match thing {
                Thing::Instance => "Linodes",
                Thing::Firewall => "Cloud Firewalls",
                _ => "placement groups",
            }
        ),
        (_, Problem::GroupElsewhere { group: g, group_region, .. }) => {
            format!("Placement group {} is in region {group_region}; the Linode must be in the same region", group(g))
        }
        (_, Problem::InstanceElsewhere { instance, region, group, group_region }) => {
            format!("Linode {instance} is in region {region}, but placement group {group} is in region {group_region}")
        }
        (_, Problem::OneRegionalGroup) => "A Linode can be in at most one placement group".to_string(),
        (_, Problem::AlreadyMember { instance, group }) => {
            format!("Linode {instance} is already assigned to placement group {group}")
        }
        (_, Problem::NotMember { instance, group }) => {
            format!("Linode {instance} is not assigned to placement group {group}")
        }
        (_, Problem::Length { min, max }) => format!("{name} must be {min}-{max} characters"),
        (_, Problem::ControlCharacters) => format!("{name} must not contain control characters"),
        (_, Problem::Malformed { form: Form::Scopes, value: None }) => {
            "scopes must be * or a list of area:read_only or area:read_write".to_string()
        }
        (_, problem) => format!("{name} {problem}"),
    }
}

fn conflicting(conflict: &Conflict) -> String {
    match conflict {
        Conflict::Busy(_) => "Linode busy.".to_string(),
        Conflict::Offline(_) => "Linode is offline and cannot be migrated".to_string(),
        Conflict::GroupNotEmpty { group: g, members } => {
            format!("Placement group {} still has {members} member(s); unassign them before deleting it", group(g))
        }
        Conflict::GroupNotCompliant(g) => {
            format!("Placement group {} is not compliant and cannot be deleted", group(g))
        }
        Conflict::CreatedConcurrently => "A change made at the same time created the same thing first".to_string(),
        other => capitalized(&other.to_string()),
    }
}

fn limited(limit: &Limit) -> String {
    match limit {
        Limit::GroupsPerRegion { region, limit } => {
            format!("You may have at most {limit} placement groups in {region}")
        }
        Limit::MembersPerGroup { group: g, limit, members } => {
            format!("Placement group {} can hold at most {limit} members; it has {members}", group(g))
        }
    }
}

fn refused(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NoHost { region, no_host, groups } => {
            let why = Refusal::hosts_excluded(no_host, groups, &|g| format!("group {} ({})", group(g), g.label));
            format!("No host in {region} can take this instance: {why}")
        }
        Refusal::BreaksGroup { instance, group, strict, breach } => {
            let strict = if *strict { "strict " } else { "" };
            format!("Linode {instance} cannot join {strict}placement group {group} without breaking it: it {breach}")
        }
    }
}

fn denied(denial: &Denial) -> String {
    match denial {
        Denial::ReadOnly(thing) => format!("You do not have permission to change this {}", thing_name(*thing)),
        Denial::Lacks { right, act } => {
            let act = match act {
                Act::CreateInstance => "create Linodes",
                Act::CreateGroup => "create placement groups",
                Act::AssignInstances => "assign Linodes to placement groups",
                Act::UnassignInstances => "unassign Linodes from placement groups",
                Act::CreateFirewall => "create firewalls",
            };
            format!("You do not have permission to {act} (the {} grant is needed)", grants::grant_name(*right))
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
