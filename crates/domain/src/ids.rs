//! Typed identifiers. Ids that appear in URLs are random UUIDv4 so they reveal nothing about
//! how many rows exist or when they were made.

use std::{fmt, str::FromStr};

use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            #[must_use]
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A workspace: one tenant of amolink.
    WorkspaceId
);
uuid_id!(
    /// A person who signs in to amolink.
    UserId
);
uuid_id!(
    /// A connected amoCRM / Kommo account of a workspace.
    ConnectionId
);
uuid_id!(
    /// A connect button of a workspace.
    ButtonId
);
uuid_id!(
    /// One connect attempt: a view of the hosted connect page and what followed.
    FlowId
);
uuid_id!(
    /// An API key of a workspace (its public handle; the secret is never stored).
    ApiKeyId
);
uuid_id!(
    /// A hosted connect session minted through the API for one of the tenant's end users.
    ConnectSessionId
);
uuid_id!(
    /// A webhook endpoint of a workspace.
    EndpointId
);
uuid_id!(
    /// One delivery of one webhook message to one endpoint.
    DeliveryId
);
uuid_id!(
    /// An invitation to join a workspace.
    InviteId
);
uuid_id!(
    /// One delivery amoCRM made to a connection's events URL, stored raw.
    InboundId
);
