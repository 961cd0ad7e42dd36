//! `POST /api/v1/connect-sessions`: a short-lived, single-use hosted connect URL for one of the
//! tenant's end users.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{
    api_keys::ApiScope,
    connect_sessions::{CreatedSession, SessionRequest},
    end_user::{EndUser, EndUserId, Metadata},
    ids::ButtonId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{
    caller::ApiCaller,
    connections::timestamp,
    input::json_body,
    openapi::{ApiMethod, ApiRoute, Operation, Reply},
    schema::{Components, uri},
};
use crate::{
    error::{ApiError, AppError},
    state::AppState,
};

pub fn routes() -> Vec<ApiRoute> {
    vec![ApiRoute {
        method: ApiMethod::Post,
        path: "/connect-sessions",
        scope: Some(ApiScope::Write),
        attach: |route| route.to(create),
        describe: describe_create,
    }]
}

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateConnectSession)]
pub struct CreateSessionBody {
    /// Your id for the user who will connect their account.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F]+$"
    )]
    pub end_user_id: String,
    /// Any JSON object (at most 4096 bytes) to keep with the connection.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The connect button to use; the workspace's first one if absent.
    #[serde(default)]
    #[schema(format = Uuid)]
    pub button_id: Option<String>,
}

/// The created session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConnectSession)]
pub struct SessionBody {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(schema_with = url_schema)]
    pub url: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub end_user_id: String,
    #[schema(value_type = Option<Object>, required = true)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(format = Uuid)]
    pub button_id: String,
}

fn url_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    uri(
        "The hosted connect page for this end user. Single use: the first browser to open it \
owns it until it expires.",
    )
}

impl SessionBody {
    fn new(session: &CreatedSession, public_base: &str) -> Self {
        Self {
            id: session.id.to_string(),
            url: format!("{public_base}/connect/s/{}", session.token.expose()),
            expires_at: timestamp(session.expires_at),
            end_user_id: session.end_user.id.to_string(),
            metadata: session
                .end_user
                .metadata
                .as_ref()
                .map(|m| m.as_map().clone()),
            button_id: session.button.to_string(),
        }
    }
}

fn describe_create(c: &mut Components) -> Operation {
    Operation {
        id: "createConnectSession",
        summary: "Create a connect session",
        description: "Mints a hosted connect URL for one of your end users, valid for 30 \
minutes and usable by one browser. The connection made through it carries `end_user_id` and \
`metadata`; connecting the same amoCRM account again keeps the same connection id.",
        params: Vec::new(),
        body: Some(c.reference::<CreateSessionBody>()),
        replies: vec![Reply {
            status: 201,
            description: "The session and its URL.",
            body: Some(c.reference::<SessionBody>()),
        }],
        errors: vec![
            (404, "`button_id` is not a button of this workspace."),
            (409, "The workspace has no connect button."),
        ],
    }
}

impl CreateSessionBody {
    fn into_request(self) -> Result<SessionRequest, ApiError> {
        let id = EndUserId::parse(&self.end_user_id).map_err(domain::Error::from)?;
        let metadata = self
            .metadata
            .filter(|m| !m.is_null())
            .map(Metadata::parse)
            .transpose()
            .map_err(domain::Error::from)?;
        let button = self
            .button_id
            .map(|raw| raw.parse::<ButtonId>())
            .transpose()
            .map_err(|_| AppError::BadRequest("button_id: must be a UUID".into()))?;
        Ok(SessionRequest {
            end_user: EndUser { id, metadata },
            button,
        })
    }
}

/// `POST /api/v1/connect-sessions`
async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request = json_body::<CreateSessionBody>(&req, payload)
        .await?
        .into_request()?;
    let session = state.api.sessions.create(caller.workspace, request).await?;
    Ok(HttpResponse::Created().json(SessionBody::new(&session, state.settings.public_base())))
}
