//! Every query string and form of the pages, read from one input the way
//! their extractors and handlers read them, up to where a handler would
//! reach the database: what the `forms` fuzz target (`fuzz/`) runs, with
//! the promises the readers make checked as it goes. Built for unit tests
//! and under `cargo fuzz` (`--cfg fuzzing`) only.

use actix_web::web;
use serde::de::DeserializeOwned;

use super::token_forms::{parse_grace, RotateForm};
use super::{admin_accounts, admin_roles, admin_tokens, audit, auth, project_keys, projects, tests, tokens};
use super::{read_submitted, CsrfOnly, Notice};
use crate::domain::analysis::{flip_threshold, FLIP_THRESHOLDS};
use crate::domain::names::{parse_branch, DisplayName, Email, ProjectSlug, RoleName};
use crate::domain::new_user::NewUser;
use crate::domain::password;
use crate::domain::permission::Permission;
use crate::domain::policy::{ExpiryRequest, PolicyMode, TokenPolicy};
use crate::domain::quarantine as rules;
use crate::domain::time::now;
use crate::ops::tokens::MAX_GRACE_SECONDS;
use crate::routes::input::{first_non_utf8_parameter, percent_decode};
use crate::views::{AllTokensQuery, QuarantineFields, RunsQuery, WINDOW_DAYS};

/// Reads `input` as the query string of every page and the body of every
/// form; panics when a reader panics or breaks a promise checked here.
pub fn read_all(input: &[u8]) {
    let query = String::from_utf8_lossy(input);
    guard(&query);
    queries(&query);
    let policies = policies(input);
    submitted(input);
    raw_forms(input, &policies);
    field_values(input);
}

/// `routes::input::guard` must see the bytes serde will see: the same
/// pairs, decoded the same way, or a bad byte could slip past it.
fn guard(query: &str) {
    let flagged = first_non_utf8_parameter(query);
    let pieces = query.split('&').filter(|p| !p.is_empty());
    let pairs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
    assert_eq!(pieces.clone().count(), pairs.len(), "the guard splits {query:?} differently");
    for (piece, (name, value)) in pieces.zip(&pairs) {
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        let (name_bytes, value_bytes) = (percent_decode(raw_name), percent_decode(raw_value));
        assert!(name_bytes.len() <= raw_name.len() && value_bytes.len() <= raw_value.len());
        assert_eq!(String::from_utf8_lossy(&name_bytes), *name, "{piece:?}");
        assert_eq!(String::from_utf8_lossy(&value_bytes), *value, "{piece:?}");
        let clean = std::str::from_utf8(&name_bytes).is_ok() && std::str::from_utf8(&value_bytes).is_ok();
        assert!(clean || flagged.is_some(), "{query:?}: {piece:?} is not UTF-8 yet the guard let it through");
    }
}

/// `web::Query<T>`, as the GET pages take it.
fn query<T: DeserializeOwned>(query: &str) -> Option<T> {
    web::Query::<T>::from_query(query).ok().map(web::Query::into_inner)
}

fn queries(q: &str) {
    if let Some(notice) = query::<Notice>(q) {
        let _ = notice.text();
    }
    if let Some(window) = query::<tests::WindowQuery>(q) {
        assert!(WINDOW_DAYS.contains(&window.days()));
    }
    let _ = query::<tests::HistoryQuery>(q);
    let _ = query::<audit::Query>(q);
    let _ = query::<RunsQuery>(q);
    let _ = query::<AllTokensQuery>(q);
    if let Some(fields) = query::<QuarantineFields>(q) {
        let _ = tests::rule_of(&fields);
    }
}

/// The token policies to check the token forms against: the default, the
/// other mode, one that allows tokens without expiry, and the policy form's
/// own when it is valid (as saving it requires).
fn policies(input: &[u8]) -> Vec<TokenPolicy> {
    let mut policies = vec![
        TokenPolicy::default(),
        TokenPolicy { mode: PolicyMode::Fixed, fixed_days: 30, ..TokenPolicy::default() },
        TokenPolicy { allow_no_expiry: true, max_days: 3650, ..TokenPolicy::default() },
    ];
    let (_, form) = read_submitted::<admin_tokens::PolicyForm>(input);
    if let Ok(form) = form {
        let _ = form.typed();
        if let Ok(policy) = form.policy() {
            if policy.validate().is_ok() {
                policies.push(policy);
            }
        }
    }
    policies
}

/// What a policy makes of a token form's expiry: never a panic, and an
/// expiry that is in the future and within the policy's limit.
fn resolve(policy: &TokenPolicy, request: ExpiryRequest) {
    let now = now();
    match policy.resolve(request, now) {
        Ok(Some(at)) => {
            assert!(at > now - time::Duration::seconds(1), "{request:?} under {policy:?} expires at {at}");
            let limit = if policy.mode == PolicyMode::Fixed { policy.fixed_days } else { policy.max_days };
            assert!(at <= now + time::Duration::days(i64::from(limit)), "{request:?} under {policy:?}: {at}");
        }
        Ok(None) => assert!(policy.allow_no_expiry && policy.mode == PolicyMode::UserChoice),
        Err(_) => {}
    }
}

