//! `POST /api/v1/connections/{id}/token`: the connection's current amoCRM access token, for a
//! tenant that calls amoCRM itself. The one API answer that carries a secret, so it is never
//! cached (`Cache-Control: no-store`) and the token is never logged.

use actix_web::{HttpResponse, ResponseError as _, http::header, web};
use domain::{
    access::VendedToken,
    activity::{ActivityKind, NewActivity},
    api_keys::ApiScope,
};
use secrecy::ExposeSecret as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    caller::ApiCaller,
    connections::{connection_id, timestamp},
    openapi::{ApiMethod, ApiRoute, In, Operation, Param, Reply},
    schema::{Components, Schema, string_enum, uri},
};
use crate::{error::ApiError, state::AppState};

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute {
        method: ApiMethod::Post,
        path: "/connections/{id}/token",
        scope: Some(ApiScope::Tokens),
        attach: |route| route.to(vend),
        describe: describe_vend,
    }]
}

/// A connection's amoCRM access token.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AccessToken)]
pub struct TokenBody {
    /// Send as `Authorization: Bearer …` to `api_base_url`. Keep it secret.
    pub access_token: String,
    #[schema(schema_with = bearer_schema)]
    pub token_type: &'static str,
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// Seconds until `expires_at`.
    pub expires_in: i64,
    #[schema(schema_with = api_base_url_schema)]
    pub api_base_url: String,
    /// amoCRM account id
    pub account_id: i64,
    #[schema(format = Uuid)]
    pub connection_id: String,
}

fn bearer_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    string_enum(["Bearer"])
}

fn api_base_url_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    uri("`https://{account host}`: where the token is accepted.")
}

impl TokenBody {
    fn new(token: &VendedToken, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            access_token: token.access_token.expose_secret().to_owned(),
            token_type: "Bearer",
            expires_at: timestamp(token.expires_at),
            expires_in: (token.expires_at - now).num_seconds().max(0),
            api_base_url: token.api_base_url.clone(),
            account_id: token.account_id,
            connection_id: token.connection_id.to_string(),
        }
    }
}

fn describe_vend(c: &mut Components) -> Operation {
    Operation {
        id: "createConnectionToken",
        summary: "Get an access token",
        description: "The connection's current amoCRM access token and the account's API base \
URL, for calling amoCRM directly. The token stays valid for at least the refresh margin \
(`AMOLINK_REFRESH_MARGIN_SECS`, at most half a token's life); amolink refreshes it first when \
needed, sharing that one refresh with every concurrent caller and instance. Do not refresh it \
yourself: amolink owns the refresh token. Calls made with it count against amoCRM's limit of 7 \
requests per second per integration, which amolink cannot pace for you (the proxy does). The \
answer is never cached (`Cache-Control: no-store`).",
        params: vec![Param {
            name: "id",
            location: In::Path,
            required: true,
            description: "The connection id.",
            schema: Schema::uuid(),
        }],
        body: None,
        replies: vec![Reply {
            status: 200,
            description: "A token valid for at least the refresh margin.",
            body: Some(c.reference::<TokenBody>()),
        }],
        errors: vec![
            (
                409,
                "The connection cannot be used (needs re-authorization, disconnected or revoked); \
the detail says which.",
            ),
            (502, "amoCRM refused or failed the refresh."),
        ],
    }
}

/// `POST /api/v1/connections/{id}/token`
async fn vend(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = connection_id(&id)?;
    let started = std::time::Instant::now();
    let mut entry = NewActivity::new(
        caller.workspace,
        id,
        state.clock.now(),
        ActivityKind::TokenVended,
        "vended",
    );
    let vended = state.access.tokens.vend(caller.workspace, id).await;
    entry.latency_ms = Some(u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX));
    let token = match vended {
        Ok(token) => {
            entry.status = Some(200);
            state.activity.recorder().record(entry);
            token
        }
        Err(e) => {
            let error = ApiError::from(e);
            let status = error.status_code();
            // 404: not this workspace's connection, so not its activity either.
            if status != actix_web::http::StatusCode::NOT_FOUND {
                entry.status = Some(status.as_u16());
                entry.outcome = "refused";
                state.activity.recorder().record(entry);
            }
            return Err(error);
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenBody::new(&token, state.clock.now())))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone as _, Utc};
    use domain::ids::ConnectionId;
    use secrecy::SecretString;

    use super::*;
    use crate::api::{
        openapi::document,
        routes,
        schema::{name_of, validate},
    };

    #[test]
    fn the_body_matches_its_schema() {
        let now = Utc
            .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
            .single()
            .expect("time");
        let token = VendedToken {
            access_token: SecretString::from("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln"),
            expires_at: now + chrono::Duration::hours(24),
            api_base_url: "https://demo.amocrm.ru".into(),
            account_id: 31_000_001,
            connection_id: ConnectionId::random(),
        };
        let body = serde_json::to_value(TokenBody::new(&token, now)).expect("serializes");
        assert_eq!(body["expires_in"], 86_400);
        let doc = document(&routes());
        let components = doc["components"]["schemas"].clone();
        validate(&body, &components[name_of::<TokenBody>()], &components).expect("valid");
    }
}
