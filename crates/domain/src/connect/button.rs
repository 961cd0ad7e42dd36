//! Connect buttons: how a workspace's button looks and what integration amoCRM will create.

use std::fmt;

use amocrm::Platform;
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use url::Url;

use crate::{
    ValidationError,
    ids::{ButtonId, WorkspaceId},
    text::text_enum,
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
            Err(ValidationError::new("button", "unknown-button"))
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    Crm,
    Notifications,
}

impl Scope {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

text_enum! {
    /// How the result of the consent comes back (amoCRM's `data-mode`).
    pub enum ButtonMode {
        /// amoCRM's window closes and navigates the page that holds the button.
        Popup,
        /// The redirect happens inside amoCRM's window; our page there reports to its opener.
        PostMessage,
    }
    unknown(_text) => ValidationError::new("mode", "button-mode-unknown");
}

impl ButtonMode {}

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
            .ok_or_else(|| ValidationError::new("color", "button-color-unknown"))
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

/// A trimmed text field; `missing` is the message code for an empty one.
fn text(
    field: &'static str,
    raw: &str,
    max: usize,
    missing: &'static str,
) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(ValidationError::new(field, missing));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(field, "too-long").with("max", max));
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::new(field, "control-characters"));
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

/// The button text a platform's own form starts with (amoCRM's is Russian, as its button is;
/// Kommo's is its English label).
#[must_use]
pub const fn default_title(platform: Platform) -> &'static str {
    match platform {
        Platform::AmoCrm => "Подключить amoCRM",
        Platform::Kommo => "Continue with Kommo",
    }
}

const fn other_platform(platform: Platform) -> Platform {
    match platform {
        Platform::AmoCrm => Platform::Kommo,
        Platform::Kommo => Platform::AmoCrm,
    }
}

/// What the form means when it switched platform but left the title or colour at the other
/// platform's default: the chosen platform's default. Anything else is kept as typed (and a
/// colour the chosen platform does not offer is refused).
fn platform_default<'a>(platform: Platform, title: &'a str, color: &'a str) -> (&'a str, &'a str) {
    let other = other_platform(platform);
    let title = if title.trim() == default_title(other) {
        default_title(platform)
    } else {
        title
    };
    let color = if color == ButtonColor::default_for(other).as_str() {
        ButtonColor::default_for(platform).as_str()
    } else {
        color
    };
    (title, color)
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
            title: default_title(Platform::AmoCrm).to_owned(),
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
        let (title_raw, color_raw) = platform.map_or((input.title, input.color), |platform| {
            platform_default(platform, input.title, input.color)
        });
        let name = keep(text("name", input.name, 255, "button-name-missing"));
        let description = keep(text(
            "description",
            input.description,
            2000,
            "button-description-missing",
        ));
        let title = keep(text("title", title_raw, 120, "button-title-missing"));
        let logo = keep(text(
            "logo_url",
            input.logo_url,
            2000,
            "button-logo-missing",
        ));
        let Some(platform) = platform else {
            errors.push(ValidationError::new("platform", "button-platform-unknown"));
            return Err(errors);
        };
        let logo_url = logo.and_then(|raw| match Url::parse(&raw) {
            Ok(url) if url.scheme() == "https" || (allow_http_logo && url.scheme() == "http") => {
                Some(url)
            }
            _ => {
                errors.push(ValidationError::new("logo_url", "button-logo-not-https"));
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
                _ => errors.push(ValidationError::new("scopes", "button-scope-unknown")),
            }
        }
        if scopes.is_empty() {
            errors.push(ValidationError::new("scopes", "button-scopes-missing"));
        }
        let color = ButtonColor::parse(platform, color_raw)
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
    fn switching_platform_takes_the_platforms_defaults_for_fields_left_alone() {
        let scopes = vec!["crm".to_owned()];
        let kommo = ButtonInput {
            title: default_title(Platform::AmoCrm),
            color: "default",
            ..input(&scopes)
        };
        let settings = ButtonSettings::parse(&kommo, false).expect("valid");
        assert_eq!(settings.title, "Continue with Kommo");
        assert_eq!(settings.color, ButtonColor::default_for(Platform::Kommo));

        let back = ButtonInput {
            platform: "amocrm",
            title: default_title(Platform::Kommo),
            color: "light",
            ..input(&scopes)
        };
        let settings = ButtonSettings::parse(&back, false).expect("valid");
        assert_eq!(settings.title, "Подключить amoCRM");
        assert_eq!(settings.color.as_str(), "default");

        let typed = ButtonInput {
            title: "Sync my Kommo",
            color: "blue",
            ..input(&scopes)
        };
        let errors = ButtonSettings::parse(&typed, false).expect_err("unknown colour");
        assert_eq!(errors[0].field, "color");
        let own = ButtonInput {
            title: "Sync my Kommo",
            ..input(&scopes)
        };
        assert_eq!(
            ButtonSettings::parse(&own, false).expect("valid").title,
            "Sync my Kommo"
        );
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
