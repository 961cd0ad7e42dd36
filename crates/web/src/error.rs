//! The one place where failures become HTTP answers.
//!
//! [`AppError::problem`] chooses every status. [`PageError`] renders it as an HTML page for
//! people and [`ApiError`] as `application/problem+json` for machines. Neither ever includes a
//! cause chain, SQL or a secret: causes go to the log only.

use std::time::Duration;

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use askama::Template as _;

use crate::{
    api::openapi::{FieldProblem, ProblemBody},
    pages::ErrorPage,
};

/// Why a request failed, independent of how the answer is rendered.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("sign-in required")]
    SignInRequired,
    /// Signed in, but a member of no workspace (yet): pages send them to create one.
    #[error("no workspace")]
    NoWorkspace,
    #[error("missing or invalid CSRF token")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No live API key in `Authorization: Bearer …` (missing, malformed, unknown or revoked:
    /// one answer for all).
    #[error("API key required")]
    Unauthorized,
    /// The API key is live but lacks the scope the route requires.
    #[error("API key lacks the `{0}` scope")]
    Forbidden(domain::api_keys::ApiScope),
    /// The API key sent too many requests.
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("request body too large")]
    PayloadTooLarge,
    /// The request body did not arrive before its deadline (a slow or stalled client).
    #[error("request body timed out")]
    RequestTimeout,
    /// The path exists but not with this method; carries the `Allow` list.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    #[error(transparent)]
    Domain(#[from] domain::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::Unexpected(anyhow::Error::new(e).context("template rendering failed"))
    }
}

impl From<domain::StoreError> for AppError {
    fn from(e: domain::StoreError) -> Self {
        Self::Domain(e.into())
    }
}

/// The public face of an error: what a person or a client may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
    pub retry_after: Option<Duration>,
    /// Extra headers the status calls for (`WWW-Authenticate`, `Allow`).
    pub headers: Vec<(header::HeaderName, String)>,
    /// The domain's message behind the detail, when there is one: its code goes to clients, and
    /// people read it in their language.
    pub message: Option<domain::Message>,
    /// The refused fields, for a validation problem.
    pub fields: Vec<domain::ValidationError>,
}

