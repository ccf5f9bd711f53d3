//! The route tables: every route each dialect serves, with what it takes to call it. One macro
//! builds both a dialect's router and its table, so the table is exactly what is served; the
//! gates read it to authenticate, and the authorization matrix test reads it to make sure it
//! covers every route.

use berth_core::Permission;

/// What it takes to call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone; a Linode token, when one is sent, must still be valid.
    Public,
    /// Any valid Linode token, whatever its scopes.
    Token,
    /// A Linode token whose scopes reach this area at this level.
    Scope(&'static str, Permission),
    /// An EXO2-HMAC-SHA256 signature by a valid API key.
    Signed,
    /// The operator's token.
    Operator,
}

impl Access {
    /// The scope a Linode route accepts, as `X-Accepted-OAuth-Scopes` says it.
    pub fn accepted_scope(&self) -> Option<String> {
        match self {
            Access::Scope(area, level) => Some(format!("{area}:{}", level.as_str())),
            _ => None,
        }
    }
}

/// One route of a dialect: its method, its path under the dialect's prefix, and its access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// A dialect's routes and the prefixes it is served under.
#[derive(Clone, Copy, Debug)]
pub struct Dialect {
    pub name: &'static str,
    pub prefixes: &'static [&'static str],
    pub routes: &'static [RouteSpec],
}

/// The spec of the route a request matched, from its matched path (`/v4/placement/groups/{id}`:
/// the first segment is the dialect's prefix) and method.
pub(crate) fn find(routes: &'static [RouteSpec], matched: &str, method: &str) -> Option<&'static RouteSpec> {
    let path = matched.get(1..).and_then(|rest| rest.find('/')).map_or("", |at| &matched[at + 1..]);
    routes.iter().find(|spec| spec.method == method && spec.path == path)
}

/// Builds a dialect's router and its route table from one list.
macro_rules! route_table {
    ($table:ident, $build:ident; $($method:ident $path:literal => $handler:expr, $access:expr;)*) => {
        /// Every route of this dialect, with what it takes to call it.
        pub(crate) const $table: &[$crate::routes::RouteSpec] = &[
            $($crate::routes::RouteSpec { method: stringify!($method), path: $path, access: $access },)*
        ];

        fn $build() -> axum::Router<$crate::AppState> {
            axum::Router::new()
                $(.route($path, axum::routing::on(axum::routing::MethodFilter::$method, $handler)))*
        }
    };
}

pub(crate) use route_table;
