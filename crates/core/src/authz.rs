//! Authorization beside the action: what a restricted user's grants let it see and do.
//!
//! A resource a restricted user holds no grant on does not exist for it (404), like another
//! account's; one it may only read refuses changes (403).

use crate::error::{Act, Denial, Error, Result};
use crate::model::*;

impl Principal {
    /// Whether the caller may see `id`.
    pub fn can_see(&self, kind: EntityKind, id: i64) -> bool {
        !self.restricted || self.grants.entities.contains_key(&(kind, id))
    }

    /// Whether the caller may change `id`.
    pub fn can_change(&self, kind: EntityKind, id: i64) -> bool {
        !self.restricted || self.grants.entities.get(&(kind, id)) == Some(&Permission::ReadWrite)
    }

    /// The ids of the resources of `kind` a restricted caller holds a grant on, in id order.
    pub(crate) fn granted(&self, kind: EntityKind) -> Vec<i64> {
        self.grants.entities.keys().filter(|(k, _)| *k == kind).map(|(_, id)| *id).collect()
    }

    /// Whether the caller holds a right over its account.
    pub fn holds(&self, right: Right) -> bool {
        !self.restricted || self.grants.rights.contains(&right)
    }

    /// Refuses, as "not found", a resource the caller may not see.
    pub(crate) fn require_visible(&self, kind: EntityKind, id: i64, thing: Thing) -> Result<()> {
        if self.can_see(kind, id) { Ok(()) } else { Err(Error::not_found(thing)) }
    }

    /// Refuses a change to a resource: "not found" when the caller may not see it, "forbidden"
    /// when it may only read it.
    pub(crate) fn require_change(&self, kind: EntityKind, id: i64, thing: Thing) -> Result<()> {
        self.require_visible(kind, id, thing)?;
        if self.can_change(kind, id) { Ok(()) } else { Err(Error::Forbidden(Denial::ReadOnly(thing))) }
    }

    /// Refuses `act`, which needs `right`, when the caller lacks it.
    pub(crate) fn require(&self, right: Right, act: Act) -> Result<()> {
        if self.holds(right) { Ok(()) } else { Err(Error::Forbidden(Denial::Lacks { right, act })) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(restricted: bool, grants: Grants) -> Principal {
        Principal {
            account: AccountId(1),
            user: UserId(1),
            username: "u".into(),
            email: "u@example.com".into(),
            restricted,
            grants,
            scopes: Scopes::all(),
            credential: String::new(),
        }
    }

    #[test]
    fn an_unrestricted_user_may_do_anything_in_its_account() {
        let user = principal(false, Grants::default());
        assert!(user.can_see(EntityKind::Instance, 5) && user.can_change(EntityKind::Instance, 5));
        assert!(user.holds(Right::CreateInstances));
    }

    #[test]
    fn a_restricted_user_sees_what_it_holds_a_grant_on_and_changes_only_read_write() {
        let mut grants = Grants::default();
        grants.entities.insert((EntityKind::Group, 1), Permission::ReadOnly);
        grants.entities.insert((EntityKind::Group, 2), Permission::ReadWrite);
        grants.rights.insert(Right::CreateInstances);
        let user = principal(true, grants);
        assert!(matches!(user.require_visible(EntityKind::Group, 3, Thing::Group), Err(Error::NotFound(Thing::Group))));
        assert!(matches!(
            user.require_change(EntityKind::Group, 1, Thing::Group),
            Err(Error::Forbidden(Denial::ReadOnly(Thing::Group)))
        ));
        assert!(user.require_change(EntityKind::Group, 2, Thing::Group).is_ok());
        assert!(!user.can_see(EntityKind::Instance, 1), "a grant names one kind of resource");
        assert!(user.require(Right::CreateInstances, Act::CreateInstance).is_ok());
        assert!(matches!(
            user.require(Right::CreateFirewalls, Act::CreateFirewall),
            Err(Error::Forbidden(Denial::Lacks { right: Right::CreateFirewalls, .. }))
        ));
    }

    #[test]
    fn scopes_parse_and_read_write_implies_read_only() {
        let areas = ["instances", "events", "firewall"];
        let scopes = Scopes::parse("instances:read_write events:read_only", &areas).unwrap();
        assert!(scopes.allows("instances", Permission::ReadOnly));
        assert!(scopes.allows("instances", Permission::ReadWrite));
        assert!(scopes.allows("events", Permission::ReadOnly));
        assert!(!scopes.allows("events", Permission::ReadWrite));
        assert!(!scopes.allows("firewall", Permission::ReadOnly));
        assert_eq!(scopes.to_string(), "events:read_only instances:read_write");
        assert_eq!(Scopes::stored(&scopes.to_string()).unwrap(), scopes);
        assert!(Scopes::parse("*", &areas).unwrap().allows("anything", Permission::ReadWrite));
        for bad in ["", "instances", "instances:write", "groups:read_only", "instances:read_only extra"] {
            assert!(Scopes::parse(bad, &areas).is_err(), "{bad}");
        }
    }
}