impl Problem {
    /// The problem's stable code, made from its English title: `Not found` → `not-found`.
    #[must_use]
    pub fn code(&self) -> String {
        self.title
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect::<String>()
            .split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The title for people, in the request's language (catalogue `problem-<code>`).
    #[must_use]
    pub fn localized_title(&self) -> String {
        if crate::i18n::lang() == crate::i18n::Lang::En {
            return self.title.to_owned();
        }
        crate::i18n::t(&format!("problem-{}", self.code()))
    }

    /// The detail for people, in the request's language: the domain's message when there is
    /// one; otherwise English keeps the exact detail (which may name a value) and other languages
    /// get the catalogue's `problem-<code>-detail`.
    #[must_use]
    pub fn localized_detail(&self) -> String {
        if let Some(message) = &self.message {
            return crate::i18n::domain_message(message);
        }
        if crate::i18n::lang() == crate::i18n::Lang::En {
            return self.detail.clone();
        }
        crate::i18n::t(&format!("problem-{}-detail", self.code()))
    }

    /// The code a client branches on: the domain message's when there is one, else the
    /// problem's own.
    #[must_use]
    pub fn client_code(&self) -> String {
        self.message
            .as_ref()
            .map_or_else(|| self.code(), |m| m.code.to_owned())
    }

    /// A problem whose detail is a domain message, rendered in English (the API's language).
    fn with_message(mut self, message: &domain::Message) -> Self {
        self.detail = english(message);
        self.message = Some(message.clone());
        self
    }
}

impl AppError {
    /// The status, title and public detail for this error.
    #[must_use]
    pub fn problem(&self) -> Problem {
        use domain::{Error as D, StoreError as S};
        let problem = |status, title, detail: &str| Problem {
            status,
            title,
            detail: detail.to_owned(),
            retry_after: None,
            headers: Vec::new(),
            message: None,
            fields: Vec::new(),
        };
        match self {
            Self::SignInRequired => problem(
                StatusCode::UNAUTHORIZED,
                "Sign-in required",
                "Sign in to continue.",
            ),
            Self::NoWorkspace => problem(
                StatusCode::FORBIDDEN,
                "No workspace",
                "You are not a member of any workspace. Create one, or ask for an invitation.",
            ),
            Self::Domain(D::Team(e)) => team_problem(*e),
            Self::Csrf => problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "This form has expired or did not come from amolink. Reload the page and try again.",
            ),
            Self::NotFound | Self::Domain(D::NotFound) => {
                problem(StatusCode::NOT_FOUND, "Not found", "There is nothing here.")
            }
            Self::BadRequest(detail) => problem(StatusCode::BAD_REQUEST, "Bad request", detail),
            Self::Unauthorized => Problem {
                headers: vec![(
                    header::WWW_AUTHENTICATE,
                    "Bearer realm=\"amolink\"".to_owned(),
                )],
                ..problem(
                    StatusCode::UNAUTHORIZED,
                    "Unauthorized",
                    "Send a live API key as `Authorization: Bearer alk_…`.",
                )
            },
            Self::Forbidden(scope) => Problem {
                headers: vec![(
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"amolink\", error=\"insufficient_scope\", scope=\"{scope}\""
                    ),
                )],
                ..problem(
                    StatusCode::FORBIDDEN,
                    "Insufficient scope",
                    &format!("This API key lacks the `{scope}` scope this route requires."),
                )
            },
            Self::RateLimited { retry_after } => Problem {
                retry_after: Some(*retry_after),
                ..problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Rate limit exceeded",
                    "This API key sent too many requests. Retry after the Retry-After interval.",
                )
            },
            Self::PayloadTooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                "The request body is larger than this route accepts.",
            ),
            Self::RequestTimeout => problem(
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout",
                "The request body did not arrive in time.",
            ),
            Self::MethodNotAllowed(allow) => Problem {
                headers: vec![(header::ALLOW, allow.clone())],
                ..problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Method not allowed",
                    &format!("This path accepts only: {allow}."),
                )
            },
            Self::Domain(D::Invalid(e)) => {
                let mut invalid =
                    problem(StatusCode::BAD_REQUEST, "Invalid input", "").with_message(&e.message);
                invalid.detail = format!("{}: {}", e.field, invalid.detail);
                invalid.fields = vec![e.clone()];
                invalid
            }
            Self::Domain(D::InvalidCredentials) => problem(
                StatusCode::UNAUTHORIZED,
                "Sign-in failed",
                "The email or password is not correct.",
            ),
            Self::Domain(D::SignupRefused) => problem(
                StatusCode::BAD_REQUEST,
                "Sign-up failed",
                "An account could not be created with these details.",
            ),
            Self::Domain(D::Throttled { retry_after }) => Problem {
                retry_after: Some(*retry_after),
                ..problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts",
                    "Too many attempts. Wait a few minutes and try again.",
                )
            },
            Self::Domain(D::RateLimited {
                retry_after,
                reason,
            }) => Problem {
                retry_after: Some(*retry_after),
                ..problem(StatusCode::TOO_MANY_REQUESTS, "amoCRM rate limit", reason)
            },
            Self::Domain(D::Conflict(message)) => {
                problem(StatusCode::CONFLICT, "Conflict", "").with_message(message)
            }
            Self::Domain(D::Store(S::Duplicate(what))) => {
                problem(StatusCode::CONFLICT, "Conflict", what)
            }
            Self::Domain(D::Upstream(message)) => {
                problem(StatusCode::BAD_GATEWAY, "amoCRM did not cooperate", "")
                    .with_message(message)
            }
            Self::Domain(D::RefreshDeferred { retry_after }) => Problem {
                retry_after: Some(*retry_after),
                ..problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Token not ready",
                    "The connection's access token is about to expire and amoCRM may not be asked \
for a new one yet. Retry after the Retry-After interval.",
                )
            },
            Self::Domain(D::Busy | D::Store(S::Unavailable(_))) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "amolink cannot serve this right now. Try again in a moment.",
            ),
            Self::Domain(D::Unexpected(_)) | Self::Unexpected(_) => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "amolink could not complete this request. It has been logged.",
            ),
        }
    }

    fn log(&self, status: StatusCode) {
        if status.is_server_error() {
            tracing::error!(error = ?anyhow_chain(self), status = status.as_u16(), "request failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "request refused");
        }
    }
}

/// Team and account refusals: the status and what to tell the person.
fn team_problem(e: domain::teams::TeamError) -> Problem {
    use domain::teams::TeamError as T;
    let (status, title, detail) = match e {
        T::NotPermitted => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role in this workspace does not allow this. Ask an admin or owner.",
        ),
        T::LastOwner => (
            StatusCode::CONFLICT,
            "An owner is needed",
            "A workspace must keep at least one owner. Make someone else an owner first.",
        ),
        T::AlreadyMember => (
            StatusCode::CONFLICT,
            "Already a member",
            "This person is already a member of the workspace.",
        ),
        T::NotAMember => (StatusCode::NOT_FOUND, "Not found", "There is nothing here."),
        T::OwnMembership => (
            StatusCode::BAD_REQUEST,
            "Not for yourself",
            "You cannot change or remove your own membership here: use “Leave workspace”, or ask another admin.",
        ),
        T::InviteUnknown => (
            StatusCode::NOT_FOUND,
            "Invitation not found",
            "This invitation link is not valid. Check that you copied all of it.",
        ),
        T::InviteExpired => (
            StatusCode::GONE,
            "Invitation expired",
            "This invitation has expired. Ask the person who invited you for a new one.",
        ),
        T::InviteRevoked => (
            StatusCode::GONE,
            "Invitation revoked",
            "This invitation was revoked. Ask the person who invited you for a new one.",
        ),
        T::InviteUsed => (
            StatusCode::GONE,
            "Invitation already used",
            "This invitation was already used. Log in to reach the workspace.",
        ),
        T::InviteForAnotherAccount => (
            StatusCode::FORBIDDEN,
            "Invitation for another address",
            "This invitation is for another e-mail address. Log out, then open the link again and sign in with the invited address.",
        ),
        T::NameMismatch => (
            StatusCode::BAD_REQUEST,
            "Name does not match",
            "Type the workspace's name exactly as shown to delete it.",
        ),
        T::ResetLinkInvalid => (
            StatusCode::GONE,
            "Link expired or used",
            "This password reset link has expired or was already used. Ask for a new one.",
        ),
        T::MailUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "E-mail is not set up",
            "This server cannot send e-mail, so password reset is not available. Ask your administrator to reset it or to set up e-mail.",
        ),
    };
    Problem {
        status,
        title,
        detail: detail.to_owned(),
        retry_after: None,
        headers: Vec::new(),
        message: None,
        fields: Vec::new(),
    }
}

