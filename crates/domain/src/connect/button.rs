//! Connect buttons: how a workspace's button looks and what integration amoCRM will create.

use std::{fmt, str::FromStr};

use amocrm::Platform;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use url::Url;

use crate::{
    ValidationError,
    ids::{ButtonId, WorkspaceId},
};

/// The public, unguessable key in `/connect/{key}` and `/embed/{key}.js`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonKey(String);

impl ButtonKey {
    #[must_use]
    pub fn mint() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// # Errors
    /// When `raw` could not have been minted by [`ButtonKey::mint`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = raw.len() == 22
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new("button", "unknown connect button"))
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ButtonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A permission the created integration asks for. amoCRM allows only these two for the
/// metadata button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Crm,
    Notifications,
}

impl Scope {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Notifications => "notifications",
        }
    }
}

/// How the result of the consent comes back (amoCRM's `data-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ButtonMode {
    /// amoCRM's window closes and navigates the page that holds the button.
    Popup,
    /// The redirect happens inside amoCRM's window; our page there reports to its opener.
    PostMessage,
}

impl ButtonMode {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Popup => "popup",
            Self::PostMessage => "post_message",
        }
    }
}

impl FromStr for ButtonMode {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "popup" => Ok(Self::Popup),
            "post_message" => Ok(Self::PostMessage),
            _ => Err(ValidationError::new(
                "mode",
                "Choose popup or post_message.",
            )),
        }
    }
}

/// Button colour (amoCRM `data-color`) or theme (Kommo `data-theme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ButtonColor(&'static str);

impl ButtonColor {
    const AMOCRM: [&'static str; 6] = ["default", "blue", "violet", "green", "orange", "red"];
    const KOMMO: [&'static str; 2] = ["light", "dark"];

    /// # Errors
    /// When the value is not one the platform's button knows.
    pub fn parse(platform: Platform, raw: &str) -> Result<Self, ValidationError> {
        let choices: &[&'static str] = match platform {
            Platform::AmoCrm => &Self::AMOCRM,
            Platform::Kommo => &Self::KOMMO,
        };
        choices
            .iter()
            .find(|c| **c == raw)
            .map(|c| Self(c))
            .ok_or_else(|| ValidationError::new("color", "Choose one of the offered colours."))
    }

    #[must_use]
    pub const fn default_for(platform: Platform) -> Self {
        match platform {
            Platform::AmoCrm => Self("default"),
            Platform::Kommo => Self("light"),
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// Everything that shapes a button, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonSettings {
    pub platform: Platform,
    /// The integration name amoCRM shows on the consent page (≤ 255 characters).
    pub name: String,
    pub description: String,
    pub logo_url: Url,
    pub scopes: Vec<Scope>,
    pub title: String,
    pub color: ButtonColor,
    pub compact: bool,
    pub mode: ButtonMode,
}

fn text(field: &'static str, raw: &str, max: usize, what: &str) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, format!("Enter {what}.")));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("Use at most {max} characters."),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "Control characters are not allowed.",
        ));
    }
    Ok(value.to_owned())
}

/// Raw button form fields.
#[derive(Debug, Clone, Default)]
pub struct ButtonInput<'a> {
    pub platform: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub logo_url: &'a str,
    pub scopes: &'a [String],
    pub title: &'a str,
    pub color: &'a str,
    pub compact: bool,
    pub mode: &'a str,
}

impl ButtonSettings {
    /// The button made at sign-up.
    #[must_use]
    pub fn default_for(workspace_name: &str, logo_url: Url) -> Self {
        let name: String = workspace_name.chars().take(255).collect();
        Self {
            platform: Platform::AmoCrm,
            description: format!("Connects your amoCRM account to {name}."),
            name,
            logo_url,
            scopes: vec![Scope::Crm],
            title: "Подключить amoCRM".to_owned(),
            color: ButtonColor::default_for(Platform::AmoCrm),
            compact: false,
            mode: ButtonMode::Popup,
        }
    }

