//! Device cookies (OWASP authentication cheat sheet, "Device cookies"): after a successful
//! sign-in the browser gets a cookie `{user}.{nonce}.{mac}` signed with a key derived from the
//! session key. A later sign-in from that browser for the same user is throttled on the device's
//! own budget, not the account's, so an attacker hammering the account cannot lock its owner out.
//!
//! Hand-written because actix-web is built without its `secure-cookies` feature here; the format
//! is an HMAC-SHA256 over the user and nonce, compared in constant time.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::{accounts::KnownDevice, ids::UserId};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long a browser stays known without signing in again.
const LIFETIME_DAYS: i64 = 180;

/// Signs and reads device cookies.
#[derive(Clone)]
pub struct DeviceCookies {
    key: [u8; 32],
    production: bool,
}

impl DeviceCookies {
    /// `secret` is the session key; the device key is derived from it for this use only.
    #[must_use]
    pub fn new(secret: &[u8], production: bool) -> Self {
        let mut mac =
            <HmacSha256 as hmac::Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_key());
        mac.update(b"amolink device cookie v1");
        Self {
            key: mac.finalize().into_bytes().into(),
            production,
        }
    }

    const fn name(&self) -> &'static str {
        if self.production {
            "__Host-amolink_device"
        } else {
            "amolink_device"
        }
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = <HmacSha256 as hmac::Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable_key());
        mac.update(payload.as_bytes());
        mac
    }

    /// The device the request's cookie names, if its signature holds.
    #[must_use]
    pub fn read(&self, req: &HttpRequest) -> Option<KnownDevice> {
        let cookie = req.cookie(self.name())?;
        let (payload, signature) = cookie.value().rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(payload).verify_slice(&signature).ok()?;
        let (user, nonce) = payload.split_once('.')?;
        Some(KnownDevice {
            user: user.parse::<uuid::Uuid>().ok().map(UserId::from_uuid)?,
            nonce: nonce.to_owned(),
        })
    }

    /// Marks the browser as a known device of `user` (a fresh nonce every sign-in).
    pub fn remember(&self, response: &mut HttpResponse, user: UserId) {
        let mut nonce = [0u8; 18];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = format!("{}.{}", user.as_uuid(), URL_SAFE_NO_PAD.encode(nonce));
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        let cookie = Cookie::build(self.name(), format!("{payload}.{signature}"))
            .path("/")
            .http_only(true)
            .secure(self.production)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::days(LIFETIME_DAYS))
            .finish();
        // Adding a well-formed cookie cannot fail.
        let _ = response.add_cookie(&cookie);
    }
}

/// HMAC accepts keys of any length, so `new_from_slice` never fails.
fn unreachable_key() -> ! {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_remembered_device_reads_back_and_a_forged_one_does_not() {
        let cookies = DeviceCookies::new(b"session key bytes", false);
        let user = UserId::random();
        let mut response = HttpResponse::Ok().finish();
        cookies.remember(&mut response, user);
        let set = response.cookies().next().expect("set").into_owned();
        let req = TestRequest::default().cookie(set.clone()).to_http_request();
        assert_eq!(cookies.read(&req).expect("known").user, user);

        let other_key = DeviceCookies::new(b"another key", false);
        assert!(other_key.read(&req).is_none());
        let forged = format!("{}.nonce.AAAA", UserId::random().as_uuid());
        let req = TestRequest::default()
            .cookie(Cookie::new("amolink_device", forged))
            .to_http_request();
        assert!(cookies.read(&req).is_none());
    }
}
