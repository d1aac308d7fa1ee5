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

/// Sealed data is a 12-byte nonce, then the ciphertext with its 16-byte tag.
const NONCE_LEN: usize = 12;

impl InstanceKey {
    fn aead(&self, purpose: &[u8]) -> ring::aead::LessSafeKey {
        let key = self.mac(&[b"seal", purpose]);
        let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &key).expect("a 32-byte key");
        ring::aead::LessSafeKey::new(unbound)
    }

    /// `plain` encrypted and authenticated (ChaCha20-Poly1305) under a key
    /// derived from this secret for `purpose`: what must be stored yet
    /// used again (a webhook's signing secret), so that the database alone
    /// does not give it away.
    pub fn seal(&self, purpose: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let mut data = plain.to_vec();
        self.aead(purpose)
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::empty(),
                &mut data,
            )
            .expect("sealing a short secret cannot fail");
        [nonce.as_slice(), &data].concat()
    }

    /// What [`Self::seal`] sealed for `purpose`; `None` if it was altered,
    /// sealed for another purpose or under another instance secret.
    pub fn open(&self, purpose: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let (nonce, data) = sealed.split_at_checked(NONCE_LEN)?;
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self.aead(purpose).open_in_place(nonce, ring::aead::Aad::empty(), &mut data).ok()?;
        Some(plain.to_vec())
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
    fn sealed_data_opens_only_with_its_key_and_purpose() {
        let (a, b) = (InstanceKey::generate(), InstanceKey::generate());
        let sealed = a.seal(b"webhook", b"whsec_abc");
        assert_ne!(sealed.as_slice(), b"whsec_abc".as_slice());
        assert_eq!(a.open(b"webhook", &sealed).as_deref(), Some(b"whsec_abc".as_slice()));
        assert_eq!(b.open(b"webhook", &sealed), None);
        assert_eq!(a.open(b"other", &sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(a.open(b"webhook", &altered), None);
        assert_eq!(a.open(b"webhook", &sealed[..5]), None);
        assert_ne!(a.seal(b"webhook", b"x"), a.seal(b"webhook", b"x"), "a fresh nonce each time");
    }

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
