//! Passwords: the length rules of OWASP ASVS 5.0 (8 to 128 characters, no
//! composition rules, a short list of the most common passwords refused) and
//! argon2id hashing with OWASP's parameters. Hashing is slow on purpose:
//! callers run it off the async executor.

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;
const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;

fn params() -> Params {
    Params::new(MEMORY_KIB, ITERATIONS, LANES, Some(OUTPUT_LEN)).expect("static argon2 parameters are valid")
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// argon2's working memory for one hash (19 MiB), kept by whoever hashes
/// often (the server's password threads) so that each hash reuses it:
/// allocating and freeing 19 MiB per login leaves the allocator holding
/// hundreds of megabytes (see docs/performance.md).
pub struct Workspace(Vec<Block>);

impl Workspace {
    pub fn new() -> Workspace {
        Workspace(vec![Block::default(); params().block_count()])
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> String {
    hash_in(password, &mut Workspace::new())
}

/// [`hash`] in the given working memory.
pub fn hash_in(password: &str, memory: &mut Workspace) -> String {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).expect("the OS random source is available");
    let mut out = [0u8; OUTPUT_LEN];
    hasher()
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory.0)
        .expect("argon2 accepts any password up to 4 GiB and a 16-byte salt");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()).expect("static parameters format"),
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).expect("32 bytes are a valid output")),
    }
    .to_string()
}

/// Verifies a password against a stored PHC string; a malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    verify_in(password, phc, &mut Workspace::new())
}

/// [`verify`] in the given working memory (used when the stored hash's
/// parameters fit in it, as every hash this code made does). The comparison
/// is constant-time (`Output`'s equality).
pub fn verify_in(password: &str, phc: &str, memory: &mut Workspace) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else { return false };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = if blocks <= memory.0.len() {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory.0)
    } else {
        argon.hash_password_into(password.as_bytes(), salt, &mut out)
    };
    computed.is_ok() && Output::new(&out).is_ok_and(|out| out == expected)
}

/// Spends the same time as [`verify`] when there is no account to check,
/// so a wrong email and a wrong password cannot be told apart by timing.
pub fn verify_dummy_in(password: &str, memory: &mut Workspace) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("proctor dummy password that never matches"));
    let _ = verify_in(password, phc, memory);
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
    fn hashes_of_the_crates_own_format_still_verify_and_memory_is_reused() {
        use argon2::password_hash::PasswordHasher;
        // A hash made by argon2's own PasswordHasher (how earlier versions stored them).
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = hasher().hash_password(b"correct horse battery", &salt).unwrap().to_string();
        let mut memory = Workspace::new();
        assert!(verify_in("correct horse battery", &old, &mut memory));
        assert!(!verify_in("correct horse batterY", &old, &mut memory));
        // And ours verify with argon2's own verifier.
        let ours = hash_in("correct horse battery", &mut memory);
        let parsed = PasswordHash::new(&ours).unwrap();
        use argon2::password_hash::PasswordVerifier;
        assert!(hasher().verify_password(b"correct horse battery", &parsed).is_ok());
        // Other parameters than ours (more memory than the workspace) still verify.
        let bigger = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(32 * 1024, 1, 1, None).unwrap())
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert!(verify_in("pw", &bigger, &mut memory) && !verify_in("pW", &bigger, &mut memory));
    }

    #[test]
    fn generated_passwords_pass_the_rules() {
        let p = generate();
        assert_eq!(p.len(), 20);
        assert_eq!(check_rules(&p), Ok(()));
        assert_ne!(p, generate());
    }
}
