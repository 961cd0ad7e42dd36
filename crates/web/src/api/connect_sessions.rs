//! `POST /api/v1/connect-sessions`: a short-lived, single-use hosted connect URL for one of the
//! tenant's end users.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{
    api_keys::ApiScope,
    connect_sessions::{CreatedSession, SessionRequest},
    end_user::{EndUser, EndUserId, MAX_END_USER_ID_CHARS, Metadata},
    ids::ButtonId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    caller::ApiCaller,
    connections::timestamp,
    input::json_body,
    openapi::{ApiMethod, ApiRoute, Operation, Reply},
    schema::{ApiSchema, Components, PRINTABLE_PATTERN, Schema},
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionBody {
    pub end_user_id: String,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub button_id: Option<String>,
}

impl ApiSchema for CreateSessionBody {
    const NAME: &'static str = "CreateConnectSession";

    fn schema(_: &mut Components) -> Schema {
        Schema::object(&[
            (
                "end_user_id",
                Schema::string()
                    .length(1, MAX_END_USER_ID_CHARS)
                    .pattern(PRINTABLE_PATTERN)
                    .describe("Your id for the user who will connect their account."),
                true,
            ),
            (
                "metadata",
                Schema::free_object()
                    .nullable()
                    .describe("Any JSON object (at most 4096 bytes) to keep with the connection."),
                false,
            ),
            (
                "button_id",
                Schema::uuid()
                    .nullable()
                    .describe("The connect button to use; the workspace's first one if absent."),
                false,
            ),
        ])
    }
}

/// The created session.
#[derive(Debug, Serialize)]
pub struct SessionBody {
    pub id: String,
    /// `{PUBLIC_URL}/connect/s/{token}`: open it in the end user's browser.
    pub url: String,
    pub expires_at: String,
    pub end_user_id: String,
    pub metadata: Option<Map<String, Value>>,
    pub button_id: String,
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

impl ApiSchema for SessionBody {
    const NAME: &'static str = "ConnectSession";

    fn schema(_: &mut Components) -> Schema {
        Schema::object(&[
            ("id", Schema::uuid(), true),
            (
                "url",
                Schema::string().format("uri").describe(
                    "The hosted connect page for this end user. Single use: the first browser \
to open it owns it until it expires.",
                ),
                true,
            ),
            ("expires_at", Schema::date_time(), true),
            ("end_user_id", Schema::string(), true),
            ("metadata", Schema::free_object().nullable(), true),
            ("button_id", Schema::uuid(), true),
        ])
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
