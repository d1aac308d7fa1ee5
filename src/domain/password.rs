//! Passwords: the length rules of OWASP ASVS 5.0 (8 to 128 characters, no
//! composition rules, a short list of the most common passwords refused) and
//! argon2id hashing with OWASP's parameters. Hashing is slow on purpose:
//! callers run it off the async executor.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 128;

/// Passwords everyone tries first; refusing them costs nothing.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "iloveyou",
    "11111111",
    "00000000",
    "abc12345",
    "abcd1234",
    "1q2w3e4r",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "letmein1",
    "passw0rd",
    "trustno1",
    "superman",
    "starwars",
    "changeme",
    "administrator",
    "qwertyui",
    "asdfghjk",
    "zxcvbnm1",
    "87654321",
    "proctor1",
    "proctor123",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRuleError {
    #[error("Password must be at least {MIN_CHARS} characters.")]
    TooShort,
    #[error("Password must be at most {MAX_CHARS} characters.")]
    TooLong,
    #[error("That password is too common; choose another.")]
    TooCommon,
}

/// Checks a new password against the rules (characters, not bytes, are counted).
pub fn check_rules(password: &str) -> Result<(), PasswordRuleError> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(PasswordRuleError::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(PasswordRuleError::TooLong);
    }
    if COMMON.iter().any(|c| c.eq_ignore_ascii_case(password)) {
        return Err(PasswordRuleError::TooCommon);
    }
    Ok(())
}

/// argon2id, 19 MiB, 2 iterations, 1 lane: OWASP's password storage minimum.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source is available");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    hasher().hash_password(password.as_bytes(), &salt).expect("argon2 accepts any password up to 4 GiB").to_string()
}

/// Verifies a password against a stored PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as [`verify`] when there is no account to check,
/// so a wrong email and a wrong password cannot be told apart by timing.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("proctor dummy password that never matches"));
    let _ = verify(password, phc);
}

/// A random password for accounts created from the command line.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).expect("the OS random source is available");
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - (256 % ALPHABET.len());
        if (byte[0] as usize) < limit {
            out.push(ALPHABET[byte[0] as usize % ALPHABET.len()] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_count_characters() {
        assert_eq!(check_rules("short"), Err(PasswordRuleError::TooShort));
        assert_eq!(check_rules("ééééééé"), Err(PasswordRuleError::TooShort));
        assert_eq!(check_rules("éééééééé"), Ok(()));
        assert_eq!(check_rules(&"x".repeat(129)), Err(PasswordRuleError::TooLong));
        assert_eq!(check_rules(&"x".repeat(128)), Ok(()));
        assert_eq!(check_rules("Password123"), Err(PasswordRuleError::TooCommon));
        assert_eq!(check_rules("correct horse battery"), Ok(()));
    }

    #[test]
    fn hash_and_verify() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batter", &phc));
        assert!(!verify("anything", "not a hash"));
        assert_ne!(hash("same"), hash("same"), "salts differ");
    }

    #[test]
    fn generated_passwords_pass_the_rules() {
        let p = generate();
        assert_eq!(p.len(), 20);
        assert_eq!(check_rules(&p), Ok(()));
        assert_ne!(p, generate());
    }
}
