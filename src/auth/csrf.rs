//! CSRF tokens for every form. A token is derived, not stored: the HMAC
//! (instance key) of the cookie the form belongs to — the session cookie once
//! signed in, a random pre-session cookie on the login and setup pages. A
//! forged cross-site POST carries neither the cookie's value nor the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::domain::instance_key::InstanceKey;
use crate::error::AppError;

/// The form field every POST form carries.
pub const FIELD: &str = "csrf_token";

pub fn token_for(key: &InstanceKey, cookie_value: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.mac(&[b"proctor csrf v1", cookie_value.as_bytes()]))
}

/// Compares in constant time; any mismatch is a 403.
pub fn verify(key: &InstanceKey, cookie_value: &str, submitted: &str) -> Result<(), AppError> {
    let expected = token_for(key, cookie_value);
    if bool::from(expected.as_bytes().ct_eq(submitted.as_bytes())) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "csrf_failed",
            "The form's security token did not match; reload the page and try again.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_cookie_and_key() {
        let key = InstanceKey::generate();
        let t = token_for(&key, "cookie-a");
        assert!(verify(&key, "cookie-a", &t).is_ok());
        assert!(verify(&key, "cookie-b", &t).is_err());
        assert!(verify(&InstanceKey::generate(), "cookie-a", &t).is_err());
        assert!(verify(&key, "cookie-a", "").is_err());
    }
}
