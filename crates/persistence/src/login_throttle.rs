//! The sign-in throttle's shared ledger (`login_throttle`): reads, and compare-and-set writes
//! that succeed only when the row still holds what the caller read, so concurrent attempts on
//! every instance are counted exactly once (see `domain::accounts::SignInThrottle`).

use async_trait::async_trait;
use domain::{
    StoreError,
    accounts::{AttemptLedger, LedgerEntry},
};
use sea_orm::{ConnectionTrait as _, Value};

use crate::{Database, database::store_error};

fn corrupt() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("stored throttle entry is malformed"))
}

fn count(failures: u32) -> i32 {
    i32::try_from(failures).unwrap_or(i32::MAX)
}

#[async_trait]
impl AttemptLedger for Database {
    async fn entry(&self, key: &str) -> Result<LedgerEntry, StoreError> {
        self.conn
            .execute_raw(self.statement(
                "INSERT INTO login_throttle (\"key\", failures, next_at, updated_at) \
                 VALUES ($1, 0, 0, 0) ON CONFLICT (\"key\") DO NOTHING",
                vec![key.into()],
            ))
            .await
            .map_err(store_error)?;
        let row = self
            .conn
            .query_one_raw(self.statement(
                "SELECT failures, next_at, updated_at FROM login_throttle WHERE \"key\" = $1",
                vec![key.into()],
            ))
            .await
            .map_err(store_error)?
            .ok_or_else(corrupt)?;
        let failures: i32 = row.try_get("", "failures").map_err(store_error)?;
        Ok(LedgerEntry {
            failures: u32::try_from(failures).map_err(|_| corrupt())?,
            next_at: row.try_get("", "next_at").map_err(store_error)?,
            updated_at: row.try_get("", "updated_at").map_err(store_error)?,
        })
    }

    async fn swap(
        &self,
        key: &str,
        expected: &LedgerEntry,
        new: &LedgerEntry,
    ) -> Result<bool, StoreError> {
        let values: Vec<Value> = vec![
            count(new.failures).into(),
            new.next_at.into(),
            new.updated_at.into(),
            key.into(),
            count(expected.failures).into(),
            expected.next_at.into(),
            expected.updated_at.into(),
        ];
        let result = self
            .conn
            .execute_raw(self.statement(
                "UPDATE login_throttle SET failures = $1, next_at = $2, updated_at = $3 \
                 WHERE \"key\" = $4 AND failures = $5 AND next_at = $6 AND updated_at = $7",
                values,
            ))
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn clear(&self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute_raw(self.statement(
                "DELETE FROM login_throttle WHERE \"key\" = $1",
                vec![key.into()],
            ))
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn refund(&self, key: &str) -> Result<(), StoreError> {
        self.conn
            .execute_raw(self.statement(
                "UPDATE login_throttle SET failures = failures - 1 \
                 WHERE \"key\" = $1 AND failures > 0",
                vec![key.into()],
            ))
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn prune(&self, before: i64) -> Result<u64, StoreError> {
        let result = self
            .conn
            .execute_raw(self.statement(
                "DELETE FROM login_throttle WHERE updated_at < $1",
                vec![before.into()],
            ))
            .await
            .map_err(store_error)?;
        Ok(result.rows_affected())
    }
}
