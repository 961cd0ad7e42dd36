//! View models: one askama template struct per page. They hold display strings, never storage
//! rows or secrets, and askama escapes every value they print.

use askama::Template;
use domain::ValidationError;

use crate::{error::Problem, session::SignedIn};

/// What the layout needs: who is signed in and which tab is active.
#[derive(Debug, Default)]
pub struct Chrome {
    pub user: Option<ChromeUser>,
    pub active: &'static str,
}

#[derive(Debug)]
pub struct ChromeUser {
    pub email: String,
    pub workspace: String,
    /// For the log-out form.
    pub csrf_token: String,
}

impl Chrome {
    #[must_use]
    pub fn anonymous() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn signed_in(who: &SignedIn, active: &'static str) -> Self {
        Self {
            user: Some(ChromeUser {
                email: who.member.email.to_string(),
                workspace: who.member.workspace_name.clone(),
                csrf_token: who.csrf_token.clone(),
            }),
            active,
        }
    }
}

#[derive(Template)]
#[template(path = "landing.html")]
pub struct LandingPage {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignupPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub workspace: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub chrome: Chrome,
    pub csrf_token: String,
    pub email: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub chrome: Chrome,
    pub workspace: String,
}

#[derive(Template)]
#[template(path = "connections.html")]
pub struct ConnectionsPage {
    pub chrome: Chrome,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
}

impl ErrorPage {
    #[must_use]
    pub fn from_problem(problem: &Problem) -> Self {
        Self {
            chrome: Chrome::anonymous(),
            status: problem.status.as_u16(),
            title: problem.title,
            detail: problem.detail.clone(),
        }
    }
}

/// Human messages for a list of validation errors.
#[must_use]
pub fn messages(errors: &[ValidationError]) -> Vec<String> {
    errors.iter().map(|e| e.message.clone()).collect()
}
