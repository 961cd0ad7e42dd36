//! Minimal, self-contained HTML pages (no external resources) with everything escaped.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;\
padding:0 1rem;color:#1d2a36}h1{font-size:1.3rem}.card{border:1px solid #d4dde6;border-radius:8px;\
padding:1rem;margin:1rem 0}.logo{max-width:64px;max-height:64px}.error{color:#b3261e}\
button{padding:.5rem 1.2rem;margin-right:.5rem;font-size:1rem}label{display:block;margin:.3rem 0}\
.muted{color:#6b7a88;font-size:.9rem}";

/// A complete page; `title` is escaped here, `body` must already be safe HTML.
pub fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
            escape(title)
        ))
}

/// An error page with a plain-text message.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    page(
        status,
        "Ошибка",
        &format!(
            "<h1>Ошибка</h1><p class=\"error\" id=\"sim-error\">{}</p>",
            escape(message)
        ),
    )
}

/// A JavaScript response (scripts are files, never inline, so pages pass a strict CSP).
pub fn javascript(source: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .body(source)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<img src=x onerror='a(1)'>&\""),
            "&lt;img src=x onerror=&#39;a(1)&#39;&gt;&amp;&quot;"
        );
    }
}
