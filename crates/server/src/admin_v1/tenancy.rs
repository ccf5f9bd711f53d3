//! `/v1/accounts`: accounts, their users, the users' tokens, API keys and grants.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use berth_core::{
    Account, AccountId, ApiKey, EntityKind, EntityPermission, Grants, Permission, Scopes, Timestamp, Token, User,
    UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Operator, Result, V1Body, V1Error, V1Path};
use crate::linode_v4::grants::{self, SCOPE_AREAS};
use crate::{AppState, time_format};

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccountBody {
    id: i64,
    name: String,
    /// RFC 3339.
    created: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AccountCreate {
    /// 1–64 letters, digits, `-`, `_` or `.`; unique.
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserBody {
    id: i64,
    account: i64,
    username: String,
    email: String,
    /// A restricted user may do only what its grants allow.
    restricted: bool,
    created: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct UserCreate {
    /// 1–64 letters, digits, `-`, `_` or `.`; unique across berth.
    username: String,
    email: String,
    #[serde(default)]
    restricted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenBody {
    id: i64,
    user: i64,
    label: String,
    /// `*`, or areas each `read_only` or `read_write`, separated by spaces.
    scopes: String,
    created: String,
    expiry: Option<String>,
    revoked: Option<String>,
    /// The token itself: shown once, in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TokenCreate {
    label: String,
    /// `*` (the default), or `area:read_only` / `area:read_write`, separated by spaces or commas.
    #[serde(default)]
    scopes: Option<String>,
    /// When the token stops working, RFC 3339; never by default.
    #[serde(default)]
    expiry: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyBody {
    key: String,
    user: i64,
    name: String,
    created: String,
    revoked: Option<String>,
    /// The secret: shown once, in the answer to the key's creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ApiKeyCreate {
    name: String,
}

/// A restricted user's grants, in the Linode shape the tokens they go with are used in: global
/// grants by Linode's names, and a permission on each resource of the account (`null`: none).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct GrantsBody {
    /// Global grants held, such as `add_linodes`.
    #[serde(default)]
    global: Vec<String>,
    #[serde(default)]
    linode: Vec<EntityGrant>,
    #[serde(default)]
    placement_group: Vec<EntityGrant>,
    #[serde(default)]
    firewall: Vec<EntityGrant>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct EntityGrant {
    id: i64,
    /// Ignored on input.
    #[serde(default, skip_deserializing)]
    label: String,
    /// `read_only`, `read_write`, or `null` for none.
    permissions: Option<String>,
}

fn account_body(account: Account) -> AccountBody {
    AccountBody { id: account.id.0, name: account.name, created: time_format::rfc3339(account.created_at) }
}

fn user_body(user: User) -> UserBody {
    UserBody {
        id: user.id.0,
        account: user.account.0,
        username: user.username,
        email: user.email,
        restricted: user.restricted,
        created: time_format::rfc3339(user.created_at),
    }
}

fn token_body(token: Token, secret: Option<String>) -> TokenBody {
    TokenBody {
        id: token.id,
        user: token.user.0,
        label: token.label,
        scopes: token.scopes.to_string(),
        created: time_format::rfc3339(token.created_at),
        expiry: token.expires_at.map(time_format::rfc3339),
        revoked: token.revoked_at.map(time_format::rfc3339),
        token: secret,
    }
}

fn api_key_body(key: ApiKey, secret: Option<String>) -> ApiKeyBody {
    ApiKeyBody {
        key: key.key,
        user: key.user.0,
        name: key.name,
        created: time_format::rfc3339(key.created_at),
        revoked: key.revoked_at.map(time_format::rfc3339),
        secret,
    }
}

fn grants_body(grants: &Grants, entities: Vec<EntityPermission>) -> GrantsBody {
    let mut body = GrantsBody {
        global: grants::names(grants).into_iter().map(str::to_string).collect(),
        linode: Vec::new(),
        placement_group: Vec::new(),
        firewall: Vec::new(),
    };
    for entity in entities {
        let grant = EntityGrant {
            id: entity.id,
            label: entity.label,
            permissions: entity.permission.map(|p| p.as_str().to_string()),
        };
        match entity.kind {
            EntityKind::Instance => body.linode.push(grant),
            EntityKind::Group => body.placement_group.push(grant),
            EntityKind::Firewall => body.firewall.push(grant),
        }
    }
    body
}

/// Every account.
#[utoipa::path(get, path = "/v1/accounts", operation_id = "account_list", tag = "tenancy",
    responses((status = 200, body = [AccountBody]), (status = 401, body = super::ErrorBody)))]
pub(crate) async fn account_list(State(state): State<AppState>, _: Operator) -> Result<Json<Vec<AccountBody>>> {
    Ok(Json(state.berth.accounts().await?.into_iter().map(account_body).collect()))
}

/// Creates an account.
#[utoipa::path(post, path = "/v1/accounts", operation_id = "account_create", tag = "tenancy",
    request_body = AccountCreate,
    responses((status = 201, body = AccountBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 409, body = super::ErrorBody)))]
pub(crate) async fn account_create(
    State(state): State<AppState>,
    _: Operator,
    V1Body(body): V1Body<AccountCreate>,
) -> Result<(StatusCode, Json<AccountBody>)> {
    let account = state.berth.account_create(&body.name).await?;
    Ok((StatusCode::CREATED, Json(account_body(account))))
}

/// One account.
#[utoipa::path(get, path = "/v1/accounts/{account}", operation_id = "account_view", tag = "tenancy",
    params(("account" = i64, Path)),
    responses((status = 200, body = AccountBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn account_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path(account): V1Path<i64>,
) -> Result<Json<AccountBody>> {
    Ok(Json(account_body(state.berth.account(AccountId(account)).await?)))
}

/// The users of an account.
#[utoipa::path(get, path = "/v1/accounts/{account}/users", operation_id = "user_list", tag = "tenancy",
    params(("account" = i64, Path)),
    responses((status = 200, body = [UserBody]), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn user_list(
    State(state): State<AppState>,
    _: Operator,
    V1Path(account): V1Path<i64>,
) -> Result<Json<Vec<UserBody>>> {
    Ok(Json(state.berth.users(AccountId(account)).await?.into_iter().map(user_body).collect()))
}

/// Creates a user in an account.
#[utoipa::path(post, path = "/v1/accounts/{account}/users", operation_id = "user_create", tag = "tenancy",
    params(("account" = i64, Path)), request_body = UserCreate,
    responses((status = 201, body = UserBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 409, body = super::ErrorBody)))]
pub(crate) async fn user_create(
    State(state): State<AppState>,
    _: Operator,
    V1Path(account): V1Path<i64>,
    V1Body(body): V1Body<UserCreate>,
) -> Result<(StatusCode, Json<UserBody>)> {
    let user = state.berth.user_create(AccountId(account), &body.username, &body.email, body.restricted).await?;
    Ok((StatusCode::CREATED, Json(user_body(user))))
}

/// One user.
#[utoipa::path(get, path = "/v1/accounts/{account}/users/{user}", operation_id = "user_view", tag = "tenancy",
    params(("account" = i64, Path), ("user" = i64, Path)),
    responses((status = 200, body = UserBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn user_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, user)): V1Path<(i64, i64)>,
) -> Result<Json<UserBody>> {
    Ok(Json(user_body(state.berth.user(AccountId(account), UserId(user)).await?)))
}

