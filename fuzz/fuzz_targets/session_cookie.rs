//! The session cookie as actix-session decodes it (a private, encrypted cookie under the
//! session key): no value a client makes up decrypts, so no forged cookie names a session.
#![no_main]

use std::sync::OnceLock;

use actix_web::cookie::{Cookie, CookieJar, Key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &str| {
    static KEY: OnceLock<Key> = OnceLock::new();
    let key = KEY.get_or_init(Key::generate);
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new("amolink_sid", value.to_owned()));
    assert!(jar.private(key).get("amolink_sid").is_none());
    assert!(jar.signed(key).get("amolink_sid").is_none());
});
