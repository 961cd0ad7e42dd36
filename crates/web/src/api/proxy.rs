//! `ANY /api/v1/connections/{id}/proxy/{path}`: a tenant's amoCRM API call, forwarded to the
//! connection's account host with its token (`domain::access::Proxy` decides everything; this
//! module only translates between actix and the amoCRM client's types).
//!
//! The path is taken from the raw request line, not from actix's decoded match, so what is
//! validated is exactly what the tenant sent: `%2e%2e` stays `%2e%2e` and is refused.

use std::time::{Duration, Instant};

use actix_web::ResponseError as _;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, HeaderName, HeaderValue},
    },
    web,
};
use domain::amo::ForwardRequest;
use domain::{
    access::Proxied,
    activity::{ActivityKind, ActivityRecorder, NewActivity, path_without_query},
    api_keys::ApiScope,
};
use futures_util::StreamExt as _;

use super::{
    caller::ApiCaller,
    connections::connection_id,
    openapi::{ApiMethod, ApiRoute, BASE, In, Operation, Param, Reply},
    schema::{Components, Schema},
};
use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

/// The route; actix needs the regex so `{path}` can span segments.
const PATH: &str = "/connections/{id}/proxy/{path:.*}";
/// The largest request body forwarded (amoCRM takes at most 250 entities per write).
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// `(method, operationId, summary)` of each forwarded method.
const METHODS: [(ApiMethod, &str, &str); 6] = [
    (ApiMethod::Get, "proxyGet", "Proxy a GET to amoCRM"),
    (ApiMethod::Head, "proxyHead", "Proxy a HEAD to amoCRM"),
    (ApiMethod::Post, "proxyPost", "Proxy a POST to amoCRM"),
    (ApiMethod::Put, "proxyPut", "Proxy a PUT to amoCRM"),
    (ApiMethod::Patch, "proxyPatch", "Proxy a PATCH to amoCRM"),
    (ApiMethod::Delete, "proxyDelete", "Proxy a DELETE to amoCRM"),
];

pub fn routes() -> Vec<ApiRoute> {
    let describe: [fn(&mut Components) -> Operation; 6] = [
        describe::<0>,
        describe::<1>,
        describe::<2>,
        describe::<3>,
        describe::<4>,
        describe::<5>,
    ];
    METHODS
        .iter()
        .zip(describe)
        .map(|((method, _, _), describe)| ApiRoute {
            method: *method,
            path: PATH,
            scope: Some(ApiScope::Proxy),
            attach: |route| route.to(forward),
            describe,
        })
        .collect()
}

fn describe<const M: usize>(_: &mut Components) -> Operation {
    let (_, id, summary) = METHODS[M];
    Operation {
        id,
        summary,
        description: "Forwards the call to `https://{account host}/{path}?{query}` with the \
connection's current access token and relays amoCRM's answer (status, body and the headers \
`Content-Type`, `Cache-Control`, `ETag`, `Last-Modified`, `Retry-After`) as it streams in. The \
body is forwarded as is (at most 2 MiB), with `Content-Type`, `Accept`, `Accept-Language`, \
`If-Modified-Since`, `If-None-Match` and `X-Context-User-ID`; your `Authorization` and cookies \
never leave amolink. Only `api/v4/…` paths of unreserved characters are forwarded: no dot or \
empty segments, no percent escapes, no backslashes, no absolute URLs. amolink paces calls to at \
most 7 per second per connection across all its instances; calls wait their turn in order for \
up to 10 seconds, then get 429 with `Retry-After`. A 401 from amoCRM makes amolink refresh the \
token once and retry; amoCRM's 429 is relayed with `Retry-After` and pauses the connection; an \
amoCRM block (403) pauses it for a cooldown and marks it `rate_limited`.",
        params: vec![
            Param {
                name: "id",
                location: In::Path,
                required: true,
                description: "The connection id.",
                schema: Schema::uuid(),
            },
            Param {
                name: "path",
                location: In::Path,
                required: true,
                description: "The amoCRM API path without its leading slash, e.g. \
`api/v4/leads`.",
                schema: Schema::string().pattern("^api/v4/[A-Za-z0-9._~/-]*$"),
            },
        ],
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "amoCRM's answer, relayed (usually `application/hal+json`); any other \
amoCRM status is relayed the same way.",
            body: None,
        }],
        errors: vec![
            (
                400,
                "The path, query or method may not be forwarded (or amoCRM refused the request).",
            ),
            (
                409,
                "The connection cannot be used (needs re-authorization, disconnected or revoked).",
            ),
            (413, "The request body is larger than 2 MiB."),
            (
                502,
                "amoCRM could not be reached, or refused a freshly refreshed token.",
            ),
        ],
    }
}

