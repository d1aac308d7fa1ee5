//! Unit tests of `token.rs`: the checksum, generating and parsing secrets (every mutation
//! rejected), previews that hide the secret, the keyed hash, sampling, and kind strings.

use super::*;

fn valid(kind: TokenKind) -> String {
    TokenSecret::generate(kind).expose_secret().to_owned()
}

#[test]
fn checksum_matches_zlib_crc32() {
    // Expected values from Python: zlib.crc32(b"0123456789ABCDEFGHIJabcdefghijKL")
    // = 1046710990, which is "18ptLK" in base62 (0-9A-Za-z, most significant
    // digit first). The second body's CRC, 323881050, is below 62^5, so it
    // also checks the left-padding with '0'.
    assert_eq!(&checksum("0123456789ABCDEFGHIJabcdefghijKL"), b"18ptLK");
    assert_eq!(&checksum("ProctorChecksumVectorPadding0002"), b"0LuyFu");
    let token = "prc_pat_0123456789ABCDEFGHIJabcdefghijKL18ptLK";
    assert_eq!(TokenSecret::parse(token).map(|t| t.kind()), Ok(TokenKind::Pat));
}

#[test]
fn generate_then_parse_round_trips() {
    for kind in TokenKind::ALL {
        for _ in 0..1000 {
            let s = valid(kind);
            assert_eq!(s.len(), kind.token_len());
            assert!(s.starts_with(kind.prefix()));
            assert!(looks_like_token(&s));
            let parsed = TokenSecret::parse(&s).expect("a generated token parses");
            assert_eq!(parsed.kind(), kind);
            assert_eq!(parsed.expose_secret(), s);
        }
    }
}

#[test]
fn every_single_character_mutation_is_rejected() {
    // CRC-32 catches every single-byte change of the body, and base62 of the
    // checksum is injective, so this holds for every token, not by chance.
    let replacements: Vec<char> =
        BASE62_ALPHABET.iter().map(|&b| char::from(b)).chain(['_', '-', ' ', '…', 'é']).collect();
    for kind in TokenKind::ALL {
        let s = valid(kind);
        for (i, original) in s.char_indices() {
            for &r in replacements.iter().filter(|&&r| r != original) {
                let mut m = s.clone();
                m.replace_range(i..i + 1, r.encode_utf8(&mut [0; 4]));
                assert!(TokenSecret::parse(&m).is_err(), "accepted {i}:{r}");
            }
        }
    }
}

#[test]
fn wrong_shapes_are_rejected_with_the_right_reason() {
    let s = valid(TokenKind::Key);
    let body = &s["prc_key_".len()..];
    use TokenFormatError::*;
    let cases: Vec<(String, TokenFormatError)> = vec![
        (String::new(), Prefix),
        ("prc_".into(), Prefix),
        (format!("prc_xyz_{body}"), Prefix),
        (format!("PRC_KEY_{body}"), Prefix),
        (format!("ghp_{body}"), Prefix),
        (format!(" {s}"), Prefix),
        (format!("{s} "), Length),
        (format!("{s}\n"), Length),
        (s[..s.len() - 1].to_owned(), Length),
        (format!("prc_oidc_{}", &body[..37]), Length),
        (format!("{s}0"), Length),
        ("prc_key_".into(), Length),
        (format!("prc_key_{}", &body[..31]), Length),
        (format!("prc_key_{}-{}", &body[..10], &body[11..]), Alphabet),
        (format!("prc_key_{}é{}", &body[..10], &body[12..]), Alphabet),
    ];
    for (input, reason) in cases {
        assert_eq!(TokenSecret::parse(&input).err(), Some(reason), "{input:?}");
    }
    // Swapping the prefix keeps the shape but not the token: still valid,
    // because the checksum covers the body only (API.md fixes that).
    let swapped = format!("prc_pat_{body}");
    assert_eq!(TokenSecret::parse(&swapped).map(|t| t.kind()), Ok(TokenKind::Pat));
    let oidc = format!("prc_oidc_{body}");
    assert_eq!(oidc.len(), TokenKind::Oidc.token_len(), "the longer prefix makes the longer token");
    assert_eq!(TokenSecret::parse(&oidc).map(|t| t.kind()), Ok(TokenKind::Oidc));
}