/// A user's personal access tokens, without their secrets.
#[utoipa::path(get, path = "/v1/accounts/{account}/users/{user}/tokens", operation_id = "token_list",
    tag = "tenancy", params(("account" = i64, Path), ("user" = i64, Path)),
    responses((status = 200, body = [TokenBody]), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn token_list(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, user)): V1Path<(i64, i64)>,
) -> Result<Json<Vec<TokenBody>>> {
    let tokens = state.berth.tokens(AccountId(account), UserId(user)).await?;
    Ok(Json(tokens.into_iter().map(|t| token_body(t, None)).collect()))
}

/// Creates a personal access token; the answer holds the token, shown only here.
#[utoipa::path(post, path = "/v1/accounts/{account}/users/{user}/tokens", operation_id = "token_create",
    tag = "tenancy", params(("account" = i64, Path), ("user" = i64, Path)), request_body = TokenCreate,
    responses((status = 201, body = TokenBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn token_create(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, user)): V1Path<(i64, i64)>,
    V1Body(body): V1Body<TokenCreate>,
) -> Result<(StatusCode, Json<TokenBody>)> {
    let scopes = Scopes::parse(body.scopes.as_deref().unwrap_or("*"), SCOPE_AREAS)?;
    let expiry = body.expiry.as_deref().map(parse_time).transpose()?;
    let (token, secret) =
        state.berth.token_create(AccountId(account), UserId(user), &body.label, scopes, expiry).await?;
    Ok((StatusCode::CREATED, Json(token_body(token, Some(secret)))))
}

