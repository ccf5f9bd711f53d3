//! Authorization beside the action: what a restricted user's grants let it see and do.
//!
//! A resource a restricted user holds no grant on does not exist for it (404), like another
//! account's; one it may only read refuses changes (403).

use crate::error::{Error, Result};
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

    /// Whether the caller holds a global grant.
    pub fn holds(&self, grant: &str) -> bool {
        !self.restricted || self.grants.global.contains(grant)
    }

    /// Refuses, as "not found", a resource the caller may not see.
    pub(crate) fn require_visible(&self, kind: EntityKind, id: i64, what: &'static str) -> Result<()> {
        if self.can_see(kind, id) { Ok(()) } else { Err(Error::not_found(what)) }
    }

    /// Refuses a change to a resource: "not found" when the caller may not see it, "forbidden"
    /// when it may only read it.
    pub(crate) fn require_change(&self, kind: EntityKind, id: i64, what: &'static str) -> Result<()> {
        self.require_visible(kind, id, what)?;
        if self.can_change(kind, id) {
            Ok(())
        } else {
            Err(Error::forbidden(format!("You do not have permission to change this {what}")))
        }
    }

    /// Refuses an action that needs a global grant the caller lacks.
    pub(crate) fn require_grant(&self, grant: &str, action: &str) -> Result<()> {
        if self.holds(grant) {
            Ok(())
        } else {
            Err(Error::forbidden(format!("You do not have permission to {action} (the {grant} grant is needed)")))
        }
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
        assert!(user.can_see(EntityKind::Linode, 5) && user.can_change(EntityKind::Linode, 5));
        assert!(user.holds("add_linodes"));
    }

    #[test]
    fn a_restricted_user_sees_what_it_holds_a_grant_on_and_changes_only_read_write() {
        let mut grants = Grants::default();
        grants.entities.insert((EntityKind::PlacementGroup, 1), Permission::ReadOnly);
        grants.entities.insert((EntityKind::PlacementGroup, 2), Permission::ReadWrite);
        grants.global.insert("add_linodes".into());
        let user = principal(true, grants);
        assert!(matches!(user.require_visible(EntityKind::PlacementGroup, 3, "group"), Err(Error::NotFound { .. })));
        assert!(matches!(user.require_change(EntityKind::PlacementGroup, 1, "group"), Err(Error::Forbidden { .. })));
        assert!(user.require_change(EntityKind::PlacementGroup, 2, "group").is_ok());
        assert!(!user.can_see(EntityKind::Linode, 1), "a grant names one kind of resource");
        assert!(user.require_grant("add_linodes", "create").is_ok());
        assert!(matches!(user.require_grant("add_firewalls", "create"), Err(Error::Forbidden { .. })));
    }

    #[test]
    fn scopes_parse_and_read_write_implies_read_only() {
        let scopes = Scopes::parse("linodes:read_write events:read_only").unwrap();
        assert!(scopes.allows("linodes", Permission::ReadOnly));
        assert!(scopes.allows("linodes", Permission::ReadWrite));
        assert!(scopes.allows("events", Permission::ReadOnly));
        assert!(!scopes.allows("events", Permission::ReadWrite));
        assert!(!scopes.allows("firewall", Permission::ReadOnly));
        assert_eq!(scopes.to_string(), "events:read_only linodes:read_write");
        assert!(Scopes::parse("*").unwrap().allows("anything", Permission::ReadWrite));
        for bad in ["", "linodes", "linodes:write", "placement:read_only", "linodes:read_only extra"] {
            assert!(Scopes::parse(bad).is_err(), "{bad}");
        }
    }
}
