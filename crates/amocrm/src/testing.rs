//! Shared test fixtures, compiled into the library so amolink's end-to-end tests reuse the exact list.

/// Hostile `referer` values that [`crate::AccountHost::parse`] must refuse (docs/security-requirements.md, bad inputs item 1,
/// plus variants of each trick). The 10 kB labels are not here because they cannot be `'static` cheaply;
/// the host tests build them.
#[must_use]
pub fn hostile_referer_samples() -> &'static [&'static str] {
    HOSTILE_REFERERS
}

/// Parses a token-endpoint answer exactly as [`crate::AmoClient`] does after a 2xx, for property
/// tests and fuzzing of that parser from outside the crate (`fuzz/`).
///
/// # Errors
/// [`crate::AmoError::InvalidResponse`] for a body without a usable access token.
pub fn parse_token_response(body: &[u8]) -> Result<crate::TokenGrant, crate::AmoError> {
    crate::token::parse_grant(body)
}

const HOSTILE_REFERERS: &[&str] = &[
    // Not an amoCRM host at all, or an allow-listed name used as a prefix.
    "evil.com",
    "evil.example",
    "a.amocrm.ru.evil.com",
    "a.kommo.com.evil",
    "a.amocrm.com.ru",
    "amocrm.ru.evil.com",
    "evilamocrm.ru",
    "a.evilamocrm.ru",
    "a.amocrm.ru-evil.com",
    // Userinfo, fragment, path and query tricks.
    "a.amocrm.ru@evil.com",
    "evil.com@a.amocrm.ru",
    "evil.com#.amocrm.ru",
    "evil.com/.amocrm.ru",
    "evil.com?.amocrm.ru",
    "a.amocrm.ru%2f@evil",
    "a.amocrm.ru\\@evil",
    "evil.com\\.amocrm.ru",
    "a.amocrm.ru/",
    "a.amocrm.ru/oauth2/access_token",
    // Ports, schemes and trailing dots.
    "a.amocrm.ru:8080",
    "a.amocrm.ru:443",
    "https://a.amocrm.ru",
    "http://a.amocrm.ru",
    "//a.amocrm.ru",
    "a.amocrm.ru.",
    // Case, encoding, homoglyphs.
    "A.AMOCRM.RU",
    "a.AmoCRM.ru",
    "xn--80ak6aa92e.amocrm.ru",
    "a.xn--amocrm-3ya.ru",
    "a.amocrm.rս",
    "а.amocrm.ru",
    "a%2eamocrm.ru",
    // Label shape.
    "a..amocrm.ru",
    "-a.amocrm.ru",
    "a-.amocrm.ru",
    "a_b.amocrm.ru",
    "a.b.amocrm.ru",
    "amocrm.ru",
    ".amocrm.ru",
    "kommo.com",
    // Whitespace and control characters.
    "a.amocrm.ru\t",
    " a.amocrm.ru",
    "a.amocrm.ru ",
    "a.amocrm.ru\r\nHost: evil",
    "a.amocrm.ru\n",
    "a.amocrm.ru\0",
    "a\u{200b}.amocrm.ru",
    // IP literals and local names.
    "127.0.0.1",
    "[::1]",
    "::1",
    "2130706433",
    "0x7f.1",
    "169.254.169.254",
    "localhost",
    "localhost.amocrm.ru.localhost",
    // Nothing at all.
    "",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_large_and_unique() {
        let samples = hostile_referer_samples();
        assert!(samples.len() >= 40, "only {} samples", samples.len());
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), samples.len(), "duplicate samples");
    }
}