#[test]
fn preview_and_debug_never_show_the_secret() {
    let t = TokenSecret::parse("prc_pat_0123456789ABCDEFGHIJabcdefghijKL18ptLK").expect("fixture is valid");
    assert_eq!(t.preview(), "prc_pat_0123…ptLK");
    assert_eq!(format!("{t:?}"), "TokenSecret(prc_pat_0123…ptLK)");
    for kind in TokenKind::ALL {
        let t = TokenSecret::generate(kind);
        let debug = format!("{t:?} {:#?}", t);
        let prefix = kind.prefix().len();
        assert!(!debug.contains(&t.expose_secret()[prefix..]));
        assert!(!debug.contains(&t.expose_secret()[prefix + 4..prefix + 34]));
        assert_eq!(t.preview().chars().count(), prefix + 9);
    }
}

#[test]
fn hash_is_keyed_and_deterministic() {
    let t = TokenSecret::generate(TokenKind::Pat);
    let (k1, k2) = (InstanceKey::generate(), InstanceKey::generate());
    assert_eq!(t.hash(&k1), t.hash(&k1));
    assert_ne!(t.hash(&k1), t.hash(&k2));
    assert_ne!(t.hash(&k1), TokenSecret::generate(TokenKind::Pat).hash(&k1));
    let h = t.hash(&k1);
    assert_eq!(TokenHash::from_slice(h.as_bytes()), Ok(h));
    assert_eq!(TokenHash::from_slice(&[0; 31]), Err(TokenHashError { found: 31 }));
    // Pin that the whole string, prefix included, is what gets hashed.
    let key = InstanceKey::from_bytes(&[7; 32]).expect("32 bytes");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).expect("any length");
    mac.update(t.expose_secret().as_bytes());
    assert_eq!(t.hash(&key).as_bytes()[..], mac.finalize().into_bytes()[..]);
}

#[test]
fn sampling_rejects_high_bytes_and_maps_the_rest_evenly() {
    // Feed every byte value once: 248 are kept, each character exactly 4 times.
    let mut next = 0u16;
    let mut out = [0u8; 248];
    let source = |buf: &mut [u8]| -> Result<(), ()> {
        for b in buf.iter_mut() {
            *b = (next % 256) as u8;
            next += 1;
        }
        Ok(())
    };
    fill_base62(&mut out, source).expect("infallible source");
    let mut counts = [0u32; 62];
    for b in out {
        let i = BASE62_ALPHABET.iter().position(|&a| a == b).expect("in alphabet");
        counts[i] += 1;
    }
    assert!(counts.iter().all(|&c| c == 4), "{counts:?}");
}

#[test]
fn generated_characters_look_uniform() {
    let mut counts = [0f64; 62];
    let tokens = 4000;
    for _ in 0..tokens {
        let t = TokenSecret::generate(TokenKind::Key);
        for &b in &t.expose_secret().as_bytes()[8..8 + BODY_LEN] {
            let i = BASE62_ALPHABET.iter().position(|&a| a == b).expect("in alphabet");
            counts[i] += 1.0;
        }
    }
    // Chi-square with 61 degrees of freedom: mean 61, sd ~11. Exceeding 130
    // has p < 1e-6 for a fair source, so this fails only on a real bias.
    let expected = (tokens * BODY_LEN) as f64 / 62.0;
    let chi2: f64 = counts.iter().map(|c| (c - expected).powi(2) / expected).sum();
    assert!(chi2 < 130.0, "chi-square {chi2}");
}

#[test]
fn kind_strings_round_trip() {
    for kind in TokenKind::ALL {
        assert_eq!(kind.as_str().parse::<TokenKind>(), Ok(kind));
        assert_eq!(kind.prefix(), format!("prc_{kind}_"));
    }
    assert_eq!("PAT".parse::<TokenKind>(), Err(UnknownTokenKind));
    assert_eq!(serde_json::to_string(&TokenKind::Key).ok().as_deref(), Some("\"key\""));
}
