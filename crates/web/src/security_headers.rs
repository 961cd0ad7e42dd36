//! Security headers on every response (docs/security-requirements.md R12).

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
};

/// Script sources: our own origin, plus amoCRM's and Kommo's button scripts on the connect page.
const CSP: &str = "default-src 'self'; script-src 'self' https://www.amocrm.ru https://www.kommo.com; \
style-src 'self'; img-src 'self' https: data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The demo simulator's pages (mounted only in demo mode) stand in for amoCRM's own site: they
/// style themselves with one inline `<style>` block, which amolink's policy would block.
const SIMULATOR_CSP: &str = "default-src 'self'; script-src 'self'; \
style-src 'self' 'unsafe-inline'; img-src 'self' https: data:; connect-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Pages that carry an OAuth `state` or `code`: their URLs must not leak through `Referer`.
fn is_oauth_page(path: &str) -> bool {
    path.starts_with("/connect/") || path.starts_with("/amocrm/")
}

fn is_simulator_page(path: &str) -> bool {
    path.starts_with("/_sim/")
}

/// Adds the headers. `hsts` is on when amolink is served over https.
///
/// # Errors
/// Propagates the inner service's error.
pub async fn add(
    hsts: bool,
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let path = req.path().to_owned();
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    if is_simulator_page(&path) {
        set(header::CONTENT_SECURITY_POLICY, SIMULATOR_CSP);
    } else {
        set(header::CONTENT_SECURITY_POLICY, CSP);
    }
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    // The simulator's consent popup too: it must keep its opener, as amoCRM's does.
    if is_oauth_page(&path) || is_simulator_page(&path) {
        set(header::REFERRER_POLICY, "no-referrer");
        // The connect pages keep two opener links: to amoCRM's consent window (popup mode) and
        // to the tenant's page that opened them through the embed loader, which learns the
        // outcome by `postMessage` (sent to that page's origin only) and sees the popup close.
        // Any COOP but `unsafe-none` puts a page opened from another origin in a new browsing
        // context group, cutting that link: the tenant's page would see the popup "closed"
        // the moment it loads and never hear how the flow ended.
        set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "unsafe-none",
        );
    } else {
        set(header::REFERRER_POLICY, "strict-origin-when-cross-origin");
        set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        );
    }
    if path.starts_with("/static/") {
        set(header::CACHE_CONTROL, "public, max-age=3600");
    } else {
        set(header::CACHE_CONTROL, "no-store");
    }
    if hsts {
        set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
    headers.remove(header::SERVER);
    Ok(res)
}
