//! Unit tests of `policy.rs`: its JSON form and validation, the expiry each mode gives a new
//! token, the exceeds-policy flag, the presets and the unused-token cutoff.

use super::*;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2025-03-10 12:00:00.750 UTC);
const NOW_S: OffsetDateTime = datetime!(2025-03-10 12:00:00 UTC);

fn days(n: i64) -> OffsetDateTime {
    NOW_S + Duration::days(n)
}

fn user(max_days: u32, allow_no_expiry: bool) -> TokenPolicy {
    TokenPolicy { max_days, allow_no_expiry, ..TokenPolicy::default() }
}

fn fixed(fixed_days: u32) -> TokenPolicy {
    TokenPolicy { mode: PolicyMode::Fixed, fixed_days, allow_no_expiry: true, ..TokenPolicy::default() }
}

fn rule(p: &TokenPolicy, req: ExpiryRequest) -> &'static str {
    p.resolve(req, NOW).expect_err("should be refused").rule
}

#[test]
fn serde_matches_the_api_and_fills_defaults() {
    let p: TokenPolicy = serde_json::from_str("{}").expect("empty object");
    assert_eq!(p, TokenPolicy::default());
    let json = serde_json::to_value(TokenPolicy::default()).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"mode": "user_choice", "fixed_days": 90, "max_days": 365,
            "allow_no_expiry": false, "revoke_unused_after_days": null})
    );
    let p: TokenPolicy = serde_json::from_str(r#"{"mode":"fixed","fixed_days":30,"revoke_unused_after_days":60}"#)
        .expect("partial object");
    assert_eq!((p.mode, p.fixed_days, p.max_days), (PolicyMode::Fixed, 30, 365));
    assert_eq!(p.revoke_unused_after_days, Some(60));
    for bad in [r#"{"max_day":10}"#, r#"{"mode":"Fixed"}"#, r#"{"max_days":-1}"#] {
        assert!(serde_json::from_str::<TokenPolicy>(bad).is_err(), "{bad}");
    }
}

#[test]
fn validate_checks_every_range() {
    assert_eq!(TokenPolicy::default().validate(), Ok(()));
    let ok =
        TokenPolicy { fixed_days: 1, max_days: 3650, revoke_unused_after_days: Some(3650), ..TokenPolicy::default() };
    assert_eq!(ok.validate(), Ok(()));
    let cases = [
        (TokenPolicy { fixed_days: 0, ..ok.clone() }, "fixed_days"),
        (TokenPolicy { fixed_days: 3651, ..ok.clone() }, "fixed_days"),
        (TokenPolicy { max_days: 0, ..ok.clone() }, "max_days"),
        (TokenPolicy { max_days: 3651, ..ok.clone() }, "max_days"),
        (TokenPolicy { revoke_unused_after_days: Some(0), ..ok.clone() }, "revoke_unused_after_days"),
        (TokenPolicy { revoke_unused_after_days: Some(4000), ..ok.clone() }, "revoke_unused_after_days"),
    ];
    for (p, field) in cases {
        let err = p.validate().expect_err("out of range");
        assert_eq!(err.field, field);
        assert!(err.message.starts_with(field), "{}", err.message);
    }
}

#[test]
fn user_choice_defaults_to_90_days_capped_by_max_days() {
    let p = TokenPolicy::default();
    assert_eq!(p.resolve(ExpiryRequest::Default, NOW), Ok(Some(days(90))));
    assert_eq!(user(30, false).resolve(ExpiryRequest::Default, NOW), Ok(Some(days(30))));
    assert_eq!(user(90, false).default_days(), 90);
    assert_eq!(fixed(14).default_days(), 14);
}

#[test]
fn user_choice_in_days_boundaries() {
    let p = user(365, false);
    for d in PRESET_DAYS {
        assert_eq!(p.resolve(ExpiryRequest::InDays(d), NOW), Ok(Some(days(d.into()))));
    }
    assert_eq!(p.resolve(ExpiryRequest::InDays(1), NOW), Ok(Some(days(1))));
    assert_eq!(rule(&p, ExpiryRequest::InDays(366)), rules::MAX_DAYS);
    assert_eq!(rule(&p, ExpiryRequest::InDays(u32::MAX)), rules::MAX_DAYS);
    assert_eq!(rule(&p, ExpiryRequest::InDays(0)), rules::INVALID_DAYS);
    let err = p.resolve(ExpiryRequest::InDays(400), NOW).expect_err("too long");
    assert_eq!(err.message, "Tokens may expire at most 365 days from now (policy max_days).");
    let one = user(1, false).resolve(ExpiryRequest::InDays(2), NOW).expect_err("too long");
    assert_eq!(one.message, "Tokens may expire at most 1 day from now (policy max_days).");
}