    /// Validates a button form, reporting every problem.
    ///
    /// # Errors
    /// The fields that did not validate.
    pub fn parse(
        input: &ButtonInput<'_>,
        allow_http_logo: bool,
    ) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let mut keep = |r: Result<String, ValidationError>| match r {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let platform = input.platform.parse::<Platform>().ok();
        let name = keep(text("name", input.name, 255, "the integration name"));
        let description = keep(text(
            "description",
            input.description,
            2000,
            "a description",
        ));
        let title = keep(text("title", input.title, 120, "the button text"));
        let logo = keep(text("logo_url", input.logo_url, 2000, "a logo URL"));
        let Some(platform) = platform else {
            errors.push(ValidationError::new("platform", "Choose amoCRM or Kommo."));
            return Err(errors);
        };
        let logo_url = logo.and_then(|raw| match Url::parse(&raw) {
            Ok(url) if url.scheme() == "https" || (allow_http_logo && url.scheme() == "http") => {
                Some(url)
            }
            _ => {
                errors.push(ValidationError::new(
                    "logo_url",
                    "Use an https:// image URL.",
                ));
                None
            }
        });
        let mut scopes = Vec::new();
        for raw in input.scopes {
            match raw.as_str() {
                "crm" if !scopes.contains(&Scope::Crm) => scopes.push(Scope::Crm),
                "notifications" if !scopes.contains(&Scope::Notifications) => {
                    scopes.push(Scope::Notifications);
                }
                "crm" | "notifications" => {}
                _ => errors.push(ValidationError::new(
                    "scopes",
                    "Only crm and notifications can be requested.",
                )),
            }
        }
        if scopes.is_empty() {
            errors.push(ValidationError::new(
                "scopes",
                "Request at least one permission.",
            ));
        }
        let color = ButtonColor::parse(platform, input.color)
            .map_err(|e| errors.push(e))
            .ok();
        let mode = input
            .mode
            .parse::<ButtonMode>()
            .map_err(|e| errors.push(e))
            .ok();
        match (name, description, title, logo_url, color, mode) {
            (
                Some(name),
                Some(description),
                Some(title),
                Some(logo_url),
                Some(color),
                Some(mode),
            ) if errors.is_empty() => Ok(Self {
                platform,
                name,
                description,
                logo_url,
                scopes,
                title,
                color,
                compact: input.compact,
                mode,
            }),
            _ => Err(errors),
        }
    }

    /// The `data-scopes` value.
    #[must_use]
    pub fn scopes_attribute(&self) -> String {
        self.scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A stored button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub id: ButtonId,
    pub workspace: WorkspaceId,
    pub key: ButtonKey,
    pub settings: ButtonSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(scopes: &'a [String]) -> ButtonInput<'a> {
        ButtonInput {
            platform: "kommo",
            name: "Acme sync",
            description: "Syncs leads",
            logo_url: "https://acme.example/logo.png",
            scopes,
            title: "Connect Kommo",
            color: "dark",
            compact: true,
            mode: "post_message",
        }
    }

    #[test]
    fn a_complete_form_parses() {
        let scopes = vec![
            "crm".to_owned(),
            "notifications".to_owned(),
            "crm".to_owned(),
        ];
        let settings = ButtonSettings::parse(&input(&scopes), false).expect("valid");
        assert_eq!(settings.platform, Platform::Kommo);
        assert_eq!(settings.scopes_attribute(), "crm,notifications");
        assert_eq!(settings.mode, ButtonMode::PostMessage);
    }

    #[test]
    fn every_problem_is_reported() {
        let scopes = vec!["files".to_owned()];
        let bad = ButtonInput {
            name: " ",
            logo_url: "javascript:alert(1)",
            color: "violet",
            mode: "redirect",
            ..input(&scopes)
        };
        let errors = ButtonSettings::parse(&bad, false).expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        for field in ["name", "logo_url", "scopes", "color", "mode"] {
            assert!(fields.contains(&field), "{field} not reported: {fields:?}");
        }
    }

    #[test]
    fn http_logos_only_in_development() {
        let scopes = vec!["crm".to_owned()];
        let http = ButtonInput {
            logo_url: "http://127.0.0.1:8080/static/logo.png",
            ..input(&scopes)
        };
        assert!(ButtonSettings::parse(&http, false).is_err());
        assert!(ButtonSettings::parse(&http, true).is_ok());
    }

    #[test]
    fn button_keys_are_random_and_strictly_parsed() {
        let key = ButtonKey::mint();
        assert_eq!(ButtonKey::parse(key.as_str()).ok(), Some(key.clone()));
        assert_ne!(ButtonKey::mint(), key);
        for bad in [
            "",
            "short",
            "../../../../etc/passwd!!",
            "aaaaaaaaaaaaaaaaaaaaa/",
        ] {
            assert!(ButtonKey::parse(bad).is_err(), "{bad}");
        }
    }
}
