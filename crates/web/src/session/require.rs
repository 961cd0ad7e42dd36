//! Role checks as handler argument types, after vaultwarden's `AdminHeaders` / `OrgHeaders`: a
//! handler that takes `Require<RevokeConnections>` cannot run for a member whose role lacks that
//! permission (403), and the permission it needs is visible in its signature. What each role
//! may do is the domain's one table ([`domain::teams::Permission::least_role`]).

use std::{marker::PhantomData, ops::Deref};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use domain::teams::{Permission, TeamError};
use futures_util::future::LocalBoxFuture;

use super::SignedIn;
use crate::error::{AppError, PageError};

/// A permission as a type, for [`Require`].
pub trait Needs {
    const PERMISSION: Permission;
}

macro_rules! permission_types {
    ($($name:ident),+ $(,)?) => {
        $(
            #[doc = concat!("Type-level [`Permission::", stringify!($name), "`].")]
            #[derive(Debug)]
            pub enum $name {}

            impl Needs for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+
    };
}

permission_types!(
    ViewConnections,
    ViewMembers,
    ManageButtons,
    ManageApiKeys,
    ManageWebhooks,
    RevokeConnections,
    ManageMembers,
    ViewAudit,
    DeleteWorkspace,
    TransferOwnership,
);

/// A signed-in member whose role allows `P`.
#[derive(Debug)]
pub struct Require<P: Needs> {
    pub who: SignedIn,
    permission: PhantomData<P>,
}

impl<P: Needs> Deref for Require<P> {
    type Target = SignedIn;

    fn deref(&self) -> &SignedIn {
        &self.who
    }
}

impl<P: Needs + 'static> FromRequest for Require<P> {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let who = SignedIn::from_request(req, payload);
        Box::pin(async move {
            let who = who.await?;
            if !who.member.role.allows(P::PERMISSION) {
                tracing::warn!(
                    event = "permission_denied",
                    workspace_id = %who.member.workspace_id,
                    user_id = %who.member.user_id,
                    role = who.member.role.as_str(),
                    permission = P::PERMISSION.as_str(),
                    "role does not allow this"
                );
                return Err(AppError::from(domain::Error::from(TeamError::NotPermitted)).into());
            }
            Ok(Self {
                who,
                permission: PhantomData,
            })
        })
    }
}
