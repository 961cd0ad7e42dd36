//! API keys: how a tenant's backend authenticates to the REST API.
//!
//! A key is 256 random bits shown once as `alk_…`. Only a keyed hash (HMAC-SHA256 under a subkey
//! of the master key ring) is stored, so a request is authenticated with one indexed lookup and a
//! database dump yields nothing usable. Each key carries scopes that the API routes require.

mod cache;
mod model;
mod port;
mod scope;
mod secret;
mod service;

pub use cache::KEY_CACHE_TTL;
pub use model::{
    ApiKey, ApiKeyInput, ApiKeyName, Caller, CreatedApiKey, MAX_NAME_CHARS, NewApiKey, StoredApiKey,
};
pub use port::ApiKeyRepository;
pub use scope::{ApiScope, ApiScopes};
pub use secret::{ApiKeyHasher, ApiKeySecret, KEY_PREFIX};
pub use service::{ApiKeys, MAX_KEYS_PER_WORKSPACE};