/// The forms read by `Submitted<T>` (and `web::Form<T>`, which reads the
/// same bytes the same way), each followed by the handler's own checks
/// (the policy form's are in [`policies`]).
fn submitted(body: &[u8]) {
    let _ = read_submitted::<CsrfOnly>(body);
    if let (_, Ok(form)) = read_submitted::<RotateForm>(body) {
        if let Ok(grace) = parse_grace(form.grace_seconds.as_deref()) {
            assert!(grace <= MAX_GRACE_SECONDS);
        }
    }
    if let (_, Ok(fields)) = read_submitted::<QuarantineFields>(body) {
        let _ = tests::rule_of(&fields);
    }
    let _ = read_submitted::<projects::CreateForm>(body);
    if let (_, Ok(form)) = read_submitted::<projects::UpdateForm>(body) {
        if let Ok((_, _, Some(threshold))) = form.parse() {
            assert!(FLIP_THRESHOLDS.contains(&threshold));
        }
    }
    let _ = read_submitted::<admin_accounts::CreateUserForm>(body);
    let _ = read_submitted::<admin_accounts::CreateServiceAccountForm>(body);
    let _ = read_submitted::<admin_accounts::UpdateForm>(body);
    let _ = read_submitted::<admin_accounts::PasswordForm>(body);
    if let (_, Ok(form)) = read_submitted::<auth::SetupForm>(body) {
        let _ = auth::same_twice(&form);
    }
    let _ = read_submitted::<auth::LoginForm>(body);
}

/// The forms with repeated keys, read by hand from a `RawForm`.
fn raw_forms(body: &[u8], policies: &[TokenPolicy]) {
    let (_, name, permissions) = admin_roles::parse_form(body);
    if let Ok(set) = permissions.checked() {
        assert_eq!(set, permissions.set);
    }
    if let Some(name) = name {
        let _ = RoleName::parse(&name);
    }
    let key = project_keys::KeyInput::parse(body);
    let _ = key.name();
    let token = tokens::TokenForm::parse(body);
    for policy in policies {
        if let Ok(request) = key.request(policy) {
            resolve(policy, request.expiry);
        }
        if let Ok(request) = token.request(policy) {
            assert!(!request.permissions.is_empty());
            assert!(request.projects.as_ref().is_none_or(|p| !p.is_empty()));
            resolve(policy, request.expiry);
        }
    }
}

/// Every value of the form through the field validators the handlers
/// apply to theirs; what one accepts, it accepts again unchanged (a stored
/// value is parsed again when it comes back from a form).
fn field_values(body: &[u8]) {
    let pairs: Vec<_> = form_urlencoded::parse(body).collect();
    for (_, value) in &pairs {
        let value = value.as_ref();
        if let Ok(email) = Email::parse(value) {
            assert_eq!(Email::parse(email.as_str()).as_ref(), Ok(&email), "{value:?}");
        }
        if let Ok(name) = DisplayName::parse(value) {
            assert_eq!(DisplayName::parse(name.as_str()).as_ref(), Ok(&name), "{value:?}");
        }
        if let Ok(slug) = ProjectSlug::parse(value) {
            assert_eq!(ProjectSlug::parse(slug.as_str()).as_ref(), Ok(&slug), "{value:?}");
        }
        if let Ok(role) = RoleName::parse(value) {
            assert_eq!(RoleName::parse(role.as_str()).as_ref(), Ok(&role), "{value:?}");
        }
        if let Ok(branch) = parse_branch(value) {
            assert_eq!(parse_branch(&branch).as_ref(), Ok(&branch), "{value:?}");
        }
        if let Ok(permission) = value.parse::<Permission>() {
            assert_eq!(permission.as_str(), value);
        }
        if let Ok(id) = rules::test_id(value) {
            assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        let _ = flip_threshold(value);
        let _ = password::check_rules(value);
    }
    // The account forms' three fields, from the first three values.
    if let [(_, email), (_, name), (_, password), ..] = pairs.as_slice() {
        let _ = NewUser::parse(email, name, password.to_string());
    }
}

#[cfg(test)]
mod fuzzing_tests {
    use super::read_all;

    /// The hand-written seeds of `.ci/fuzz.sh` for the `forms` target.
    #[test]
    fn the_seeds_read_cleanly() {
        for seed in [
            "csrf_token=abc&name=CI+upload&permission=runs%3Awrite&permission=runs:read&expiration=custom&expires_on=2031-01-02",
            "days=7&notice=project_created&before=2024-01-01&action=token.created&actor=ada%40example.com",
            "mode=fixed&fixed_days=90&max_days=365&allow_no_expiry=on&revoke_unused_after_days=",
            "test_id=0123456789abcdef0123456789ABCDEF&reason=flaky&issue_url=https%3A%2F%2Fx.org%2F1&expires_in_days=3&release_after_passes=5",
            "email=Ada%40Example.com&name=Ada&password=correct+horse+battery&password_confirm=correct+horse+battery&role=admin",
            "name=Web&default_branch=main&flaky_flip_threshold=4&grace_seconds=3600&project_scope=selected&project=web",
            "branch=%FF&name=caf%C3%A9&status=failed&kind=pat&owner=&project=&expiration=never",
        ] {
            read_all(seed.as_bytes());
        }
    }
}
