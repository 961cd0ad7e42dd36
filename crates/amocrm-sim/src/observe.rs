//! Feeding the witness from the request stream: which integration an API request belongs to,
//! decided on arrival from what the client presented, before any handler, fault or limit runs —
//! so requests answered 401, 429, 403 or by a fault count like any other.

use std::time::Instant;

use actix_web::dev::RequestHead;
use actix_web::http::header::AUTHORIZATION;

use crate::hosts::SimHost;
use crate::store::State;
use crate::tokens;

/// The path of the token endpoint, which is counted as token calls, not API arrivals.
const TOKEN_PATH: &str = "/oauth2/access_token";

/// What a request presented that can name its integration.
#[derive(Debug, Default)]
pub struct Presented {
    bearer: Option<String>,
    refresh_token: Option<String>,
}

impl Presented {
    /// The credentials of an API request to an account or API host, or `None` for any other
    /// request (pages, the token endpoint, foreign hosts).
    pub fn of_api_request(host: &str, path: &str, head: &RequestHead) -> Option<Self> {
        let api_host = matches!(
            SimHost::parse(host),
            Some(SimHost::Account { .. } | SimHost::Api(_))
        );
        if !api_host || path.ends_with(TOKEN_PATH) {
            return None;
        }
        let header = |name| {
            head.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        Some(Self {
            bearer: header(AUTHORIZATION.as_str())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| t.trim().to_owned()),
            refresh_token: header("x-refresh-token").map(str::to_owned),
        })
    }
}

impl State {
    /// Counts an API arrival for the integration the request presented, if any can be named:
    /// by the access token (known to the simulator, or by its `aud` claim, even when expired or
    /// revoked), else by the refresh token of a subdomain lookup. Reports an access token used
    /// past its real expiry. Returns the integration.
    pub fn observe_api_arrival(&mut self, presented: &Presented, path: &str) -> Option<String> {
        let now = Instant::now();
        let at = self.clock.now();
        let by_bearer =
            presented
                .bearer
                .as_deref()
                .and_then(|token| match self.access_tokens.get(token) {
                    Some(record) => {
                        let client_id = self.grants.get(&record.grant_id)?.client_id.clone();
                        if at >= record.expires_at {
                            let late_ms = (at - record.expires_at).num_milliseconds();
                            self.witness
                                .expired_token_used(&client_id, at, late_ms, path);
                        }
                        Some(client_id)
                    }
                    None => {
                        tokens::audience(token).filter(|aud| self.integrations.contains_key(aud))
                    }
                });
        let client_id = by_bearer.or_else(|| {
            let record = self
                .refresh_tokens
                .get(presented.refresh_token.as_deref()?)?;
            Some(self.grants.get(&record.grant_id)?.client_id.clone())
        })?;
        self.witness.api_arrival(&client_id, now, at);
        Some(client_id)
    }

    /// Notes that an API request of `client_id` was answered 401 (a refusal that entitles the
    /// client to one refresh).
    pub fn observe_api_refusal(&mut self, client_id: &str) {
        let at = self.clock.now();
        self.witness.api_refused(client_id, at);
    }
}