fn bad(detail: &str) -> ApiError {
    AppError::BadRequest(detail.to_owned()).into()
}

/// The raw `{id}` and `/{path}` of a proxy URL, as the tenant sent them.
fn raw_target(req: &HttpRequest) -> Option<(&str, String)> {
    let rest = req.uri().path().strip_prefix(BASE)?;
    let mut parts = rest.splitn(5, '/');
    let (Some(""), Some(_connections), Some(id), Some(_proxy), Some(path)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    Some((id, format!("/{path}")))
}

/// The tenant headers amoCRM may receive, in the client's types. Only the allow-listed ones are
/// converted (names are static, no allocation); the rest — credentials and cookies included —
/// are never copied at all.
fn tenant_headers(req: &HttpRequest) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    for &name in amocrm::FORWARDED_REQUEST_HEADERS {
        for value in req.headers().get_all(name) {
            if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(reqwest::header::HeaderName::from_static(name), value);
            }
        }
    }
    headers
}

/// Seconds for `Retry-After`, rounded up.
fn seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A proxied call's activity entry, recorded when amoCRM's body has been relayed (or the
/// client went away): the stream counts the bytes and, when dropped, records the total.
struct Tally {
    recorder: ActivityRecorder,
    entry: Option<NewActivity>,
    bytes: u64,
}

impl Drop for Tally {
    fn drop(&mut self) {
        if let Some(mut entry) = self.entry.take() {
            entry.response_bytes = Some(self.bytes);
            self.recorder.record(entry);
        }
    }
}

fn millis(since: Instant) -> Option<u32> {
    Some(u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX))
}

/// amoCRM's answer as an actix response, body streamed (and counted for the activity entry).
fn relay(proxied: Proxied, mut tally: Tally) -> HttpResponse {
    let Proxied {
        response,
        retry_after,
    } = proxied;
    let status = StatusCode::from_u16(response.status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((name, value));
        }
    }
    if let Some(wait) = retry_after {
        builder.insert_header((header::RETRY_AFTER, seconds(wait).to_string()));
    }
    if !response
        .headers
        .contains_key(reqwest::header::CACHE_CONTROL)
    {
        // Account data: no shared cache may keep it.
        builder.insert_header((header::CACHE_CONTROL, "private, no-store"));
    }
    if let Some(entry) = tally.entry.as_mut() {
        entry.status = Some(status.as_u16());
    }
    builder.streaming(response.body.map(move |chunk| {
        // The whole tally moves into the stream (not just its counter), so it is dropped, and
        // the entry recorded, with the stream.
        let tally = &mut tally;
        if let Ok(bytes) = &chunk {
            tally.bytes += bytes.len() as u64;
        }
        chunk
    }))
}

/// `ANY /api/v1/connections/{id}/proxy/{path}`
async fn forward(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (id, path) = raw_target(&req).ok_or_else(|| bad("the proxy path is malformed"))?;
    let id = connection_id(id)?;
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| bad("the method is not valid"))?;
    let body = match payload.to_bytes_limited(BODY_LIMIT).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(bad("the request body could not be read")),
        Err(_) => return Err(AppError::PayloadTooLarge.into()),
    };
    let query = Some(req.query_string())
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let request = ForwardRequest {
        method,
        path,
        query,
        headers: tenant_headers(&req),
        body,
    };
    // Activity: the method, the path without its query, the sizes; never the query or a body.
    let started = Instant::now();
    let mut entry = NewActivity::new(
        caller.workspace,
        id,
        state.clock.now(),
        ActivityKind::ProxyCall,
        "relayed",
    );
    entry.method = Some(request.method.as_str().to_owned());
    entry.path = Some(path_without_query(&request.path));
    entry.request_bytes = Some(request.body.len() as u64);
    let recorder = state.activity.recorder().clone();
    match state
        .access
        .proxy
        .forward(caller.workspace, id, request)
        .await
    {
        Ok(proxied) => {
            entry.latency_ms = millis(started);
            let tally = Tally {
                recorder,
                entry: Some(entry),
                bytes: 0,
            };
            Ok(relay(proxied, tally))
        }
        Err(e) => {
            let error = ApiError::from(e);
            let status = error.status_code();
            // 404: not this workspace's connection, so not its activity either.
            if status != StatusCode::NOT_FOUND {
                entry.status = Some(status.as_u16());
                entry.outcome = "refused";
                entry.latency_ms = millis(started);
                recorder.record(entry);
            }
            Err(error)
        }
    }
}
