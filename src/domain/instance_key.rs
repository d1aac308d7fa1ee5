//! The instance secret: 32 random bytes in `secret.key`, created on first
//! start. It keys the HMAC of stored token hashes and derives CSRF tokens, so
//! a stolen database alone neither verifies tokens nor forges forms.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const KEY_LEN: usize = 32;

#[derive(Clone)]
pub struct InstanceKey([u8; KEY_LEN]);

#[derive(Debug, thiserror::Error)]
#[error("the instance secret must be exactly {KEY_LEN} bytes, found {0}")]
pub struct BadKeyLength(pub usize);

impl InstanceKey {
    pub fn generate() -> InstanceKey {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        InstanceKey(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<InstanceKey, BadKeyLength> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| BadKeyLength(bytes.len()))?;
        Ok(InstanceKey(bytes))
    }

    /// The raw bytes, for writing `secret.key` only.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0
    }

    /// HMAC-SHA-256 over `parts`, each length-prefixed so that no two
    /// different part lists produce the same input.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for InstanceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstanceKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_depends_on_key_and_framing() {
        let a = InstanceKey::generate();
        let b = InstanceKey::generate();
        assert_ne!(a.mac(&[b"x"]), b.mac(&[b"x"]));
        assert_ne!(a.mac(&[b"ab", b"c"]), a.mac(&[b"a", b"bc"]));
        assert_eq!(a.mac(&[b"x"]), InstanceKey::from_bytes(&a.to_bytes()).unwrap().mac(&[b"x"]));
        assert!(InstanceKey::from_bytes(&[0; 31]).is_err());
        assert_eq!(format!("{a:?}"), "InstanceKey(…)");
    }
}