/// Revokes a token: requests carrying it are refused from now on.
#[utoipa::path(delete, path = "/v1/accounts/{account}/tokens/{token}", operation_id = "token_revoke",
    tag = "tenancy", params(("account" = i64, Path), ("token" = i64, Path)),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn token_revoke(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, token)): V1Path<(i64, i64)>,
) -> Result<StatusCode> {
    state.berth.token_revoke(AccountId(account), token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The API keys of an account (for the Exoscale dialect), without their secrets.
#[utoipa::path(get, path = "/v1/accounts/{account}/api-keys", operation_id = "api_key_list", tag = "tenancy",
    params(("account" = i64, Path)),
    responses((status = 200, body = [ApiKeyBody]), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn api_key_list(
    State(state): State<AppState>,
    _: Operator,
    V1Path(account): V1Path<i64>,
) -> Result<Json<Vec<ApiKeyBody>>> {
    Ok(Json(state.berth.api_keys(AccountId(account)).await?.into_iter().map(|k| api_key_body(k, None)).collect()))
}

/// Issues an API key (for the Exoscale dialect) to a user; the answer holds the secret, shown
/// only here.
#[utoipa::path(post, path = "/v1/accounts/{account}/users/{user}/api-keys", operation_id = "api_key_create",
    tag = "tenancy", params(("account" = i64, Path), ("user" = i64, Path)), request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn api_key_create(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, user)): V1Path<(i64, i64)>,
    V1Body(body): V1Body<ApiKeyCreate>,
) -> Result<(StatusCode, Json<ApiKeyBody>)> {
    let (key, secret) = state.berth.api_key_issue(AccountId(account), UserId(user), &body.name).await?;
    Ok((StatusCode::CREATED, Json(api_key_body(key, Some(secret)))))
}

/// Revokes an API key: requests it signs are refused from now on.
#[utoipa::path(delete, path = "/v1/accounts/{account}/api-keys/{key}", operation_id = "api_key_revoke",
    tag = "tenancy", params(("account" = i64, Path), ("key" = String, Path)),
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn api_key_revoke(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, key)): V1Path<(i64, String)>,
) -> Result<StatusCode> {
    state.berth.api_key_revoke(AccountId(account), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's grants, with every resource of its account.
#[utoipa::path(get, path = "/v1/accounts/{account}/users/{user}/grants", operation_id = "grants_view",
    tag = "tenancy", params(("account" = i64, Path), ("user" = i64, Path)),
    responses((status = 200, body = GrantsBody), (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody)))]
pub(crate) async fn grants_view(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, user)): V1Path<(i64, i64)>,
) -> Result<Json<GrantsBody>> {
    let (_, grants, entities) = state.berth.grants(AccountId(account), UserId(user)).await?;
    Ok(Json(grants_body(&grants, entities)))
}

/// Replaces a restricted user's grants; resources left out get no permission.
#[utoipa::path(put, path = "/v1/accounts/{account}/users/{user}/grants", operation_id = "grants_set",
    tag = "tenancy", params(("account" = i64, Path), ("user" = i64, Path)), request_body = GrantsBody,
    responses((status = 200, body = GrantsBody), (status = 400, body = super::ErrorBody),
        (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
pub(crate) async fn grants_set(
    State(state): State<AppState>,
    _: Operator,
    V1Path((account, user)): V1Path<(i64, i64)>,
    V1Body(body): V1Body<GrantsBody>,
) -> Result<Json<GrantsBody>> {
    let mut grants = grants::from_names(body.global.iter().map(String::as_str))?;
    for (kind, list) in [
        (EntityKind::Instance, body.linode),
        (EntityKind::Group, body.placement_group),
        (EntityKind::Firewall, body.firewall),
    ] {
        for grant in list {
            let Some(text) = grant.permissions else { continue };
            let permission = Permission::parse(&text).ok_or_else(|| {
                let field = grants::kind_name(kind);
                V1Error::invalid(field, format!("{text} is not a permission: use read_only or read_write"))
            })?;
            grants.entities.insert((kind, grant.id), permission);
        }
    }
    state.berth.grants_set(AccountId(account), UserId(user), grants).await?;
    let (_, grants, entities) = state.berth.grants(AccountId(account), UserId(user)).await?;
    Ok(Json(grants_body(&grants, entities)))
}

fn parse_time(text: &str) -> Result<Timestamp> {
    time_format::parse_rfc3339(text)
        .ok_or_else(|| V1Error::invalid("expiry", "expiry must be an RFC 3339 time like 2030-01-01T00:00:00Z"))
}
