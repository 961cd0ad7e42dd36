//! The page route table: every page and form of the interface with the access it requires.
//!
//! The router is built from this list, and the route × role test walks the same list, so a page
//! cannot exist without declaring who may use it. The declared [`Access`] must match the
//! extractor the handler takes (`Require<P>` for a permission, `SignedIn` / `Account` for any
//! signed-in person); the test proves it by calling every route as every role.

use actix_web::{Route, http::Method, web};
use domain::teams::Permission;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-up, log-in, invitation and password-reset links).
    Public,
    /// Any signed-in person, whatever their role.
    SignedIn,
    /// A member whose role allows this.
    Member(Permission),
}

/// One page or form.
pub struct PageRoute {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    /// Attaches the handler: `|route| route.to(handler)`.
    pub attach: fn(Route) -> Route,
}

impl PageRoute {
    #[must_use]
    pub fn get(path: &'static str, access: Access, attach: fn(Route) -> Route) -> Self {
        Self {
            method: Method::GET,
            path,
            access,
            attach,
        }
    }

    #[must_use]
    pub fn post(path: &'static str, access: Access, attach: fn(Route) -> Route) -> Self {
        Self {
            method: Method::POST,
            path,
            access,
            attach,
        }
    }

    pub(crate) fn mount(&self, cfg: &mut web::ServiceConfig) {
        cfg.route(self.path, (self.attach)(web::method(self.method.clone())));
    }
}
