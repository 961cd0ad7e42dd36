//! Synthetic connections written straight into the `connections` table in multi-row INSERTs:
//! 100 000 real connect flows would take hours, and the listing only reads these columns.
//!
//! Rows look like production ones where it matters to the queries: realistic widths (sealed
//! tokens are the bulk of a row, so they decide how much a scan reads), a skewed status mix,
//! two years of connection times with deliberate ties (the keyset's tie-breaker must work),
//! and `search_text` built exactly as `persistence` builds it.

use chrono::Utc;
use rand::{Rng as _, SeedableRng as _, rngs::StdRng, seq::SliceRandom as _};
use sea_orm::{
    ConnectionTrait as _, DatabaseConnection,
    sea_query::{Alias, Query, SimpleExpr},
};
use uuid::Uuid;

/// Rows per INSERT: 1 000 × 26 parameters stays under both engines' bind limits.
const BATCH: usize = 1_000;

const PREFIXES: &[&str] = &[
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Ромашка",
    "Вектор",
    "Альфа",
    "Гранит",
    "Светлана",
    "Orbit",
    "Pioneer",
    "Summit",
    "Lumen",
    "Cobalt",
];
const SUFFIXES: &[&str] = &[
    "Trading",
    "Logistics",
    "Studio",
    "Dental",
    "Realty",
    "Motors",
    "Travel",
    "Fitness",
    "Group",
    "Consulting",
    "Строй",
    "Авто",
    "Мебель",
    "Клиник",
    "Agency",
    "Foods",
];

/// The status mix of a mature workspace: mostly active, a tail of problems.
const STATUSES: &[(&str, u32)] = &[
    ("active", 860),
    ("degraded", 30),
    ("rate_limited", 10),
    ("needs_reauth", 50),
    ("disconnected", 30),
    ("revoked", 20),
];

/// What the scenario needs to know about the rows it inserted.
pub struct Inserted {
    /// Subdomains of a sample of rows, for searches that match exactly one row.
    pub sample_subdomains: Vec<String>,
    /// End users of a sample of rows, for the API's `end_user_id` filter.
    pub sample_end_users: Vec<String>,
}

/// Inserts `count` connections into `workspace`.
pub async fn insert_connections(
    db: &DatabaseConnection,
    workspace: Uuid,
    count: usize,
) -> anyhow::Result<Inserted> {
    let mut rng = StdRng::seed_from_u64(0x00a1_0117);
    let now_ms = Utc::now().timestamp_millis();
    let mut indexes: Vec<usize> = (0..count).collect();
    // Insertion order unrelated to `connected_at`, as years of real sign-ups would leave it.
    indexes.shuffle(&mut rng);
    let mut sample_subdomains = Vec::new();
    let mut sample_end_users = Vec::new();
    for chunk in indexes.chunks(BATCH) {
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("connections"))
            .columns(COLUMNS.iter().map(|c| Alias::new(*c)));
        for &i in chunk {
            let row = Row::generate(&mut rng, i, workspace, now_ms);
            if sample_subdomains.len() < 200 && rng.gen_ratio(1, 50) {
                sample_subdomains.push(row.subdomain.clone());
            }
            if let Some(end_user) = row
                .end_user
                .as_ref()
                .filter(|_| sample_end_users.len() < 200)
            {
                sample_end_users.push(end_user.clone());
            }
            insert.values(row.values())?;
        }
        db.execute(&insert).await?;
    }
    Ok(Inserted {
        sample_subdomains,
        sample_end_users,
    })
}

const COLUMNS: [&str; 26] = [
    "id",
    "workspace_id",
    "platform",
    "account_id",
    "account_name",
    "host",
    "search_text",
    "api_domain",
    "client_id",
    "client_secret",
    "access_token",
    "refresh_token",
    "access_expires_at",
    "status",
    "status_reason",
    "status_at",
    "connected_at",
    "last_refresh_at",
    "last_error",
    "refresh_failures",
    "next_refresh_at",
    "lease_owner",
    "lease_until",
    "end_user_id",
    "metadata",
    "updated_at",
];

