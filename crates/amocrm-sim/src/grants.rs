//! The OAuth rules: codes, token issue, refresh rotation with its grace window, access-token
//! checks and revocation. Pure state transitions; HTTP lives in `oauth.rs` and `api.rs`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::config::{DEMO_USER_ID, RefreshGrace, StatedExpiresIn};
use crate::hosts::Platform;
use crate::journal::Event;
use crate::store::{AccessRecord, AuthCode, Grant, Pair, RefreshRecord, State};
use crate::tokens::{self, AccessClaims};
use crate::witness::CallId;

/// Lifetime of an authorization code.
const CODE_TTL_MINUTES: i64 = 20;

/// `secs` seconds after `from`, saturating at the ends of time (settings are test input).
fn after(from: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    Duration::try_seconds(secs)
        .and_then(|d| from.checked_add_signed(d))
        .unwrap_or(if secs > 0 {
            DateTime::<Utc>::MAX_UTC
        } else {
            DateTime::<Utc>::MIN_UTC
        })
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// The access token's real lifetime.
    pub ttl_secs: i64,
    /// What `expires_in` says.
    pub stated: StatedExpiresIn,
    pub access_token: String,
    pub refresh_token: String,
    /// Only Kommo documents this field.
    pub server_time: Option<i64>,
}

impl IssuedTokens {
    /// The response body.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "token_type": "Bearer",
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        });
        match &self.stated {
            StatedExpiresIn::Truthful => body["expires_in"] = json!(self.ttl_secs),
            StatedExpiresIn::Missing => {}
            StatedExpiresIn::Value(value) => body["expires_in"] = value.clone(),
        }
        if let Some(server_time) = self.server_time {
            body["server_time"] = json!(server_time);
        }
        body
    }
}

/// Why the token endpoint refused; each maps to one row of amoCRM's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    InvalidClient,
    CodeUnknown,
    CodeExpired,
    CodeRevoked,
    CodeForeign,
    RefreshUnknown,
    RefreshExpired,
    RefreshRevoked,
    RefreshForeign,
}

impl TokenError {
    /// The league/oauth2-server hint amoCRM passes through.
    pub fn hint(self) -> &'static str {
        match self {
            Self::InvalidClient => "Client authentication failed",
            Self::CodeUnknown => "Cannot decrypt the authorization code",
            Self::CodeExpired => "Authorization code has expired",
            Self::CodeRevoked => "Authorization code has been revoked",
            Self::CodeForeign => "Authorization code was not issued to this client",
            Self::RefreshUnknown => "Cannot decrypt the refresh token",
            Self::RefreshExpired => "Token has expired",
            Self::RefreshRevoked => "Token has been revoked",
            Self::RefreshForeign => "Token is not linked to client",
        }
    }
}

/// The integration and account an access token acts for.
#[derive(Debug, Clone)]
pub struct Bearer {
    pub client_id: String,
    pub account_id: i64,
}

