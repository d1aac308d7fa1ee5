//! A web session's id: 256 random bits, sent only as the cookie's value.
//! The database keeps its SHA-256, so a leaked database cannot be replayed
//! as cookies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The random value of a session or pre-session cookie.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for the session whose cookie holds `value`.
pub fn hash(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_long_random_and_hashed_apart() {
        let (a, b) = (super::generate(), super::generate());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_ne!(super::hash(&a), super::hash(&b));
        assert_eq!(super::hash(&a), super::hash(&a));
    }
}
