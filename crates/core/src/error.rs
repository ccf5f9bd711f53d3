//! The one error type of `core`: what went wrong, in terms every dialect can map to its own
//! error body.

use store::StoreError;

/// What went wrong. Every variant but [`Error::Store`] and [`Error::Internal`] is the caller's
/// to fix and carries a reason fit to show them; `field` names the input at fault, in dotted
/// form (`placement_group.id`), when there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something that cannot be used.
    #[error("{reason}")]
    Invalid { field: Option<String>, reason: String },
    /// The resource does not exist, or is not the caller's: both look the same.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The resource is in a state that forbids the change (a group with members, a busy
    /// instance).
    #[error("{reason}")]
    Conflict { field: Option<String>, reason: String },
    /// A limit would be exceeded: members in a group, groups in a region.
    #[error("{reason}")]
    Limit { field: Option<String>, reason: String },
    /// Placement refuses the change: no host can take the instance, or a strict group would be
    /// broken. Nothing changed.
    #[error("{reason}")]
    Placement { field: Option<String>, reason: String },
    /// The caller may see the resource but not do this to it: a restricted user without the
    /// grant.
    #[error("{reason}")]
    Forbidden { reason: String },
    /// No credential, or one that is unknown or expired.
    #[error("invalid credentials")]
    Unauthenticated,
    #[error("store failure")]
    Store(#[from] StoreError),
    /// An invariant of berth itself broke; the detail is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: &str, reason: impl Into<String>) -> Error {
        Error::Invalid { field: Some(field.to_string()), reason: reason.into() }
    }

    pub fn conflict(field: Option<&str>, reason: impl Into<String>) -> Error {
        Error::Conflict { field: field.map(str::to_string), reason: reason.into() }
    }

    pub fn limit(field: Option<&str>, reason: impl Into<String>) -> Error {
        Error::Limit { field: field.map(str::to_string), reason: reason.into() }
    }

    pub fn placement(field: Option<&str>, reason: impl Into<String>) -> Error {
        Error::Placement { field: field.map(str::to_string), reason: reason.into() }
    }

    pub fn forbidden(reason: impl Into<String>) -> Error {
        Error::Forbidden { reason: reason.into() }
    }

    pub fn not_found(what: &'static str) -> Error {
        Error::NotFound { what }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
