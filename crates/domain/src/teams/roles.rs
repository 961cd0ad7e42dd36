//! Roles and the one permission table.
//!
//! Four roles, each a superset of the one below it, so the table only has to say the least
//! role that may do each thing:
//!
//! - **viewer** (support staff): reads connections and their history, sees who is on the team;
//! - **developer**: also manages API keys, webhook endpoints and connect buttons;
//! - **admin**: also revokes connections, manages members and invitations, reads the audit trail;
//! - **owner**: also deletes the workspace and transfers ownership.
//!
//! A strict hierarchy keeps the rule "a higher role can do everything a lower one can", which is
//! what people expect from these four names; a permission that does not fit it would be a new
//! role, not an exception in this table.

use crate::{ValidationError, text::text_enum};

text_enum! {
    /// What a member may do inside a workspace.
    pub enum Role {
        Owner,
        Admin,
        Developer,
        Viewer,
    }
    unknown(_text) => ValidationError::new("role", "unknown-role");
}

impl Role {
    /// Most powerful first.
    pub const ALL: [Self; 4] = [Self::Owner, Self::Admin, Self::Developer, Self::Viewer];

    /// Position in the hierarchy (higher may do more).
    const fn rank(self) -> u8 {
        match self {
            Self::Viewer => 0,
            Self::Developer => 1,
            Self::Admin => 2,
            Self::Owner => 3,
        }
    }

    /// Whether this role may do `permission` (the table is [`Permission::least_role`]).
    #[must_use]
    pub const fn allows(self, permission: Permission) -> bool {
        self.rank() >= permission.least_role().rank()
    }

    /// Whether a member with this role may move someone from `from` (`None`: not yet a member,
    /// an invitation) to `to`. Managing members needs [`Permission::ManageMembers`]; granting or
    /// taking away ownership needs an owner.
    #[must_use]
    pub fn may_assign(self, from: Option<Self>, to: Self) -> bool {
        let touches_owner = to == Self::Owner || from == Some(Self::Owner);
        self.allows(Permission::ManageMembers) && (!touches_owner || self == Self::Owner)
    }

    /// The roles this member may hand out.
    #[must_use]
    pub fn assignable(self) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|to| self.may_assign(None, *to))
            .collect()
    }
}

/// Something a member may or may not do. Every page and form declares one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Connections, their history, the dashboard.
    ViewConnections,
    /// The team page: who is a member, with which role.
    ViewMembers,
    ManageButtons,
    /// Includes seeing the keys at all: their names and prefixes are the workspace's secrets'
    /// handles.
    ManageApiKeys,
    ManageWebhooks,
    RevokeConnections,
    /// Invite, revoke invitations, change roles, remove members.
    ManageMembers,
    ViewAudit,
    DeleteWorkspace,
    TransferOwnership,
}

impl Permission {
    pub const ALL: [Self; 10] = [
        Self::ViewConnections,
        Self::ViewMembers,
        Self::ManageButtons,
        Self::ManageApiKeys,
        Self::ManageWebhooks,
        Self::RevokeConnections,
        Self::ManageMembers,
        Self::ViewAudit,
        Self::DeleteWorkspace,
        Self::TransferOwnership,
    ];

    /// The permission table: the least role that may do each thing.
    #[must_use]
    pub const fn least_role(self) -> Role {
        match self {
            Self::ViewConnections | Self::ViewMembers => Role::Viewer,
            Self::ManageButtons | Self::ManageApiKeys | Self::ManageWebhooks => Role::Developer,
            Self::RevokeConnections | Self::ManageMembers | Self::ViewAudit => Role::Admin,
            Self::DeleteWorkspace | Self::TransferOwnership => Role::Owner,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ViewConnections => "view_connections",
            Self::ViewMembers => "view_members",
            Self::ManageButtons => "manage_buttons",
            Self::ManageApiKeys => "manage_api_keys",
            Self::ManageWebhooks => "manage_webhooks",
            Self::RevokeConnections => "revoke_connections",
            Self::ManageMembers => "manage_members",
            Self::ViewAudit => "view_audit",
            Self::DeleteWorkspace => "delete_workspace",
            Self::TransferOwnership => "transfer_ownership",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_s_role_descriptions_hold() {
        use Permission as P;
        // Viewers read connections and history only.
        assert!(Role::Viewer.allows(P::ViewConnections));
        for p in [
            P::RevokeConnections,
            P::ManageApiKeys,
            P::ManageWebhooks,
            P::ManageButtons,
            P::ManageMembers,
            P::ViewAudit,
        ] {
            assert!(!Role::Viewer.allows(p), "viewer {p:?}");
        }
        // Developers manage keys, webhooks and buttons, nothing about people or revocation.
        for p in [P::ManageApiKeys, P::ManageWebhooks, P::ManageButtons] {
            assert!(Role::Developer.allows(p));
        }
        assert!(!Role::Developer.allows(P::RevokeConnections));
        assert!(!Role::Developer.allows(P::ManageMembers));
        // Admins also manage members and revoke; only owners delete and transfer.
        assert!(Role::Admin.allows(P::ManageMembers) && Role::Admin.allows(P::RevokeConnections));
        assert!(!Role::Admin.allows(P::DeleteWorkspace));
        assert!(!Role::Admin.allows(P::TransferOwnership));
        for p in Permission::ALL {
            assert!(Role::Owner.allows(p), "owner {p:?}");
        }
    }

    #[test]
    fn only_owners_grant_or_take_ownership() {
        assert!(Role::Admin.may_assign(Some(Role::Viewer), Role::Admin));
        assert!(!Role::Admin.may_assign(Some(Role::Viewer), Role::Owner));
        assert!(!Role::Admin.may_assign(Some(Role::Owner), Role::Viewer));
        assert!(Role::Owner.may_assign(Some(Role::Owner), Role::Admin));
        assert!(!Role::Developer.may_assign(Some(Role::Viewer), Role::Viewer));
        assert_eq!(
            Role::Admin.assignable(),
            vec![Role::Admin, Role::Developer, Role::Viewer]
        );
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("member".parse::<Role>().is_err());
    }
}
