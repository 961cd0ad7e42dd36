//! amolink's schema, as append-only sea-orm migrations.
//!
//! Every timestamp is stored as `BIGINT` unix milliseconds: the same bytes, ordering and index
//! behaviour on SQLite and PostgreSQL, which lets lease and expiry checks run as plain integer
//! comparisons in SQL on both engines.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_tenancy;
mod m20261126_000002_connections;
mod m20261126_000003_api_keys;
mod m20261126_000004_token_keeper;
mod m20261126_000005_webhooks;
mod m20261126_000006_rate_limits;
mod m20261126_000007_connection_listing_indexes;
mod m20261206_090001_token_truth;
mod m20261206_110001_memberships;
mod m20261206_110002_invites_and_resets;
mod m20261206_110003_audit_and_outbox;
mod m20261206_130001_amocrm_events;
mod m20261206_150001_connection_activity;
mod m20261206_150002_user_preferences;
mod m20261206_160001_login_throttle;

/// Applies amolink's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_tenancy::Migration),
            Box::new(m20261126_000002_connections::Migration),
            Box::new(m20261126_000003_api_keys::Migration),
            Box::new(m20261126_000004_token_keeper::Migration),
            Box::new(m20261126_000005_webhooks::Migration),
            Box::new(m20261126_000006_rate_limits::Migration),
            Box::new(m20261126_000007_connection_listing_indexes::Migration),
            Box::new(m20261206_090001_token_truth::Migration),
            Box::new(m20261206_110001_memberships::Migration),
            Box::new(m20261206_110002_invites_and_resets::Migration),
            Box::new(m20261206_110003_audit_and_outbox::Migration),
            Box::new(m20261206_130001_amocrm_events::Migration),
            Box::new(m20261206_150001_connection_activity::Migration),
            Box::new(m20261206_150002_user_preferences::Migration),
            Box::new(m20261206_160001_login_throttle::Migration),
        ]
    }
}
