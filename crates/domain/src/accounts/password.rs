use secrecy::{ExposeSecret, SecretString};

use crate::ValidationError;

/// A password as typed by a person. Never printed (`Debug` is redacted) and never stored.
///
/// The rules follow NIST SP 800-63B / ASVS 5 §6.2: at least 8 characters, long passphrases
/// welcome, no composition rules, no truncation or case folding, and a byte cap that bounds the
/// cost of hashing.
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    const MIN_CHARS: usize = 8;
    /// Generous for passphrases, small enough that hashing stays cheap to bound.
    const MAX_BYTES: usize = 512;

    /// Wraps a password for verification without applying the creation rules, so a login with a
    /// short or odd password is still answered with the generic "wrong email or password".
    ///
    /// # Errors
    /// Only when the input exceeds the byte cap.
    pub fn for_login(raw: String) -> Result<Self, ValidationError> {
        if raw.len() > Self::MAX_BYTES {
            return Err(ValidationError::new("password", "password-too-long"));
        }
        Ok(Self(SecretString::from(raw)))
    }

    /// A password chosen for a new account.
    ///
    /// # Errors
    /// When it is shorter than 8 characters, longer than the byte cap, or a well-known password.
    pub fn for_new_account(raw: String) -> Result<Self, ValidationError> {
        let invalid = |code: &'static str| ValidationError::new("password", code);
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(invalid("password-too-short"));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(invalid("password-too-many-bytes"));
        }
        if is_common(&raw) {
            return Err(invalid("password-common"));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub(crate) fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// The most common passwords that satisfy the length rule (from public breach corpora). A short
/// list keeps the binary small; it blocks the guesses credential-stuffing tools make first.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "password1",
    "iloveyou",
    "11111111",
    "00000000",
    "qwerty123",
    "1q2w3e4r",
    "1qaz2wsx",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "abc12345",
    "password123",
    "qwerty12",
    "superman",
    "trustno1",
    "starwars",
    "whatever",
    "12341234",
    "87654321",
    "11223344",
    "123123123",
    "1q2w3e4r5t",
    "zaq12wsx",
    "passw0rd",
    "letmein1",
    "michelle",
    "jennifer",
    "computer",
    "asdfghjkl",
    "qwertyui",
    "mustang1",
    "shadow12",
    "dragon12",
    "monkey12",
    "master12",
    "changeme",
    "admin123",
    "administrator",
    "welcome123",
    "internet",
    "1234qwer",
    "q1w2e3r4",
    "pa$$w0rd",
    "p@ssw0rd",
    "p@ssword",
    "qazwsxedc",
    "aaaaaaaa",
    "abcdefgh",
    "abcd1234",
    "123qweasd",
    "qweasdzxc",
    "1qazxsw2",
    "gfhjkm123",
    "йцукенгш",
    "пароль123",
    "123456789a",
];

fn is_common(candidate: &str) -> bool {
    COMMON_PASSWORDS.contains(&candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_long_passphrases_verbatim() {
        let phrase = "correct horse battery staple ".repeat(3);
        let password = Password::for_new_account(phrase.clone()).expect("valid");
        assert_eq!(password.expose(), phrase, "no trimming or folding");
    }

    #[test]
    fn rejects_short_common_and_oversized() {
        assert!(Password::for_new_account("short".into()).is_err());
        assert!(Password::for_new_account("password1".into()).is_err());
        assert!(Password::for_new_account("x".repeat(513)).is_err());
        assert!(Password::for_login("x".repeat(513)).is_err());
    }

    #[test]
    fn case_is_significant_for_the_common_list() {
        assert!(Password::for_new_account("PassWord1x".into()).is_ok());
    }

    #[test]
    fn debug_output_is_redacted() {
        let password = Password::for_login("hunter2-canary".into()).expect("valid");
        assert!(!format!("{password:?}").contains("canary"));
    }
}
