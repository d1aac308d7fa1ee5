//! Access-token secrets: the `prc_<kind>_` format with its CRC-32 checksum, and the keyed hash stored instead of the secret.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Re-exported because every caller of [`TokenSecret::hash`] needs it; the
/// type itself lives in `domain::instance_key`, shared with CSRF.
pub use crate::domain::instance_key::InstanceKey;

/// Base62 digits in value order, as API.md fixes them.
pub const BASE62_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters after the prefix.
pub const BODY_LEN: usize = 32;
/// Base62 characters of the CRC-32 after the body; 62^6 > 2^32, so six always suffice.
pub const CHECKSUM_LEN: usize = 6;

/// Which kind of credential a token is; the prefix says it so a scanner need not ask us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Personal access token, owned by a user or a service account.
    Pat,
    /// Project API key, owned by one project.
    Key,
    /// Short-lived token of one project, exchanged for a CI job's OpenID
    /// Connect ID token (API.md section 11).
    Oidc,
}

impl TokenKind {
    pub const ALL: [TokenKind; 3] = [TokenKind::Pat, TokenKind::Key, TokenKind::Oidc];

    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::Pat => "prc_pat_",
            TokenKind::Key => "prc_key_",
            TokenKind::Oidc => "prc_oidc_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Pat => "pat",
            TokenKind::Key => "key",
            TokenKind::Oidc => "oidc",
        }
    }

    /// Length of a whole token of this kind; all of it is ASCII, so bytes
    /// and characters agree.
    pub fn token_len(self) -> usize {
        self.prefix().len() + BODY_LEN + CHECKSUM_LEN
    }

    /// Whether a token of this kind belongs to one project (a key, or an
    /// exchanged OIDC token) rather than to an account.
    pub fn is_project_token(self) -> bool {
        matches!(self, TokenKind::Key | TokenKind::Oidc)
    }

    fn from_prefix(s: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|kind| s.as_bytes().starts_with(kind.prefix().as_bytes()))
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token kind (expected \"pat\", \"key\" or \"oidc\")")]
pub struct UnknownTokenKind;

impl FromStr for TokenKind {
    type Err = UnknownTokenKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pat" => Ok(TokenKind::Pat),
            "key" => Ok(TokenKind::Key),
            "oidc" => Ok(TokenKind::Oidc),
            _ => Err(UnknownTokenKind),
        }
    }
}

/// Why a string is not a well-formed token. The API answers every variant with
/// the same 401 `invalid_token`; the detail is for logs and the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("token does not start with prc_pat_, prc_key_ or prc_oidc_")]
    Prefix,
    #[error("token has the wrong length")]
    Length,
    #[error("token contains a character outside 0-9A-Za-z")]
    Alphabet,
    #[error("token checksum does not match (mistyped or truncated)")]
    Checksum,
}

/// A well-formed token secret. Parsed once at the edge, then trusted.
///
/// There is deliberately no `Display`, `Serialize` or `Clone`: the only way to
/// read the secret is [`TokenSecret::expose_secret`], which is easy to grep for.
///
/// No zeroing on drop: the same bytes also sit in actix's request buffers and
/// header maps, which we cannot wipe, so wiping our copy would promise more than
/// it delivers. What matters is that the secret never reaches a log or the DB.
pub struct TokenSecret {
    kind: TokenKind,
    full: String,
}

impl TokenSecret {
    /// A fresh token from the OS CSPRNG.
    ///
    /// # Panics
    /// If the operating system cannot provide randomness, which on supported
    /// platforms only happens before the kernel's pool is seeded at boot. Use
    /// [`TokenSecret::try_generate`] to handle it instead.
    pub fn generate(kind: TokenKind) -> Self {
        Self::try_generate(kind).expect("the OS random number generator failed")
    }

    pub fn try_generate(kind: TokenKind) -> Result<Self, getrandom::Error> {
        let mut body = [0u8; BODY_LEN];
        fill_base62(&mut body, getrandom::fill)?;
        Ok(Self::assemble(kind, &body))
    }

    fn assemble(kind: TokenKind, body: &[u8; BODY_LEN]) -> Self {
        let mut full = String::with_capacity(kind.token_len());
        full.push_str(kind.prefix());
        // Both pieces are base62 ASCII, so the byte-to-char conversion is exact.
        full.extend(body.iter().map(|&b| char::from(b)));
        full.extend(checksum_bytes(body).iter().map(|&b| char::from(b)));
        TokenSecret { kind, full }
    }

