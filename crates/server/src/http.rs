//! The HTTP plumbing every dialect shares, written once: reading and parsing request bodies
//! with path-precise errors, the bearer credential, the rate limit, the route a request
//! matched, and the fallbacks for unknown routes and wrong methods.
//!
//! The plumbing says what it refuses as a [`Refusal`]; each dialect's error type renders a
//! refusal in its own format (`From<Refusal>`), as it renders `core::Error`, so a dialect module
//! holds only its routes, wire types, conversions and that rendering.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, MatchedPath, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::routes::RouteSpec;

/// What the shared plumbing refuses before a handler runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No route has this path.
    UnknownRoute,
    /// The route exists, but not with this method.
    WrongMethod,
    /// The credential made more requests than its window allows.
    RateLimited,
    /// The body is larger than [`crate::MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The body could not be read.
    BodyUnreadable,
    /// The body is not JSON.
    NotJson,
    /// The body is JSON, but not the object the route takes; `message` says what is wrong.
    NotAnObject { message: String },
    /// One value of the body has the wrong type or is missing: `path` names it (`a.b[0]`).
    BadValue { path: String, message: String },
}

impl Refusal {
    /// The status every dialect answers a refusal with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::UnknownRoute => StatusCode::NOT_FOUND,
            Refusal::WrongMethod => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyUnreadable | Refusal::NotJson | Refusal::NotAnObject { .. } | Refusal::BadValue { .. } => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    /// The text of a refusal that is the same in every dialect; `None` for [`Refusal::BadValue`]
    /// and [`Refusal::NotAnObject`], which each dialect words with the path or message.
    pub(crate) fn standard_text(&self) -> Option<String> {
        Some(match self {
            Refusal::UnknownRoute => "Not found".to_string(),
            Refusal::WrongMethod => "Method not allowed".to_string(),
            Refusal::RateLimited => "Too many requests".to_string(),
            Refusal::BodyTooLarge => format!("Request body is larger than {} bytes", crate::MAX_BODY_BYTES),
            Refusal::BodyUnreadable => "Request body could not be read".to_string(),
            Refusal::NotJson => "Request body is not valid JSON".to_string(),
            Refusal::NotAnObject { message } => format!("Request body must be a JSON object: {message}"),
            Refusal::BadValue { .. } => return None,
        })
    }
}

/// The body of a request, as bytes: too large or unreadable is a refusal.
pub(crate) async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Refusal> {
    Bytes::from_request(request, state).await.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(_) => Refusal::BodyTooLarge,
        _ => Refusal::BodyUnreadable,
    })
}

/// Parses a JSON body into a wire type, naming the value at fault when one has the wrong type.
/// An empty body is an empty object, as clients send nothing when every field is optional.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Refusal> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Refusal::NotJson;
        }
        let message = strip_position(&inner.to_string());
        if path == "." || path.is_empty() {
            Refusal::NotAnObject { message }
        } else {
            Refusal::BadValue { path, message }
        }
    })?;
    deserializer.end().map_err(|_| Refusal::NotJson)?;
    Ok(value)
}

/// serde_json ends its messages with "at line 1 column 9", which means nothing to a caller
/// who sent JSON built by a client library.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

/// The credential of `Authorization: Bearer <token>`, in any case of the scheme, or of the
/// `token` scheme that Linode also takes.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")).then(|| token.to_string())
}

/// Counts a request against `credential`'s rate limit, adding the `X-RateLimit-*` headers to
/// `headers`; a request past the limit is refused.
pub(crate) fn rate_limit(state: &AppState, credential: &str, headers: &mut HeaderMap) -> Result<(), Refusal> {
    match state.limiter.check(credential, crate::now_millis()) {
        Some(verdict) => {
            crate::rate_limit::headers(&verdict, headers);
            if verdict.allowed { Ok(()) } else { Err(Refusal::RateLimited) }
        }
        None => Ok(()),
    }
}

/// The spec of the route a request matched, among `routes`.
pub(crate) fn matched_route(routes: &'static [RouteSpec], request: &Request) -> Option<&'static RouteSpec> {
    let matched = request.extensions().get::<MatchedPath>()?;
    crate::routes::find(routes, matched.as_str(), request.method().as_str())
}

/// A dialect's router with the fallbacks every dialect has: an unknown route and a wrong method
/// are refused in the dialect's format.
pub(crate) fn with_fallbacks<E>(router: Router<AppState>) -> Router<AppState>
where
    E: From<Refusal> + IntoResponse + 'static,
{
    router
        .fallback(async || E::from(Refusal::UnknownRoute))
        .method_not_allowed_fallback(async || E::from(Refusal::WrongMethod))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use serde::Deserialize;

    use super::{Refusal, bearer_token, parse_json};

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // Only parsed.
    struct Body {
        label: Option<String>,
        size: Option<u32>,
    }

    #[test]
    fn a_body_is_parsed_with_the_path_of_a_bad_value() {
        assert!(parse_json::<Body>(b"").is_ok(), "an empty body is an empty object");
        assert_eq!(parse_json::<Body>(b"{").unwrap_err(), Refusal::NotJson);
        assert_eq!(parse_json::<Body>(b"{} {}").unwrap_err(), Refusal::NotJson);
        assert!(matches!(parse_json::<Body>(br#""text""#).unwrap_err(), Refusal::NotAnObject { .. }));
        match parse_json::<Body>(br#"{"size": "big"}"#).unwrap_err() {
            Refusal::BadValue { path, message } => {
                assert_eq!(path, "size");
                assert!(!message.contains(" at line "), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_bearer_credential_is_read_in_any_case_of_its_scheme() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", HeaderValue::from_str(value).unwrap());
            bearer_token(&headers)
        };
        assert_eq!(with("Bearer abc"), Some("abc".to_string()));
        assert_eq!(with("bearer abc "), Some("abc".to_string()));
        assert_eq!(with("BEARER abc"), Some("abc".to_string()));
        assert_eq!(with("token abc"), Some("abc".to_string()));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer "), Some(String::new()), "an empty token is refused as unknown");
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