/// A domain message in English, the API's language.
fn english(message: &domain::Message) -> String {
    crate::i18n::domain_message_in(crate::i18n::Lang::En, message)
}

/// The cause chain as one line, for logs only.
fn anyhow_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

fn with_retry_after(builder: &mut actix_web::HttpResponseBuilder, problem: &Problem) {
    if let Some(wait) = problem.retry_after {
        // Rounded up: a client that waits exactly this long must find capacity again.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        builder.insert_header((header::RETRY_AFTER, secs.max(1).to_string()));
    }
    for (name, value) in &problem.headers {
        builder.insert_header((name.clone(), value.clone()));
    }
}

/// An error answered with an HTML page.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub AppError);

impl From<domain::Error> for PageError {
    fn from(e: domain::Error) -> Self {
        Self(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        Self(e.into())
    }
}

impl From<domain::StoreError> for PageError {
    fn from(e: domain::StoreError) -> Self {
        Self(e.into())
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        Self(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self.0 {
            AppError::SignInRequired | AppError::NoWorkspace => StatusCode::SEE_OTHER,
            _ => self.0.problem().status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let redirect = match self.0 {
            AppError::SignInRequired => Some("/login"),
            AppError::NoWorkspace => Some("/workspaces/new"),
            _ => None,
        };
        if let Some(location) = redirect {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let problem = self.0.problem();
        self.0.log(problem.status);
        let body = ErrorPage::from_problem(&problem)
            .render()
            .unwrap_or_else(|_| {
                // The error page itself failed; a plain sentence is the last resort.
                problem.detail.clone()
            });
        let mut builder = HttpResponse::build(problem.status);
        with_retry_after(&mut builder, &problem);
        builder
            .extensions_mut()
            .insert(crate::error_chrome::ShownProblem(problem));
        builder.content_type(mime_html()).body(body)
    }
}

/// An error answered with `application/problem+json` (RFC 9457).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub AppError);

impl From<domain::Error> for ApiError {
    fn from(e: domain::Error) -> Self {
        Self(e.into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        Self(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.problem().status
    }

    fn error_response(&self) -> HttpResponse {
        let problem = self.0.problem();
        self.0.log(problem.status);
        problem_json(&problem)
    }
}

/// Renders a problem as `application/problem+json`, in the shape the OpenAPI document declares.
#[must_use]
pub fn problem_json(problem: &Problem) -> HttpResponse {
    let body = ProblemBody {
        kind: "about:blank".to_owned(),
        title: problem.title.to_owned(),
        status: problem.status.as_u16(),
        detail: problem.detail.clone(),
        code: problem.client_code(),
        errors: problem
            .fields
            .iter()
            .map(|e| FieldProblem {
                field: e.field.to_owned(),
                code: e.code().to_owned(),
                detail: english(&e.message),
            })
            .collect(),
    };
    let mut builder = HttpResponse::build(problem.status);
    with_retry_after(&mut builder, problem);
    builder
        .content_type("application/problem+json")
        .body(serde_json::to_string(&body).unwrap_or_default())
}

fn mime_html() -> &'static str {
    "text/html; charset=utf-8"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_never_show_their_cause() {
        let error = AppError::Unexpected(anyhow::anyhow!("SELECT secret FROM vault failed"));
        let problem = error.problem();
        assert_eq!(problem.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!problem.detail.contains("SELECT"));
    }

    #[test]
    fn a_database_outage_is_a_fast_503() {
        let error = AppError::from(domain::StoreError::Unavailable(anyhow::anyhow!("down")));
        assert_eq!(error.problem().status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn throttling_carries_retry_after() {
        let error = AppError::Domain(domain::Error::Throttled {
            retry_after: Duration::from_secs(90),
        });
        let response = ApiError(error).error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("90")
        );
    }
}
