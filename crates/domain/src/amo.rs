//! The amoCRM / Kommo protocol types the outer layers name, re-exported so that `web` and
//! `persistence` depend on the domain alone; only the composition root (`web::startup`) reaches
//! into the `amocrm` crate itself, to build the client.

pub use amocrm::{
    AddressPolicy, AmoClient, BodyStream, DomainAllowList, DomainListError, ForwardRequest,
    ForwardResponse, GuardedResolver, NonPublicAddress, Platform, UnknownPlatform, resolve_checked,
};
