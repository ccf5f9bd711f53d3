//! The one error type of `core`: what went wrong, in terms every dialect can map to its own
//! error body.

use store::{Failure, StoreError};

/// What went wrong. Every variant but [`Error::Unavailable`], [`Error::Contended`],
/// [`Error::Store`] and [`Error::Internal`] is the caller's to fix and carries a reason fit to show them; `field` names the input at fault, in dotted
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
    /// The database cannot be reached: nothing changed, and the same request may succeed once
    /// it is back.
    #[error("the database is unavailable")]
    Unavailable,
    /// The change collided with a concurrent one and was rolled back whole, more times than
    /// berth retries it: nothing changed, and the same request may be sent again.
    #[error("the change collided with concurrent changes")]
    Contended,
    #[error("store failure")]
    Store(StoreError),
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

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Error {
        match error.failure() {
            Failure::Unavailable => {
                tracing::warn!(error = ?error, "database unavailable");
                Error::Unavailable
            }
            Failure::Contention => {
                tracing::debug!(error = ?error, "change collided with a concurrent one");
                Error::Contended
            }
            // Every change checks for a duplicate before it inserts; one that slips past that
            // check was created by a concurrent change.
            Failure::Duplicate => {
                tracing::debug!(error = ?error, "a concurrent change created the same thing first");
                Error::Conflict {
                    field: None,
                    reason: "A change made at the same time created the same thing first".to_string(),
                }
            }
            Failure::Other => Error::Store(error),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
