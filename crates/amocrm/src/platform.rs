//! The two amoCRM platforms and the account domains that belong to each.
//!
//! Since the 2022 split amoCRM (amocrm.ru, data kept in Russia) and Kommo (kommo.com, plus the legacy
//! amocrm.com hosts) are separate OAuth providers: a client id, token or account on one means nothing on
//! the other. Every validated host therefore carries the platform it belongs to, so callers can check it
//! against the platform a connect attempt was started for.

/// Which amoCRM platform an account lives on; its text form (`amocrm`, `kommo`) is parsed
/// exactly, never guessed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::EnumString, strum::IntoStaticStr,
)]
#[strum(serialize_all = "lowercase", parse_err_ty = UnknownPlatform, parse_err_fn = unknown_platform)]
pub enum Platform {
    /// amoCRM Russia: `*.amocrm.ru`.
    AmoCrm,
    /// Kommo (international): `*.kommo.com` and the legacy `*.amocrm.com`.
    Kommo,
}

impl Platform {
    /// The `class` of the official `<script>` button tag.
    #[must_use]
    pub fn button_script_class(&self) -> &'static str {
        match self {
            Self::AmoCrm => "amocrm_oauth",
            Self::Kommo => "kommo_oauth",
        }
    }

    /// Host of the consent page the button opens.
    #[must_use]
    pub fn consent_host(&self) -> &'static str {
        match self {
            Self::AmoCrm => "www.amocrm.ru",
            Self::Kommo => "www.kommo.com",
        }
    }

    /// URL of the official button script (the one the official PHP library embeds).
    #[must_use]
    pub fn button_script_url(&self) -> &'static str {
        match self {
            Self::AmoCrm => "https://www.amocrm.ru/auth/button.min.js",
            Self::Kommo => "https://www.kommo.com/auth/button.min.js",
        }
    }
}

/// The text was neither `amocrm` nor `kommo`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform (expected \"amocrm\" or \"kommo\")")]
pub struct UnknownPlatform;

fn unknown_platform(_: &str) -> UnknownPlatform {
    UnknownPlatform
}

/// One of the account-host suffixes amoCRM/Kommo accounts live under.
///
/// A closed set on purpose: accepting arbitrary configured suffixes would turn a configuration typo into
/// a place we send client secrets to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BaseDomain {
    AmocrmRu,
    KommoCom,
    AmocrmCom,
}

impl BaseDomain {
    pub(crate) const ALL: [Self; 3] = [Self::AmocrmRu, Self::KommoCom, Self::AmocrmCom];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::AmocrmRu => "amocrm.ru",
            Self::KommoCom => "kommo.com",
            Self::AmocrmCom => "amocrm.com",
        }
    }

    pub(crate) fn platform(self) -> Platform {
        match self {
            Self::AmocrmRu => Platform::AmoCrm,
            Self::KommoCom | Self::AmocrmCom => Platform::Kommo,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_from_str_round_trip() {
        for platform in [Platform::AmoCrm, Platform::Kommo] {
            assert_eq!(platform.to_string().parse::<Platform>(), Ok(platform));
        }
        assert_eq!("amocrm".parse::<Platform>(), Ok(Platform::AmoCrm));
        assert_eq!("kommo".parse::<Platform>(), Ok(Platform::Kommo));
    }

    #[test]
    fn from_str_is_strict() {
        for bad in ["", "AmoCRM", "KOMMO", " amocrm", "amocrm.ru", "kommo.com"] {
            assert_eq!(bad.parse::<Platform>(), Err(UnknownPlatform), "{bad:?}");
        }
    }

    #[test]
    fn button_facts_per_platform() {
        assert_eq!(Platform::AmoCrm.button_script_class(), "amocrm_oauth");
        assert_eq!(Platform::Kommo.button_script_class(), "kommo_oauth");
        assert_eq!(Platform::AmoCrm.consent_host(), "www.amocrm.ru");
        assert_eq!(Platform::Kommo.consent_host(), "www.kommo.com");
        assert!(
            Platform::AmoCrm
                .button_script_url()
                .starts_with("https://www.amocrm.ru/")
        );
        assert!(
            Platform::Kommo
                .button_script_url()
                .starts_with("https://www.kommo.com/")
        );
    }

    #[test]
    fn legacy_amocrm_com_is_kommo() {
        assert_eq!(BaseDomain::AmocrmRu.platform(), Platform::AmoCrm);
        assert_eq!(BaseDomain::KommoCom.platform(), Platform::Kommo);
        assert_eq!(BaseDomain::AmocrmCom.platform(), Platform::Kommo);
    }
}