    /// Checks prefix, length, alphabet and checksum, in that order, without I/O.
    /// Nothing is allocated unless every check passes. Surrounding whitespace is
    /// an error here: trimming header values is the extractor's job.
    pub fn parse(s: &str) -> Result<Self, TokenFormatError> {
        let kind = TokenKind::from_prefix(s).ok_or(TokenFormatError::Prefix)?;
        if s.len() != kind.token_len() {
            return Err(TokenFormatError::Length);
        }
        let rest = &s.as_bytes()[kind.prefix().len()..];
        if !rest.iter().all(|&b| is_base62(b)) {
            return Err(TokenFormatError::Alphabet);
        }
        let (body, sum) = rest.split_at(BODY_LEN);
        // The checksum is public information derived from the presented string,
        // so an ordinary comparison leaks nothing.
        if checksum_bytes(body) != sum {
            return Err(TokenFormatError::Checksum);
        }
        Ok(TokenSecret { kind, full: s.to_owned() })
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The whole secret, prefix included. Show it once, hash it, and drop it.
    pub fn expose_secret(&self) -> &str {
        &self.full
    }

    /// What tables and audit events show: prefix + first 4 + `…` + last 4.
    pub fn preview(&self) -> String {
        let tail = &self.full[self.kind.prefix().len()..];
        let mut out = String::with_capacity(self.kind.prefix().len() + 8 + '…'.len_utf8());
        out.push_str(self.kind.prefix());
        out.push_str(&tail[..4]);
        out.push('…');
        out.push_str(&tail[tail.len() - 4..]);
        out
    }

    /// The keyed hash stored in (and looked up from) the database.
    pub fn hash(&self, key: &InstanceKey) -> TokenHash {
        // Plain HMAC over the whole string, as API.md specifies, rather than
        // `InstanceKey::mac`'s length-framed parts: there is only one part.
        let key_bytes = key.to_bytes();
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key_bytes).expect("HMAC-SHA-256 accepts any key length");
        mac.update(self.full.as_bytes());
        TokenHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenSecret({})", self.preview())
    }
}

/// Whether `s` has the shape of a token (prefix, length, alphabet), without
/// checking the checksum. Meant for redacting text that may contain one.
pub fn looks_like_token(s: &str) -> bool {
    TokenKind::from_prefix(s).is_some_and(|kind| {
        s.len() == kind.token_len() && s.as_bytes()[kind.prefix().len()..].iter().all(|&b| is_base62(b))
    })
}

/// The six base62 checksum characters for a 32-character body: CRC-32 (IEEE,
/// zlib's `crc32`) of its ASCII bytes, most significant digit first, zero-padded.
pub fn checksum(body32: &str) -> [u8; CHECKSUM_LEN] {
    checksum_bytes(body32.as_bytes())
}

fn checksum_bytes(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62_ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// 248 = 4 × 62: bytes below it map onto the alphabet exactly four times each,
/// bytes from 248 up are thrown away, so every character is equally likely.
const REJECT_FROM: u8 = 248;

/// Fills `out` with uniformly distributed base62 characters drawn from `random`.
fn fill_base62<E>(out: &mut [u8], mut random: impl FnMut(&mut [u8]) -> Result<(), E>) -> Result<(), E> {
    // 64 bytes give 32 accepted ones with overwhelming probability (each byte
    // is rejected with p = 8/256), so the loop almost always runs once.
    let mut pool = [0u8; 64];
    let mut filled = 0;
    while filled < out.len() {
        random(&mut pool)?;
        for &b in pool.iter().filter(|&&b| b < REJECT_FROM) {
            if filled == out.len() {
                break;
            }
            out[filled] = BASE62_ALPHABET[usize::from(b % 62)];
            filled += 1;
        }
    }
    Ok(())
}

/// HMAC-SHA-256 of a token under the instance key: what the `tokens` table
/// stores and indexes. Equality is constant time, so comparing a presented
/// token's hash with a stored one reveals nothing through timing.
#[derive(Clone, Copy, Eq)]
pub struct TokenHash([u8; 32]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a token hash must be exactly 32 bytes, found {found}")]
pub struct TokenHashError {
    pub found: usize,
}

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// For reading the stored hash back from the database.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, TokenHashError> {
        <[u8; 32]>::try_from(bytes).map(TokenHash).map_err(|_| TokenHashError { found: bytes.len() })
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

// Written by hand next to the hand-written `PartialEq`; it hashes the same
// bytes that `eq` compares, so the two agree.
impl Hash for TokenHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenHash {
    // A keyed hash reveals nothing about the secret; eight hex digits are
    // enough to correlate log lines without filling them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
