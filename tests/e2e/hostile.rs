//! A hostile-input run (issue 14, acceptance 4): well over 500 distinct malformed requests across
//! every public and API route — bad methods, bodies, encodings, huge and odd headers, path tricks,
//! bad JSON and forms, bad cursors and ids, oversized bodies, broken HTTP — sent over raw TCP so
//! nothing is tidied up on the way. Then: no answer was a 5xx, no server thread panicked, the
//! process still serves `/healthz`, and no stored row changed (every table dumped before and
//! after, on both engines).
//!
//! The one tolerated difference: an anonymous page view (a form's CSRF token) still creates an
//! anonymous session row until the second pass of issue 14 removes those; such rows may appear,
//! and no existing row may change.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use amolink_tests::{Browser, Engine, TestApp, both_engines, csrf_token_in, spawn_app};
use sea_orm::{ConnectionTrait as _, Statement};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{api_keys::create_key, connect::DEMO_ADMIN_ACCOUNT};

/// One request, as bytes on the wire.
struct Case {
    name: String,
    bytes: Vec<u8>,
}

/// What the tenant's side of the fixture holds: real ids, a session cookie and its CSRF token.
struct Fixture {
    cookie: String,
    csrf: String,
    api_key: String,
    connection: String,
    api_key_id: String,
    webhook: String,
    button_key: String,
}

/// Counts panics on the server's request threads (actix workers). Test threads are not counted:
/// they are the tests' own assertions.
fn server_panics() -> &'static AtomicUsize {
    static COUNT: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    COUNT.get_or_init(|| {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            if name.starts_with("actix-server worker") {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
        count
    })
}

fn request(method: &str, target: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut bytes =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
            .into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// Sends raw bytes; the final status code (after any `100 Continue`), or `None` when the server
/// closed without answering (a legitimate answer to broken HTTP).
async fn send(port: u16, bytes: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The server may answer and close before a large body is written: that is fine.
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while answer.len() < 1024 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server held a hostile request open");
    let text = String::from_utf8_lossy(&answer);
    text.split("\r\n")
        .filter_map(|line| {
            line.strip_prefix("HTTP/1.1 ")
                .or_else(|| line.strip_prefix("HTTP/1.0 "))
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok())
        })
        .find(|status| *status >= 200)
}

/// Every table as sorted text rows.
async fn dump(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let db = app.database.connection();
    let backend = db.get_database_backend();
    let query = |sql: String| Statement::from_string(backend, sql);
    let tables: Vec<String> = match app.engine {
        Engine::Sqlite => db
            .query_all_raw(query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                    .into(),
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "name").unwrap())
            .collect(),
        Engine::Postgres => db
            .query_all_raw(query(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'".into(),
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "tablename").unwrap())
            .collect(),
    };
    let mut out = BTreeMap::new();
    for table in tables {
        let sql = match app.engine {
            Engine::Sqlite => {
                let columns: Vec<String> = db
                    .query_all_raw(query(format!("PRAGMA table_info(\"{table}\")")))
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.try_get::<String>("", "name").unwrap())
                    .collect();
                let quoted: Vec<String> =
                    columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                format!(
                    "SELECT {} AS row FROM \"{table}\"",
                    quoted.join(" || '|' || ")
                )
            }
            Engine::Postgres => format!("SELECT t::text AS row FROM \"{table}\" t"),
        };
        let mut rows: Vec<String> = db
            .query_all_raw(query(sql))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "row").unwrap())
            .collect();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

