//! Token secrets (`domain::token`) and the token finder that redacts them
//! (`domain::secrets`), on arbitrary text: a token that parses is the same
//! string again, its shape and checksum decide alone whether it parses, a
//! body given the right checksum always parses, and redacted text holds
//! nothing token-shaped.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use proctor::domain::secrets::{contains_token, redact, redact_owned};
use proctor::domain::token::{
    checksum, looks_like_token, TokenFormatError, TokenKind, TokenSecret, BASE62_ALPHABET, BODY_LEN,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    match TokenSecret::parse(text) {
        Ok(token) => {
            assert_eq!(token.expose_secret(), text);
            assert!(text.starts_with(token.kind().prefix()));
            assert!(looks_like_token(text));
            let preview = token.preview();
            assert!(
                preview.starts_with(token.kind().prefix())
                    && preview.chars().count() == token.kind().prefix().len() + 9
            );
            assert!(contains_token(text));
        }
        Err(TokenFormatError::Checksum) => assert!(looks_like_token(text)),
        Err(_) => assert!(!looks_like_token(text)),
    }
    if looks_like_token(text) {
        // The right checksum is all that a well-shaped token lacks.
        let prefix = TokenKind::ALL.into_iter().map(TokenKind::prefix).find(|p| text.starts_with(p)).unwrap();
        let body = &text[prefix.len()..prefix.len() + BODY_LEN];
        let sum = checksum(body);
        let fixed = format!("{prefix}{body}{}", std::str::from_utf8(&sum).unwrap());
        let token = TokenSecret::parse(&fixed).expect("a well-shaped token with its checksum parses");
        assert_eq!(token.expose_secret(), fixed);
    }
    if let Ok(kind) = text.parse::<TokenKind>() {
        assert_eq!(kind.as_str(), text);
    }

    // Any bytes make a body: every such token round-trips.
    if data.len() >= BODY_LEN + 1 {
        let kind = TokenKind::ALL[usize::from(data[0]) % TokenKind::ALL.len()];
        let body: String =
            data[1..=BODY_LEN].iter().map(|&b| char::from(BASE62_ALPHABET[usize::from(b % 62)])).collect();
        let full = format!("{}{body}{}", kind.prefix(), std::str::from_utf8(&checksum(&body)).unwrap());
        assert_eq!(full.len(), kind.token_len());
        let token = TokenSecret::parse(&full).expect("a generated token parses");
        assert_eq!((token.kind(), token.expose_secret()), (kind, full.as_str()));
    }

    let redacted = redact(text);
    assert!(!contains_token(&redacted), "redacting {text:?} left {redacted:?}");
    match &redacted {
        Cow::Borrowed(same) => {
            assert_eq!(*same, text);
            assert!(!contains_token(text));
        }
        Cow::Owned(_) => assert!(contains_token(text)),
    }
    assert_eq!(redact_owned(text.to_owned()), redacted);
});
