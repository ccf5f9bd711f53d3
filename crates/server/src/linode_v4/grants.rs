//! Linode's names for what a restricted user may do: the global grants, the kinds of resource
//! an entity grant names, and the OAuth scope areas of a token. Core knows the rights it
//! enforces by domain names; this module maps them to Linode's, for this dialect and for the
//! grants and tokens that `/v1` manages in the Linode shape.

use std::collections::BTreeSet;

use berth_core::{EntityKind, Error, Field, Grants, Problem, Right};

/// The global grants Linode knows. berth enforces `add_linodes` (creating Linodes and
/// placement groups, and assigning Linodes) and `add_firewalls`; it keeps the others so that
/// `GET /profile/grants` shows them as set.
pub(crate) const GLOBAL_GRANTS: &[&str] = &[
    "account_access",
    "add_buckets",
    "add_databases",
    "add_domains",
    "add_firewalls",
    "add_images",
    "add_kubernetes",
    "add_linodes",
    "add_longview",
    "add_nodebalancers",
    "add_placement_groups",
    "add_stackscripts",
    "add_volumes",
    "add_vpcs",
    "cancel_account",
    "child_account_access",
    "longview_subscription",
];

/// The areas a token's scopes can name, as Linode lists them.
pub const SCOPE_AREAS: &[&str] = &[
    "account",
    "databases",
    "domains",
    "events",
    "firewall",
    "images",
    "ips",
    "linodes",
    "lke",
    "longview",
    "nodebalancers",
    "object_storage",
    "stackscripts",
    "volumes",
    "vpc",
];

/// The global grant that gives `right`.
pub(crate) fn grant_name(right: Right) -> &'static str {
    match right {
        Right::CreateInstances => "add_linodes",
        Right::CreateFirewalls => "add_firewalls",
    }
}

/// The rights and kept grants that a list of global grant names gives; an unknown name is
/// refused.
pub(crate) fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Grants, Error> {
    let mut grants = Grants::default();
    for name in names {
        if !GLOBAL_GRANTS.contains(&name) {
            return Err(Error::invalid(Field::Rights, Problem::Unknown(name.to_string())));
        }
        match Right::ALL.into_iter().find(|right| grant_name(*right) == name) {
            Some(right) => grants.rights.insert(right),
            None => grants.kept.insert(name.to_string()),
        };
    }
    Ok(grants)
}

/// The names of the global grants held.
pub(crate) fn names(grants: &Grants) -> BTreeSet<&str> {
    grants.rights.iter().map(|right| grant_name(*right)).chain(grants.kept.iter().map(String::as_str)).collect()
}

/// How Linode names a kind of resource in grants and events.
pub(crate) fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Instance => "linode",
        EntityKind::Group => "placement_group",
        EntityKind::Firewall => "firewall",
    }
}