/// The tenant, a connection, an API key, a webhook endpoint: real ids for the id routes.
async fn fixture(app: &TestApp) -> Fixture {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let tenant = Browser {
        client,
        address: app.address.clone(),
    };
    let signed_up = tenant
        .sign_up("ann@example.com", "correct horse battery", "Acme")
        .await;
    assert_eq!(signed_up.status(), 303);
    let api_key = create_key(&tenant, "backend", &["read", "write", "tokens", "proxy"]).await;
    let link = app.connect_links(&tenant).await.into_iter().next().unwrap();
    let (_, answer) = app.connect_account(&link, DEMO_ADMIN_ACCOUNT).await;
    assert_eq!(answer.status(), 303);
    let webhook = tenant
        .submit(
            "/settings/webhooks",
            "/settings/webhooks",
            &[
                ("url", "http://127.0.0.1:9/hook"),
                ("connection.created", "on"),
            ],
        )
        .await;
    assert_eq!(webhook.status(), 200);

    let html = tenant.get_html("/settings/webhooks").await;
    let webhook = id_after(&html, "/settings/webhooks/");
    let html = tenant.get_html("/settings/api-keys").await;
    let api_key_id = id_after(&html, "/settings/api-keys/");
    let html = tenant.get_html("/connections").await;
    let connection = id_after(&html, "/connections/");
    let button_key = link.rsplit('/').next().unwrap().to_owned();
    // One good API call, so the key's `last_used` is already written at this (frozen) time.
    let listed = tenant
        .client
        .get(format!("{}/api/v1/connections", app.address))
        .bearer_auth(&api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let csrf = csrf_token_in(&tenant.get_html("/dashboard").await).unwrap();
    let url = reqwest::Url::parse(&app.address).unwrap();
    let cookie = reqwest::cookie::CookieStore::cookies(jar.as_ref(), &url)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .expect("a session cookie");
    Fixture {
        cookie,
        csrf,
        api_key,
        connection,
        api_key_id,
        webhook,
        button_key,
    }
}

/// The id in the first `href="{prefix}{id}` or `action="{prefix}{id}` of `html`.
fn id_after(html: &str, prefix: &str) -> String {
    ["href", "action"]
        .iter()
        .find_map(|attribute| {
            let marker = format!("{attribute}=\"{prefix}");
            html.split(&marker)
                .nth(1)
                .and_then(|rest| rest.split(['"', '/']).next())
        })
        .unwrap_or_else(|| panic!("no {prefix} link"))
        .to_owned()
}

/// `path` with every `{name}` parameter replaced by `value`.
fn fill_params(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    out.push_str(rest);
    out
}

/// Ids that are not ids: empty-ish, negative, SQL, traversal, huge, Unicode, escapes.
const BAD_IDS: &[&str] = &[
    "1",
    "-1",
    "0",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "%7Bc0ffee00-0000-4000-8000-000000000000%7D",
    "'%20OR%201=1--",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "%ff%fe",
    "%D0%B8%D0%B4",
    "9223372036854775808",
    "null",
    "[]",
    "%25",
];

/// Form bodies that are broken in some way.
fn bad_forms(csrf: &str) -> Vec<(&'static str, Vec<u8>)> {
    let huge = "a".repeat(40 * 1024);
    vec![
        ("empty", Vec::new()),
        ("bad escape", b"csrf_token=%zz&name=%".to_vec()),
        (
            "invalid utf8",
            b"csrf_token=\xff\xfe&name=\xc3\x28".to_vec(),
        ),
        ("nul bytes", b"csrf_token=\0&name=a\0b".to_vec()),
        ("json instead", br#"{"csrf_token":"x","name":"y"}"#.to_vec()),
        (
            "oversized",
            format!("csrf_token={csrf}&name={huge}").into_bytes(),
        ),
        (
            "duplicate token",
            format!("csrf_token=x&csrf_token={csrf}").into_bytes(),
        ),
        (
            "forged token",
            b"csrf_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
        ),
        ("only separators", b"&&&===&&".to_vec()),
        ("brackets", b"csrf_token[]=1&name[a][b]=2".to_vec()),
    ]
}

/// JSON bodies that are broken in some way.
fn bad_json() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("truncated", br#"{"end_user_id":"#.to_vec()),
        ("not json", b"end_user_id=1".to_vec()),
        ("array", b"[1,2,3]".to_vec()),
        (
            "wrong types",
            br#"{"end_user_id":12,"metadata":"x","button_id":[]}"#.to_vec(),
        ),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        ),
        (
            "deep object",
            format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000)).into_bytes(),
        ),
        (
            "huge number",
            br#"{"end_user_id":"u","metadata":{"n":1e999999}}"#.to_vec(),
        ),
        ("bom", b"\xef\xbb\xbf{\"end_user_id\":\"u\"}".to_vec()),
        ("utf16", b"\xff\xfe{\0\"\0e\0\"\0:\0\"\0u\0\"\0}\0".to_vec()),
        (
            "invalid utf8 string",
            b"{\"end_user_id\":\"\xff\"}".to_vec(),
        ),
        ("lone surrogate", br#"{"end_user_id":"\ud800"}"#.to_vec()),
        (
            "oversized",
            format!("{{\"end_user_id\":\"{}\"}}", "x".repeat(200 * 1024)).into_bytes(),
        ),
        (
            "metadata too big",
            format!(
                "{{\"end_user_id\":\"u\",\"metadata\":{{\"k\":\"{}\"}}}}",
                "x".repeat(5000)
            )
            .into_bytes(),
        ),
        (
            "metadata not object",
            br#"{"end_user_id":"u","metadata":[1]}"#.to_vec(),
        ),
        (
            "duplicate keys",
            br#"{"end_user_id":"a","end_user_id":"b"}"#.to_vec(),
        ),
        (
            "unknown button",
            br#"{"end_user_id":"u","button_id":"00000000-0000-0000-0000-000000000000"}"#.to_vec(),
        ),
        ("empty end user", br#"{"end_user_id":""}"#.to_vec()),
        ("nul in end user", br#"{"end_user_id":"a\u0000b"}"#.to_vec()),
        ("trailing garbage", br#"{"end_user_id":"u"} x"#.to_vec()),
    ]
}

fn cases(f: &Fixture) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut seen = BTreeSet::new();
    // The same bytes twice would be one request, not two: later duplicates are dropped.
    let mut add = |name: String, bytes: Vec<u8>| {
        if seen.insert(bytes.clone()) {
            cases.push(Case { name, bytes });
        }
    };
    let cookie = ("Cookie", f.cookie.clone());
    let bearer = ("Authorization", format!("Bearer {}", f.api_key));
    let form = (
        "Content-Type",
        "application/x-www-form-urlencoded".to_owned(),
    );
    let json = ("Content-Type", "application/json".to_owned());
    let (conn, key_id, hook) = (&f.connection, &f.api_key_id, &f.webhook);

    // 1. Methods no route accepts, on every page route (signed in and anonymous).
    let page_paths = [
        "/".to_owned(),
        "/login".into(),
        "/signup".into(),
        "/logout".into(),
        "/dashboard".into(),
        "/buttons".into(),
        "/connections".into(),
        format!("/connections/{conn}"),
        format!("/connections/{conn}/revoke"),
        "/settings/api-keys".into(),
        format!("/settings/api-keys/{key_id}/revoke"),
        "/settings/webhooks".into(),
        format!("/settings/webhooks/{hook}"),
        format!("/settings/webhooks/{hook}/rotate"),
        format!("/settings/webhooks/{hook}/enable"),
        format!("/settings/webhooks/{hook}/disable"),
        format!("/settings/webhooks/{hook}/delete"),
        format!("/settings/webhooks/{hook}/deliveries/x/replay"),
        format!("/connect/{}", f.button_key),
        "/connect/s/nope".into(),
        "/connect/done/nope".into(),
        format!("/embed/{}.js", f.button_key),
        "/amocrm/secrets".into(),
        "/amocrm/callback".into(),
        "/amocrm/disconnect".into(),
        "/healthz".into(),
        "/readyz".into(),
        "/metrics".into(),
        "/static/app.css".into(),
        "/api/docs".into(),
    ];
    for path in &page_paths {
        for method in ["PUT", "DELETE", "PATCH", "TRACE", "FOO", "OPTIONS"] {
            add(
                format!("{method} {path} signed in"),
                request(method, path, std::slice::from_ref(&cookie), b"x=1"),
            );
        }
        add(
            format!("PROPFIND {path}"),
            request("PROPFIND", path, &[], b""),
        );
    }

    // 2. State-changing page routes: every broken form, signed in with a valid session but no
    //    usable token, and anonymously.
    let post_paths = [
        "/login".to_owned(),
        "/signup".into(),
        "/logout".into(),
        "/buttons".into(),
        format!("/connections/{conn}/revoke"),
        "/settings/api-keys".into(),
        format!("/settings/api-keys/{key_id}/revoke"),
        "/settings/webhooks".into(),
        format!("/settings/webhooks/{hook}/rotate"),
        format!("/settings/webhooks/{hook}/disable"),
        format!("/settings/webhooks/{hook}/delete"),
    ];
    for path in &post_paths {
        for (label, body) in bad_forms("AAAA") {
            add(
                format!("POST {path} form {label}"),
                request("POST", path, &[cookie.clone(), form.clone()], &body),
            );
        }
        add(
            format!("POST {path} anonymous"),
            request("POST", path, std::slice::from_ref(&form), b"csrf_token=x"),
        );
        add(
            format!("POST {path} cross-site with token"),
            request(
                "POST",
                path,
                &[
                    cookie.clone(),
                    form.clone(),
                    ("Sec-Fetch-Site", "cross-site".into()),
                ],
                format!("csrf_token={}", f.csrf).as_bytes(),
            ),
        );
        add(
            format!("POST {path} multipart"),
            request(
                "POST",
                path,
                &[
                    cookie.clone(),
                    ("Content-Type", "multipart/form-data; boundary=zz".into()),
                ],
                b"--zz\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\nx\r\n--zz--",
            ),
        );
    }

    // 3. Valid session and token, invalid values: refused by the domain, nothing written.
    let token = &f.csrf;
    let with_token: Vec<(&str, String)> = vec![
        (
            "/settings/api-keys",
            format!("csrf_token={token}&name=&scopes_shown=1"),
        ),
        (
            "/settings/api-keys",
            format!("csrf_token={token}&name=k&scopes_shown=1&scope_root=on"),
        ),
        (
            "/settings/api-keys",
            format!(
                "csrf_token={token}&name={}&scopes_shown=1&scope_read=on",
                "n".repeat(5000)
            ),
        ),
        (
            "/settings/webhooks",
            format!("csrf_token={token}&url=javascript:alert(1)&connection.created=on"),
        ),
        (
            "/settings/webhooks",
            format!("csrf_token={token}&url=http://169.254.169.254/&connection.created=on"),
        ),
        (
            "/settings/webhooks",
            format!("csrf_token={token}&url=http://user:pw@127.0.0.1/&connection.created=on"),
        ),
        (
            "/settings/webhooks",
            format!("csrf_token={token}&url=&connection.created=on"),
        ),
        (
            "/settings/webhooks",
            format!("csrf_token={token}&url=ftp://example.com/"),
        ),
        (
            "/buttons",
            format!("csrf_token={token}&platform=myspace&name=x"),
        ),
        (
            "/buttons",
            format!("csrf_token={token}&platform=kommo&name=&logo_url=javascript:1"),
        ),
        (
            "/buttons",
            format!(
                "csrf_token={token}&platform=amocrm&name=x&logo_url=not%20a%20url&color=ultraviolet&mode=telepathy"
            ),
        ),
        (
            "/signup",
            format!("csrf_token={token}&email=not-an-email&password=x&workspace="),
        ),
        ("/login", format!("csrf_token={token}&email=%00&password=")),
    ];
    for (path, body) in with_token {
        add(
            format!(
                "POST {path} invalid values {}",
                &body[body.len().min(60)..body.len().min(90)]
            ),
            request(
                "POST",
                path,
                &[cookie.clone(), form.clone()],
                body.as_bytes(),
            ),
        );
    }
    for id in ["x", "00000000-0000-0000-0000-000000000000", "%2e%2e"] {
        for path in [
            format!("/connections/{id}/revoke"),
            format!("/settings/api-keys/{id}/revoke"),
            format!("/settings/webhooks/{id}/delete"),
            format!("/settings/webhooks/{hook}/deliveries/{id}/replay"),
        ] {
            add(
                format!("POST {path} with token"),
                request(
                    "POST",
                    &path,
                    &[cookie.clone(), form.clone()],
                    format!("csrf_token={token}").as_bytes(),
                ),
            );
        }
    }

    // 4. Bad ids on every id route, pages and API.
    for id in BAD_IDS {
        for path in [
            format!("/connections/{id}"),
            format!("/settings/webhooks/{id}"),
            format!("/connect/{id}"),
            format!("/connect/s/{id}"),
            format!("/connect/done/{id}"),
            format!("/embed/{id}"),
            format!("/static/{id}"),
        ] {
            add(
                format!("GET {path}"),
                request("GET", &path, std::slice::from_ref(&cookie), b""),
            );
        }
        for path in [
            format!("/api/v1/connections/{id}"),
            format!("/api/v1/connections/{id}/token"),
            format!("/api/v1/connections/{id}/proxy/api/v4/leads"),
        ] {
            let method = if path.ends_with("/token") {
                "POST"
            } else {
                "GET"
            };
            add(
                format!("{method} {path}"),
                request(method, &path, std::slice::from_ref(&bearer), b""),
            );
        }
        add(
            format!("DELETE /api/v1/connections/{id}"),
            request(
                "DELETE",
                &format!("/api/v1/connections/{id}"),
                std::slice::from_ref(&bearer),
                b"",
            ),
        );
    }

    // 5. The API: bad cursors and limits, bad JSON, bad keys, methods it does not take.
    for query in [
        "cursor=",
        "cursor=x",
        "cursor=1.2",
        "cursor=-1.00000000-0000-0000-0000-000000000000",
        "cursor=99999999999999999999.x",
        "cursor=%ff",
        "cursor=1.%00",
        "limit=-1",
        "limit=0",
        "limit=1e9",
        "limit=abc",
        "limit=18446744073709551616",
        "limit=2&limit=3",
        "status=zombie",
        "platform=myspace",
        "search=%",
        "q[]=1",
        "cursor[]=1",
        "%zz=1",
        "=&&=",
        "limit=%20",
        "cursor=1.2.3.4",
        "cursor=9223372036854775807.ffffffff-ffff-ffff-ffff-ffffffffffff",
    ] {
        add(
            format!("GET /api/v1/connections?{query}"),
            request(
                "GET",
                &format!("/api/v1/connections?{query}"),
                std::slice::from_ref(&bearer),
                b"",
            ),
        );
    }
    for (label, body) in bad_json() {
        add(
            format!("POST /api/v1/connect-sessions json {label}"),
            request(
                "POST",
                "/api/v1/connect-sessions",
                &[bearer.clone(), json.clone()],
                &body,
            ),
        );
        add(
            format!("POST /api/v1/connect-sessions as text {label}"),
            request(
                "POST",
                "/api/v1/connect-sessions",
                &[bearer.clone(), ("Content-Type", "text/plain".into())],
                &body,
            ),
        );
    }
    for auth in [
        "".to_owned(),
        "Bearer".into(),
        "Bearer ".into(),
        "Basic YWxrXzE6eA==".into(),
        "bearer alk_nope".into(),
        format!("Bearer {}x", f.api_key),
        format!("Bearer {}", &f.api_key[..20]),
        format!("Bearer alk_{}", "A".repeat(8000)),
        "Bearer alk_\u{7f}".into(),
        format!("Token {}", f.api_key),
    ] {
        for path in [
            "/api/v1/connections".to_owned(),
            format!("/api/v1/connections/{conn}"),
            format!("/api/v1/connections/{conn}/token"),
            format!("/api/v1/connections/{conn}/proxy/api/v4/account"),
            "/api/v1/connect-sessions".into(),
        ] {
            let method = if path.contains("/token") || path.contains("connect-sessions") {
                "POST"
            } else {
                "GET"
            };
            add(
                format!("{method} {path} auth {auth}"),
                request(
                    method,
                    &path,
                    &[("Authorization", auth.clone()), json.clone()],
                    b"{}",
                ),
            );
        }
    }
    let api_paths: BTreeSet<&str> = web::api::routes().iter().map(|r| r.path).collect();
    for route_path in api_paths {
        let path = route_path
            .replace("{id}", conn)
            .replace("{path:.*}", "api/v4/leads");
        for method in ["PUT", "PATCH", "DELETE", "POST", "GET", "OPTIONS", "TRACE"] {
            let served = web::api::routes()
                .iter()
                .any(|r| r.path == route_path && r.method.as_str() == method);
            if served || route_path.contains("proxy") {
                continue;
            }
            add(
                format!("{method} /api/v1{path} not served"),
                request(
                    method,
                    &format!("/api/v1{path}"),
                    std::slice::from_ref(&bearer),
                    b"",
                ),
            );
        }
    }

    // 6. The proxy: every path trick, refused before a token or a rate slot is used.
    for tail in [
        "..%2f..%2foauth2%2faccess_token",
        "api/v4/../../oauth2/access_token",
        "api/v4/%2e%2e/x",
        "api/v4//leads",
        "api/v4/.",
        "api/v3/leads",
        "oauth2/access_token",
        "api/v4/%5c..%5c",
        "api/v4/le%00ads",
        "api/v4/leads%23frag",
        "api/v4/@evil.com",
        "http:%2f%2fevil.com/api/v4/",
        "%2f%2fevil.com/api/v4/",
        "api/v4/%E2%80%AE",
        "API/V4/leads",
        "api/v4/leads;x=1",
        "api/v4/leads?%zz",
        "api/v4/leads?a=%",
        "api/v4/leads?a=%4",
        "api/v4/leads?%%41",
    ] {
        add(
            format!("GET proxy {tail}"),
            request(
                "GET",
                &format!("/api/v1/connections/{conn}/proxy/{tail}"),
                std::slice::from_ref(&bearer),
                b"",
            ),
        );
    }
    for method in ["OPTIONS", "TRACE", "FOO"] {
        add(
            format!("{method} proxy"),
            request(
                method,
                &format!("/api/v1/connections/{conn}/proxy/api/v4/leads"),
                std::slice::from_ref(&bearer),
                b"",
            ),
        );
    }
    add(
        "POST proxy body over 2 MiB".into(),
        request(
            "POST",
            &format!("/api/v1/connections/{conn}/proxy/api/v4/leads"),
            &[bearer.clone(), json.clone()],
            &vec![b'x'; 3 * 1024 * 1024],
        ),
    );

    // 7. amoCRM's routes: broken secrets deliveries, callbacks and disconnect hooks.
    for (label, content_type, body) in [
        ("empty json", "application/json", Vec::new()),
        ("empty form", "application/x-www-form-urlencoded", Vec::new()),
        ("unknown state", "application/json", br#"{"client_id":"00000000-0000-4000-8000-000000000000","client_secret":"0123456789abcdef0123","state":"nope"}"#.to_vec()),
        ("bad uuid", "application/json", br#"{"client_id":"x","client_secret":"s","state":"t"}"#.to_vec()),
        ("numbers", "application/json", br#"{"client_id":1,"client_secret":2,"state":3}"#.to_vec()),
        ("form bad escape", "application/x-www-form-urlencoded", b"client_id=%zz&client_secret=%&state=%%".to_vec()),
        ("xml", "application/xml", b"<x/>".to_vec()),
        ("nul", "application/json", b"\0\0\0".to_vec()),
        ("long state", "application/json", format!("{{\"client_id\":\"00000000-0000-4000-8000-000000000000\",\"client_secret\":\"0123456789abcdef\",\"state\":\"{}\"}}", "s".repeat(5000)).into_bytes()),
        ("over 8 KiB", "application/json", vec![b' '; 9000]),
        ("1 MB", "application/json", vec![b'{'; 1024 * 1024]),
        ("deep", "application/json", "[".repeat(8000).into_bytes()),
        ("charset", "application/json; charset=utf-16", br#"{"client_id":"a"}"#.to_vec()),
        ("gzip claim", "application/json", b"\x1f\x8b\x08\x00garbage".to_vec()),
    ] {
        let mut headers = vec![("Content-Type", content_type.to_owned())];
        if label == "gzip claim" {
            headers.push(("Content-Encoding", "gzip".into()));
        }
        add(format!("POST /amocrm/secrets {label}"), request("POST", "/amocrm/secrets", &headers, &body));
    }
    // amoCRM's event deliveries: unknown tokens and broken bodies.
    for (label, content_type, body) in [
        ("empty", "application/x-www-form-urlencoded", Vec::new()),
        (
            "bad escape",
            "application/x-www-form-urlencoded",
            b"leads[add][0][id]=%zz&account[id]=%".to_vec(),
        ),
        (
            "deep brackets",
            "application/x-www-form-urlencoded",
            format!("{}=1", "[a]".repeat(2000)).into_bytes(),
        ),
        (
            "json",
            "application/json",
            br#"{"leads":{"add":[{"id":"x"}]}}"#.to_vec(),
        ),
        ("binary", "application/octet-stream", vec![0xff; 300]),
        (
            "oversized",
            "application/x-www-form-urlencoded",
            vec![b'a'; 3 * 1024 * 1024],
        ),
    ] {
        for token in [
            "x",
            "%00",
            "..%2f..",
            "0000000000000000000000000000000000000000000",
        ] {
            add(
                format!("POST /amocrm/events/{token} {label}"),
                request(
                    "POST",
                    &format!("/amocrm/events/{token}"),
                    &[("Content-Type", content_type.to_owned())],
                    &body,
                ),
            );
        }
    }
    for query in [
        "",
        "code=x",
        "state=x",
        "code=x&state=x&referer=evil.com",
        "code=x&state=x&referer=a.amocrm.ru%40evil.com",
        "code=x&state=x&referer=127.0.0.1",
        "code=%zz&state=%",
        "error=access_denied&state=x",
        "state[]=1",
        "code=x&state=x&referer=a.amocrm.ru&client_id=%00",
        "referer=",
        "state=%ff%fe",
        "code=x&state=x&referer=xn--80ak6aa92e.amocrm.ru",
        "code=x&code=y&state=x",
    ] {
        add(
            format!("GET /amocrm/callback?{query}"),
            request("GET", &format!("/amocrm/callback?{query}"), &[], b""),
        );
    }
    for query in [
        "",
        "client_uuid=x",
        "client_uuid=x&account_id=1&signature=00",
        "signature=%zz",
        "client_uuid=00000000-0000-4000-8000-000000000000&account_id=31000001&signature=deadbeef",
        "account_id=-1&signature=",
        "client_uuid[]=1",
    ] {
        add(
            format!("GET /amocrm/disconnect?{query}"),
            request("GET", &format!("/amocrm/disconnect?{query}"), &[], b""),
        );
    }

    // 8. Path tricks and odd targets.
    for target in [
        "/..",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fCargo.toml",
        "/static/%2e%2e%2fCargo.toml",
        "//dashboard",
        "///",
        "/dashboard/",
        "/dashboard%00",
        "/dashboard;jsessionid=1",
        "/%",
        "/%%%",
        "/%u0041",
        "/connections/%2F",
        "/\\dashboard",
        "/api/v1/../v1/connections",
        "/api/v1//connections",
        "/api/v2/connections",
        "/api/",
        "/API/V1/connections",
        "http://evil.example/dashboard",
        "*",
        "/?a=%",
        "/?",
        "/login?next=//evil.example",
        "/login?next=https:evil.example",
        "/static/",
        "/static/app.css?v=%00",
        "/embed/",
        "/embed/.js",
        "/connect/",
        "/connect/s/",
        "/%E2%80%AEtxt",
        "/\u{0430}dmin",
        "/index.php",
        "/.env",
        "/.git/config",
        "/wp-login.php",
    ] {
        add(
            format!("GET {target}"),
            request("GET", target, std::slice::from_ref(&cookie), b""),
        );
    }
    add(
        "GET very long path".into(),
        request("GET", &format!("/{}", "a".repeat(20_000)), &[], b""),
    );
    add(
        "GET very long query".into(),
        request("GET", &format!("/login?{}", "a=1&".repeat(5_000)), &[], b""),
    );

    // 9. Odd and huge headers on ordinary routes.
    for (label, headers) in [
        (
            "huge cookie",
            vec![("Cookie", format!("amolink_sid={}", "a".repeat(16_000)))],
        ),
        (
            "garbage cookie",
            vec![("Cookie", "amolink_sid=%%%; ; ;=;".into())],
        ),
        (
            "many cookies",
            vec![(
                "Cookie",
                (0..500)
                    .map(|i| format!("c{i}=v"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )],
        ),
        (
            "forged session",
            vec![(
                "Cookie",
                "amolink_sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            )],
        ),
        (
            "spoofed forwarded",
            vec![
                ("X-Forwarded-For", "1.2.3.4, ::1, <script>".into()),
                ("Forwarded", "for=\"[::1]\";proto=gopher".into()),
            ],
        ),
        (
            "bad host",
            vec![
                ("X-Forwarded-Host", "evil.example".into()),
                ("X-Original-URL", "/admin".into()),
            ],
        ),
        (
            "accept garbage",
            vec![
                ("Accept", "*/*;q=nope, text/html;;;".into()),
                ("Accept-Language", "xx-\u{7f}".into()),
            ],
        ),
        ("range", vec![("Range", "bytes=999999999-0".into())]),
        ("if-none-match", vec![("If-None-Match", "\"".repeat(3000))]),
        ("long user agent", vec![("User-Agent", "u".repeat(7000))]),
        (
            "sec-fetch junk",
            vec![
                ("Sec-Fetch-Site", "bogus".into()),
                ("Origin", "null".into()),
            ],
        ),
        ("expect", vec![("Expect", "100-continue".into())]),
        (
            "content-type garbage",
            vec![("Content-Type", ";;;=".into())],
        ),
        (
            "upgrade",
            vec![
                ("Upgrade", "websocket".into()),
                ("Connection", "Upgrade".into()),
            ],
        ),
        (
            "te trailers",
            vec![("TE", "trailers, deflate;q=0.5".into())],
        ),
        (
            "accept-encoding",
            vec![("Accept-Encoding", "br;q=2, gzip;q=-1, *;q=NaN".into())],
        ),
    ] {
        for path in [
            "/",
            "/login",
            "/dashboard",
            "/api/v1/connections",
            "/healthz",
        ] {
            add(
                format!("GET {path} {label}"),
                request("GET", path, &headers, b""),
            );
        }
    }

    // 10. Every route of the page table (so routes added later are covered too): methods it
    //     does not take, broken forms without a usable token, and junk path parameters.
    for route in web::routes::page_routes() {
        for junk in ["x", "00000000-0000-4000-8000-000000000000", "%2e%2e", "%00"] {
            let path = fill_params(route.path, junk);
            add(
                format!("{} {path} junk parameter", route.method),
                request(
                    route.method.as_str(),
                    &path,
                    &[cookie.clone(), form.clone()],
                    b"csrf_token=x",
                ),
            );
            add(
                format!("{} {path} junk parameter anonymous", route.method),
                request(
                    route.method.as_str(),
                    &path,
                    std::slice::from_ref(&form),
                    b"csrf_token=x",
                ),
            );
        }
        let path = fill_params(route.path, "x");
        for method in ["PUT", "DELETE", "PATCH"] {
            add(
                format!("{method} {path} (table)"),
                request(method, &path, std::slice::from_ref(&cookie), b"y=2"),
            );
        }
        if route.method == actix_web::http::Method::POST {
            for (label, body) in bad_forms("BBBB") {
                add(
                    format!("POST {path} table form {label}"),
                    request("POST", &path, &[cookie.clone(), form.clone()], &body),
                );
            }
        }
    }

    // 11. Broken HTTP on the wire.
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("no version", b"GET /\r\n\r\n".to_vec()),
        ("http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("http/0.9", b"GET /\n".to_vec()),
        ("http/9.9", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n".to_vec()),
        ("lowercase method", b"get / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("header without colon", b"GET / HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n".to_vec()),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\nConnection: close\r\n\r\n".to_vec()),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n".to_vec()),
        ("bare lf", b"GET / HTTP/1.1\nHost: x\nConnection: close\n\n".to_vec()),
        ("nul in target", b"GET /\0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("non-utf8 target", b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec()),
        ("non-ascii header", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\nConnection: close\r\n\r\n".to_vec()),
        ("two content-lengths", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{}".to_vec()),
        ("negative content-length", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n".to_vec()),
        ("text content-length", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\nConnection: close\r\n\r\n".to_vec()),
        ("huge content-length", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n".to_vec()),
        ("te and cl", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n".to_vec()),
        ("bad chunk size", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec()),
        ("huge chunk size", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffff\r\nabc\r\n".to_vec()),
        ("unknown transfer-encoding", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, rot13\r\nConnection: close\r\n\r\n0\r\n\r\n".to_vec()),
        ("chunked with trailer", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec()),
        ("short body", b"POST /amocrm/secrets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}".to_vec()),
        ("pipelined", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nBROKEN\r\n\r\n".to_vec()),
        ("no host", b"GET /dashboard HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec()),
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n".to_vec()),
        ("many headers", {
            let mut r = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
            for i in 0..300 {
                r.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
            }
            r.extend_from_slice(b"Connection: close\r\n\r\n");
            r
        }),
        ("huge header", format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "b".repeat(100_000)).into_bytes()),
        ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
        ("only crlf", b"\r\n\r\n\r\n".to_vec()),
        ("method too long", format!("{} / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "G".repeat(10_000)).into_bytes()),
        ("absolute form", b"GET http://127.0.0.1/dashboard HTTP/1.1\r\nHost: evil\r\nConnection: close\r\n\r\n".to_vec()),
        ("connect", b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n".to_vec()),
        ("http/1.0 keepalive", b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec()),
    ];
    for (label, bytes) in raw {
        add(format!("raw {label}"), bytes);
    }
    cases
}

async fn hostile_requests_change_nothing(engine: Engine) {
    let panics = server_panics();
    let app = spawn_app(engine).await;
    let fixture = fixture(&app).await;
    let before = dump(&app).await;
    let panics_before = panics.load(Ordering::SeqCst);

    let cases = cases(&fixture);
    let distinct: BTreeSet<&[u8]> = cases.iter().map(|c| c.bytes.as_slice()).collect();
    assert_eq!(distinct.len(), cases.len(), "some requests repeat");
    assert!(cases.len() >= 500, "only {} hostile requests", cases.len());

    let mut server_errors = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for case in &cases {
        let status = send(app.port, &case.bytes).await;
        *statuses.entry(status.unwrap_or(0)).or_default() += 1;
        if std::env::var_os("HOSTILE_TRACE").is_some() {
            eprintln!("{status:?} {}", case.name);
        }
        if status.is_some_and(|s| s >= 500) {
            server_errors.push(format!("{} -> {status:?}", case.name));
        }
    }
    assert!(server_errors.is_empty(), "5xx answers: {server_errors:#?}");
    assert_eq!(
        panics.load(Ordering::SeqCst),
        panics_before,
        "a server thread panicked"
    );

    let health = reqwest::get(format!("{}/healthz", app.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the server keeps serving");

    let mut after = dump(&app).await;
    // Anonymous pages store no session (their CSRF token is a signed cookie): the sessions
    // are exactly those that existed.
    let sessions_before = before.get("web_sessions").cloned().unwrap_or_default();
    let sessions_after = after.remove("web_sessions").unwrap_or_default();
    let mut before = before;
    before.remove("web_sessions");
    assert_eq!(
        sessions_after, sessions_before,
        "hostile requests added or changed session rows"
    );
    // The activity log records every proxied call, refused ones included (issue 12): it may
    // grow, but nothing in it changes.
    let activity_before = before.remove("connection_activity").unwrap_or_default();
    let activity_after = after.remove("connection_activity").unwrap_or_default();
    for row in &activity_before {
        assert!(
            activity_after.contains(row),
            "an activity row changed: {row}"
        );
    }
    // Hostile sign-in attempts are what the sign-in throttle counts (issue 14): its counters move
    // by design.
    before.remove("login_throttle");
    after.remove("login_throttle");
    for (table, rows) in &before {
        assert_eq!(after.get(table), Some(rows), "table {table} changed");
    }
    assert_eq!(before.len(), after.len(), "tables appeared or vanished");
    assert!(
        statuses.keys().any(|s| (400..500).contains(s)),
        "the run never reached a handler: {statuses:?}"
    );
}

both_engines!(hostile_requests_change_nothing);

/// Connection CSRF (security.md §1.4 case 2, R15): a genuine callback URL — valid state, valid
/// code — opened by any browser but the one that started the flow (an attacker luring a victim,
/// or a leaked link) connects nothing in any workspace, and leaves the flow usable by its owner.
async fn a_callback_opened_in_another_browser_connects_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let (tenant, link) = crate::connect::tenant(&app, "ann@example.com").await;
    let (customer, _tag, callback) = app.consent(&link, DEMO_ADMIN_ACCOUNT).await;
    let victim = app.signed_in_browser("bob@example.com", "Victim").await;
    for stranger in [&victim, &app.browser()] {
        let res = stranger.client.get(&callback).send().await.unwrap();
        assert!(
            res.status().is_client_error(),
            "a foreign browser's callback: {}",
            res.status()
        );
    }
    assert!(
        !victim
            .get_html("/connections")
            .await
            .contains("demo.amocrm.ru")
    );
    assert!(
        !tenant
            .get_html("/connections")
            .await
            .contains("demo.amocrm.ru")
    );
    let genuine = customer.client.get(&callback).send().await.unwrap();
    assert_eq!(
        genuine.status(),
        303,
        "the flow's own browser still completes it"
    );
    assert!(
        tenant
            .get_html("/connections")
            .await
            .contains("demo.amocrm.ru")
    );
}

both_engines!(a_callback_opened_in_another_browser_connects_nothing);
