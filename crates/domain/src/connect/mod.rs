//! The connect flow: a button → amoCRM's consent → the secrets webhook → the redirect with a code
//! → a stored, encrypted connection.

mod button;
mod flow;
mod service;
mod tokens;

pub use button::{
    Button, ButtonColor, ButtonInput, ButtonKey, ButtonMode, ButtonSettings, Scope, default_title,
};
pub use flow::{Callback, Flow, FlowOutcome, FlowStatus, NewFlow, SecretsDelivery, SecretsReceipt};
pub use service::{
    ConnectDeps, ConnectService, ConnectUrls, Connected, FlowResult, FlowSettings,
    MAX_BUTTONS_PER_WORKSPACE, StartedFlow,
};
pub use tokens::{OneTimeToken, hash_token};
