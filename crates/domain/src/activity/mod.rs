//! Activity per connection: every proxied call, refresh attempt, vended token and webhook
//! delivery attempt, recorded durably so a tenant can see what a connection does without
//! reading logs. What is stored is metadata only: the method, the path without its query, the
//! status, the latency and the sizes. Query values, bodies, tokens and secrets never are.
//!
//! Writing goes through [`ActivityRecorder`]: a bounded in-memory queue drained by one
//! background task that inserts in batches, so a proxied call never waits for the database.
//! When the queue is full an entry is dropped and counted rather than block the caller.

mod model;
mod port;
mod recorder;
mod service;
mod stats;

pub use model::{
    ActivityCursor, ActivityEntry, ActivityFilter, ActivityKind, ActivityPage, NewActivity,
    StatusClass, path_without_query,
};
pub use port::{ActivityStore, DailyRow, ProxySample};
pub use recorder::{ActivityRecorder, RecorderSettings, RecorderWorker};
pub use service::{Activity, MAX_ACTIVITY_PAGE};
pub use stats::{DayTotals, HourStats, daily_totals, hourly_stats, percentile};
