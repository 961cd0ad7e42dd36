//! amoCRM's token-endpoint answer: any body parses or is refused; a lifetime is never more than
//! a week and an empty refresh token is never reported as one.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret as _;

fuzz_target!(|body: &[u8]| {
    if let Ok(grant) = amocrm::testing::parse_token_response(body) {
        assert!(grant.expires_in <= Duration::from_secs(7 * 24 * 3600));
        assert!(!grant.access_token.expose_secret().is_empty());
        assert!(grant.refresh_token.as_ref().is_none_or(|t| !t.expose_secret().is_empty()));
    }
});