struct Row {
    id: Uuid,
    workspace: Uuid,
    kommo: bool,
    account_id: i64,
    name: String,
    subdomain: String,
    status: &'static str,
    connected_at: i64,
    status_at: i64,
    last_refresh_at: Option<i64>,
    end_user: Option<String>,
    tokens: Option<(String, String)>,
    client_secret: Option<String>,
}

/// A `v1:…` string as long as a sealed value of `plain_len` bytes (nonce + ciphertext + tag,
/// base64); never opened, so its content is noise.
fn sealed(rng: &mut StdRng, plain_len: usize) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let bytes: Vec<u8> = (0..plain_len + 28).map(|_| rng.r#gen()).collect();
    format!("v1:b1:{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn pick_status(rng: &mut StdRng) -> &'static str {
    let total: u32 = STATUSES.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.gen_range(0..total);
    for (status, weight) in STATUSES {
        if roll < *weight {
            return status;
        }
        roll -= weight;
    }
    "active"
}

impl Row {
    fn generate(rng: &mut StdRng, i: usize, workspace: Uuid, now_ms: i64) -> Self {
        const DAY_MS: i64 = 86_400_000;
        let prefix = PREFIXES[rng.gen_range(0..PREFIXES.len())];
        let suffix = SUFFIXES[rng.gen_range(0..SUFFIXES.len())];
        let name = format!("{prefix} {suffix} {i}");
        let subdomain = format!("acc{i}x{}", rng.gen_range(100..999));
        let status = pick_status(rng);
        // Whole seconds over two years: many rows share a `connected_at`, as bulk imports do.
        let connected_at = now_ms - rng.gen_range(0..730 * DAY_MS) / 1000 * 1000;
        let status_at = connected_at + rng.gen_range(0..=(now_ms - connected_at));
        let holds_tokens = !matches!(status, "revoked" | "disconnected");
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        Self {
            id: Uuid::new_v4(),
            workspace,
            kommo: rng.gen_ratio(1, 5),
            account_id: 30_000_000 + i,
            name,
            subdomain,
            status,
            connected_at,
            status_at,
            last_refresh_at: holds_tokens.then(|| now_ms - rng.gen_range(0..DAY_MS)),
            end_user: rng
                .gen_ratio(3, 10)
                .then(|| format!("user-{}", rng.gen_range(0..50_000))),
            tokens: holds_tokens.then(|| (sealed(rng, 780), sealed(rng, 690))),
            client_secret: (status != "revoked").then(|| sealed(rng, 64)),
        }
    }

    fn values(self) -> Vec<SimpleExpr> {
        let (platform, domain, api_domain) = if self.kommo {
            ("kommo", "kommo.com", "api-c.kommo.com")
        } else {
            ("amocrm", "amocrm.ru", "api-b.amocrm.ru")
        };
        let host = format!("{}.{domain}", self.subdomain);
        let search_text = format!("{} {host}", self.name).to_lowercase();
        let problem = !matches!(self.status, "active");
        let expires = self.last_refresh_at.map(|at| at + 86_400_000);
        let (access, refresh) = self.tokens.unzip();
        let metadata = self
            .end_user
            .as_ref()
            .map(|_| r#"{"plan":"pro","seats":5}"#.to_owned());
        vec![
            self.id.into(),
            self.workspace.into(),
            platform.into(),
            self.account_id.into(),
            self.name.into(),
            host.into(),
            search_text.into(),
            Some(api_domain.to_owned()).into(),
            Uuid::new_v4().to_string().into(),
            self.client_secret.into(),
            access.into(),
            refresh.into(),
            expires.into(),
            self.status.into(),
            problem
                .then(|| format!("{}: seen by the benchmark", self.status))
                .into(),
            self.status_at.into(),
            self.connected_at.into(),
            self.last_refresh_at.into(),
            problem
                .then(|| "HTTP 401 from amoCRM: Token has been revoked".to_owned())
                .into(),
            i32::from(problem).into(),
            expires.map(|at| at - 7_200_000).into(),
            Option::<String>::None.into(),
            Option::<i64>::None.into(),
            self.end_user.into(),
            metadata.into(),
            self.status_at.into(),
        ]
    }
}