impl State {
    /// Checks the client's credentials. A wrong `redirect_uri` is a client-authentication failure
    /// in league/oauth2-server. Credentials outlive an uninstall, so a client refreshing after
    /// one learns "Token has been revoked", not "bad client".
    pub fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
    ) -> Result<(), TokenError> {
        let integration = self
            .integrations
            .get(client_id)
            .ok_or(TokenError::InvalidClient)?;
        let valid =
            integration.client_secret == client_secret && integration.redirect_uri == redirect_uri;
        valid.then_some(()).ok_or(TokenError::InvalidClient)
    }

    /// Issues a code for `client_id` in `account_id`.
    pub fn issue_code(&mut self, client_id: &str, account_id: i64) -> String {
        let code = tokens::new_code();
        let expires_at = self.clock.now() + Duration::minutes(CODE_TTL_MINUTES);
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_owned(),
                account_id,
                expires_at,
                used: false,
            },
        );
        self.record(Event::CodeIssued {
            client_id: client_id.to_owned(),
            account_id,
        });
        code
    }

    /// Redeems a code (client already authenticated). A code sent to another account's host is
    /// a client failure (401), as the integration does not exist there.
    pub fn exchange_code(
        &mut self,
        client_id: &str,
        host_account: i64,
        code: &str,
    ) -> Result<IssuedTokens, TokenError> {
        let now = self.clock.now();
        let entry = self.codes.get_mut(code).ok_or(TokenError::CodeUnknown)?;
        if entry.account_id != host_account {
            return Err(TokenError::InvalidClient);
        }
        if now >= entry.expires_at {
            return Err(TokenError::CodeExpired);
        }
        if entry.used {
            return Err(TokenError::CodeRevoked);
        }
        if entry.client_id != client_id {
            return Err(TokenError::CodeForeign);
        }
        entry.used = true;
        let scopes = self
            .integrations
            .get(client_id)
            .map(|i| i.scopes.clone())
            .unwrap_or_default();
        let grant_id = self.next_grant_id(client_id);
        self.grants.insert(
            grant_id,
            Grant {
                client_id: client_id.to_owned(),
                account_id: host_account,
                scopes,
                pairs: Vec::new(),
                current: 0,
                grace: None,
                revoked: false,
            },
        );
        self.stats.codes_exchanged += 1;
        self.issue_pair(grant_id, "authorization_code")
    }

    /// Exchanges a refresh token, applying the rotation and grace rules, and journals the
    /// presentation (which token, whether it was the latest, whether it was accepted). A known
    /// token that is not the newest of its grant is reported to the witness whatever the verdict.
    pub fn refresh(
        &mut self,
        client_id: &str,
        host_account: i64,
        refresh_token: &str,
        call: Option<&CallId>,
    ) -> Result<IssuedTokens, TokenError> {
        let presented = self.judge_refresh(client_id, host_account, refresh_token);
        let known = presented.is_some();
        let (latest, verdict) = match presented {
            Some((latest, verdict)) => (latest, verdict),
            None => (false, Err(TokenError::RefreshUnknown)),
        };
        if let Some(call) = call.filter(|_| known) {
            self.witness.token_call_judged(call, latest);
        }
        if known && !latest {
            let now = self.clock.now();
            self.witness.rotated_presented(
                client_id,
                now,
                tokens::fingerprint(refresh_token),
                verdict.is_ok(),
            );
        }
        let stale = verdict == Err(TokenError::RefreshRevoked) && !latest && {
            // Revoked because it was rotated out, not because the whole grant died.
            self.refresh_tokens
                .get(refresh_token)
                .and_then(|r| self.grants.get(&r.grant_id))
                .is_some_and(|g| !g.revoked)
        };
        if stale {
            self.stats.stale_refresh_presentations += 1;
        }
        match verdict {
            Ok(()) => self.stats.refreshes_accepted += 1,
            Err(_) => self.stats.refreshes_rejected += 1,
        }
        self.record(Event::RefreshPresented {
            client_id: client_id.to_owned(),
            rt_fingerprint: tokens::fingerprint(refresh_token),
            latest,
            accepted: verdict.is_ok(),
            stale_refresh_token: stale,
            hint: verdict.err().map(|e| e.hint().to_owned()),
        });
        verdict?;
        let record = self
            .refresh_tokens
            .get(refresh_token)
            .copied()
            .ok_or(TokenError::RefreshUnknown)?;
        let grace_on = self.config.refresh_grace != RefreshGrace::Off;
        let grant = self
            .grants
            .get_mut(&record.grant_id)
            .ok_or(TokenError::RefreshUnknown)?;
        if latest {
            if let Some(pair) = grant.pairs.get_mut(grant.current) {
                pair.used = true;
            }
            grant.grace = grace_on.then_some(grant.current);
        }
        self.issue_pair(record.grant_id, "refresh_token")
    }

    /// Decides on a presented refresh token without changing anything:
    /// `None` if unknown, else whether it is the latest and the verdict.
    fn judge_refresh(
        &self,
        client_id: &str,
        host_account: i64,
        refresh_token: &str,
    ) -> Option<(bool, Result<(), TokenError>)> {
        let record = self.refresh_tokens.get(refresh_token)?;
        let grant = self.grants.get(&record.grant_id)?;
        let pair = grant.pairs.get(record.pair)?;
        let latest = record.pair == grant.current;
        let in_grace = self.config.refresh_grace != RefreshGrace::Off
            && grant.grace == Some(record.pair)
            && grant.pairs.get(grant.current).is_some_and(|p| !p.used);
        let verdict = if grant.client_id != client_id {
            Err(TokenError::RefreshForeign)
        } else if grant.account_id != host_account {
            Err(TokenError::InvalidClient)
        } else if grant.revoked || !(latest || in_grace) {
            Err(TokenError::RefreshRevoked)
        } else if self.clock.now() >= pair.refresh_expires_at {
            Err(TokenError::RefreshExpired)
        } else {
            Ok(())
        };
        Some((latest, verdict))
    }

    /// Appends a new pair to a grant and makes it current.
    fn issue_pair(&mut self, grant_id: u64, via: &'static str) -> Result<IssuedTokens, TokenError> {
        let now = self.clock.now();
        let rt_expires_at = after(now, self.config.refresh_token_ttl_secs);
        let refresh_token = tokens::new_refresh_token();
        let grant = self
            .grants
            .get_mut(&grant_id)
            .ok_or(TokenError::RefreshUnknown)?;
        let platform = self
            .accounts
            .get(&grant.account_id)
            .map(|a| a.platform)
            .ok_or(TokenError::InvalidClient)?;
        let own = self
            .integrations
            .get(&grant.client_id)
            .map(|i| i.tokens.clone())
            .unwrap_or_default();
        let at_ttl = own
            .access_ttl_secs
            .unwrap_or(self.config.access_token_ttl_secs);
        let stated = own
            .stated_expires_in
            .unwrap_or_else(|| self.config.stated_expires_in.clone());
        let at_expires_at = after(now, at_ttl);
        let (access_token, jti) = self.signer.issue(&AccessClaims {
            client_id: &grant.client_id,
            user_id: DEMO_USER_ID,
            account_id: grant.account_id,
            platform,
            grant_type: via,
            scopes: &grant.scopes,
            issued_at: now,
            expires_at: at_expires_at,
        });
        grant.pairs.push(Pair {
            refresh_expires_at: rt_expires_at,
            used: false,
        });
        grant.current = grant.pairs.len() - 1;
        let pair = grant.current;
        let (client_id, account_id) = (grant.client_id.clone(), grant.account_id);
        self.access_tokens.insert(
            access_token.clone(),
            AccessRecord {
                grant_id,
                pair,
                expires_at: at_expires_at,
            },
        );
        self.refresh_tokens
            .insert(refresh_token.clone(), RefreshRecord { grant_id, pair });
        self.stats.tokens_issued += 1;
        self.record(Event::TokenIssued {
            client_id,
            account_id,
            grant_id,
            rt_fingerprint: tokens::fingerprint(&refresh_token),
            at_jti: jti,
            issued_at: now,
            via: via.to_owned(),
        });
        Ok(IssuedTokens {
            ttl_secs: at_ttl,
            stated,
            access_token,
            refresh_token,
            server_time: (platform == Platform::Kommo).then(|| now.timestamp()),
        })
    }

    /// Validates an API access token for the account of the host it was sent to.
    /// Using the newest access token ends the grace of the previous refresh token when the grace
    /// rule says so.
    pub fn authenticate_bearer(
        &mut self,
        access_token: &str,
        host_account: i64,
    ) -> Result<Bearer, &'static str> {
        let now = self.clock.now();
        let record = *self
            .access_tokens
            .get(access_token)
            .ok_or("Invalid access token")?;
        let ends_grace = self.config.refresh_grace == RefreshGrace::UntilNewTokenUsed;
        let grant = self
            .grants
            .get_mut(&record.grant_id)
            .ok_or("Invalid access token")?;
        if grant.revoked {
            return Err("Access token has been revoked");
        }
        if now >= record.expires_at {
            return Err("Access token has expired");
        }
        if grant.account_id != host_account {
            return Err("Access token was issued for another account");
        }
        if ends_grace
            && record.pair == grant.current
            && let Some(pair) = grant.pairs.get_mut(record.pair)
        {
            pair.used = true;
        }
        Ok(Bearer {
            client_id: grant.client_id.clone(),
            account_id: grant.account_id,
        })
    }

    /// The account a live refresh token belongs to (for the subdomain lookup).
    pub fn refresh_token_account(&self, refresh_token: &str) -> Option<i64> {
        let record = self.refresh_tokens.get(refresh_token)?;
        let grant = self.grants.get(&record.grant_id)?;
        (!grant.revoked).then_some(grant.account_id)
    }

    /// Kills every grant and pending code of an integration.
    pub fn revoke_all(&mut self, client_id: &str) {
        for id in self.grants_of(client_id) {
            if let Some(grant) = self.grants.get_mut(&id) {
                grant.revoked = true;
            }
        }
        self.codes.retain(|_, code| code.client_id != client_id);
    }
}