#[test]
fn user_choice_explicit_instant_boundaries() {
    let p = user(365, false);
    let at = |t| p.resolve(ExpiryRequest::At(t), NOW);
    assert_eq!(at(NOW_S + Duration::seconds(1)), Ok(Some(NOW_S + Duration::seconds(1))));
    // Sub-second parts are cut, so the same second as `now` is not the future.
    assert_eq!(rule(&p, ExpiryRequest::At(NOW + Duration::milliseconds(100))), rules::EXPIRES_AT_PAST);
    assert_eq!(rule(&p, ExpiryRequest::At(NOW_S)), rules::EXPIRES_AT_PAST);
    assert_eq!(rule(&p, ExpiryRequest::At(days(-1))), rules::EXPIRES_AT_PAST);
    assert_eq!(at(days(365)), Ok(Some(days(365))));
    assert_eq!(at(days(365) + Duration::milliseconds(999)), Ok(Some(days(365))));
    assert_eq!(rule(&p, ExpiryRequest::At(days(365) + Duration::seconds(1))), rules::MAX_DAYS);
    // Another offset is the same instant, answered in UTC.
    let plus2 = datetime!(2025-04-01 14:00:00 +02:00);
    assert_eq!(at(plus2), Ok(Some(datetime!(2025-04-01 12:00:00 UTC))));
    assert_eq!(at(plus2).ok().flatten().map(|t| t.offset()), Some(UtcOffset::UTC));
}

#[test]
fn no_expiry_only_where_allowed() {
    assert_eq!(user(365, true).resolve(ExpiryRequest::Never, NOW), Ok(None));
    assert_eq!(rule(&user(365, false), ExpiryRequest::Never), rules::ALLOW_NO_EXPIRY);
    // Fixed mode overrides allow_no_expiry (the helper sets it true).
    assert_eq!(rule(&fixed(30), ExpiryRequest::Never), rules::FIXED);
}

#[test]
fn fixed_mode_allows_only_its_own_lifetime() {
    let p = fixed(30);
    assert_eq!(p.resolve(ExpiryRequest::Default, NOW), Ok(Some(days(30))));
    assert_eq!(p.resolve(ExpiryRequest::InDays(30), NOW), Ok(Some(days(30))));
    assert_eq!(rule(&p, ExpiryRequest::InDays(7)), rules::FIXED);
    assert_eq!(rule(&p, ExpiryRequest::InDays(31)), rules::FIXED);
    assert_eq!(rule(&p, ExpiryRequest::At(days(30))), rules::FIXED);
    assert_eq!(rule(&p, ExpiryRequest::InDays(0)), rules::INVALID_DAYS);
    assert_eq!(rule(&p, ExpiryRequest::At(days(-3))), rules::EXPIRES_AT_PAST);
    let err = p.resolve(ExpiryRequest::InDays(7), NOW).expect_err("fixed");
    assert!(err.message.starts_with("The policy sets every token to expire after 30 days"));
    // fixed_days beyond max_days is fine: max_days does not apply in fixed mode.
    assert_eq!(TokenPolicy { max_days: 7, ..fixed(400) }.resolve(ExpiryRequest::Default, NOW), Ok(Some(days(400))));
}

#[test]
fn unvalidated_huge_policies_do_not_panic() {
    let p = TokenPolicy { mode: PolicyMode::Fixed, fixed_days: u32::MAX, ..TokenPolicy::default() };
    assert_eq!(rule(&p, ExpiryRequest::Default), rules::MAX_DAYS);
    let p = user(u32::MAX, false);
    assert!(p.resolve(ExpiryRequest::At(days(10_000)), NOW).is_err());
    assert!(!p.exceeds(NOW, Some(days(10_000))));
}

#[test]
fn exceeds_flags_tokens_the_current_policy_would_refuse() {
    let p = user(90, false);
    assert!(!p.exceeds(NOW, Some(NOW + Duration::days(90))));
    assert!(!p.exceeds(NOW, Some(NOW + Duration::days(90) + Duration::seconds(59))));
    assert!(p.exceeds(NOW, Some(NOW + Duration::days(90) + Duration::minutes(2))));
    assert!(p.exceeds(NOW, Some(NOW + Duration::days(365))));
    assert!(p.exceeds(NOW, None));
    assert!(!user(90, true).exceeds(NOW, None));
    let f = fixed(30);
    assert!(f.exceeds(NOW, None));
    assert!(!f.exceeds(NOW, Some(NOW + Duration::days(7))));
    assert!(!f.exceeds(NOW, Some(NOW + Duration::days(30))));
    assert!(f.exceeds(NOW, Some(NOW + Duration::days(31))));
    // Whatever resolve hands out never exceeds the same policy.
    for p in [user(365, true), user(30, false), fixed(1), fixed(3650)] {
        for req in [ExpiryRequest::Default, ExpiryRequest::InDays(p.default_days()), ExpiryRequest::Never] {
            if let Ok(expires) = p.resolve(req, NOW) {
                assert!(!p.exceeds(NOW, expires), "{p:?} {req:?}");
            }
        }
    }
}

#[test]
fn presets_and_unused_cutoff() {
    assert_eq!(TokenPolicy::default().allowed_presets(), PRESET_DAYS.to_vec());
    assert_eq!(user(60, false).allowed_presets(), vec![7, 30, 60]);
    assert!(fixed(30).allowed_presets().is_empty());
    assert_eq!(TokenPolicy::default().unused_cutoff(NOW), None);
    let p = TokenPolicy { revoke_unused_after_days: Some(30), ..TokenPolicy::default() };
    assert_eq!(p.unused_cutoff(NOW), Some(NOW - Duration::days(30)));
}
