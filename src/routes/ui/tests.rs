//! A project's test analytics pages: flaky tests, slowest tests, failure
//! groups (each over a window of 7, 30 or 90 days) and one test's history with its charts.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{html, see_other, CsrfOnly, Notice, Submitted};
use crate::auth::session::SessionUser;
use crate::domain::permission::Permission;
use crate::domain::quarantine as rules;
use crate::error::{AppError, PageResult};
use crate::ops::quarantine::{self as ops, Covers, Quarantine};
use crate::state::AppState;
use crate::views::{
    errors_page, flaky_page, quarantine_form_page, quarantine_page, slowest_page, test_history_page, ErrorsPage,
    FlakyPage, FormError, QuarantineFields, QuarantineFormPage, QuarantinePage, SlowestPage, TestPage, WINDOW_DAYS,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/flaky", web::get().to(flaky))
        .route("/projects/{slug}/slowest", web::get().to(slowest))
        .route("/projects/{slug}/errors", web::get().to(errors))
        .route("/projects/{slug}/tests/{test_id}", web::get().to(history))
        .route("/projects/{slug}/quarantine", web::get().to(quarantine))
        .route("/projects/{slug}/quarantine", web::post().to(create))
        .route("/projects/{slug}/quarantine/new", web::get().to(new_rule))
        .route("/projects/{slug}/quarantine/{id}/release", web::post().to(release))
        .route("/projects/{slug}/tests/{test_id}/fixed", web::post().to(mark_fixed));
}

#[derive(Debug, Deserialize)]
pub(super) struct WindowQuery {
    days: Option<String>,
}

impl WindowQuery {
    /// One of the offered windows; 30 days for anything else.
    pub(super) fn days(&self) -> u32 {
        self.days.as_deref().and_then(|d| d.trim().parse().ok()).filter(|d| WINDOW_DAYS.contains(d)).unwrap_or(30)
    }
}

async fn flaky(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
    notice: web::Query<Notice>,
) -> PageResult<FlakyPage> {
    user.principal.require(Permission::RunsRead)?;
    Ok(flaky_page(&state.db, &user, slug.into_inner(), query.days(), notice.text()).await?)
}

/// Marks a flaky test fixed (`tests:manage`), audited like the API's.
async fn mark_fixed(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TestsManage)?;
    let (slug, test_id) = path.into_inner();
    let test_id = rules::test_id(&test_id)?;
    let (ctx, by, target) = (client.audit(user.principal.actor.clone()), user.principal.clone(), slug.clone());
    state
        .db
        .write(move |tx| crate::ops::flaky::mark_fixed(tx, &ctx, &by, &target, &test_id))
        .await
        .map_err(AppError::from)?;
    Ok(see_other(&format!("/projects/{slug}/flaky?notice=marked_fixed")))
}

async fn slowest(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> PageResult<SlowestPage> {
    user.principal.require(Permission::RunsRead)?;
    Ok(slowest_page(&state.db, &user, slug.into_inner(), query.days()).await?)
}

async fn errors(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> PageResult<ErrorsPage> {
    user.principal.require(Permission::RunsRead)?;
    Ok(errors_page(&state.db, &user, slug.into_inner(), query.days()).await?)
}

#[derive(Debug, Deserialize)]
pub(super) struct HistoryQuery {
    before: Option<String>,
}

async fn history(
    state: web::Data<AppState>,
    user: SessionUser,
    path: web::Path<(String, String)>,
    query: web::Query<HistoryQuery>,
) -> PageResult<TestPage> {
    user.principal.require(Permission::RunsRead)?;
    let (slug, test_id) = path.into_inner();
    Ok(test_history_page(&state.db, &user, slug, test_id, query.into_inner().before).await?)
}

async fn quarantine(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    notice: web::Query<Notice>,
) -> PageResult<QuarantinePage> {
    user.principal.require(Permission::RunsRead)?;
    Ok(quarantine_page(&state.db, &user, slug.into_inner(), notice.text()).await?)
}

/// Releases a quarantine rule now (`tests:manage`), audited like the API's.
async fn release(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    Submitted { user, client, .. }: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TestsManage)?;
    let (slug, id) = path.into_inner();
    let (ctx, by, target) = (client.audit(user.principal.actor.clone()), user.principal.clone(), slug.clone());
    state
        .db
        .write(move |tx| crate::ops::quarantine::release(tx, &ctx, &by, &target, &id))
        .await
        .map_err(AppError::from)?;
    Ok(see_other(&format!("/projects/{slug}/quarantine?notice=rule_released")))
}

async fn new_rule(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    fields: web::Query<QuarantineFields>,
) -> PageResult<QuarantineFormPage> {
    user.principal.require(Permission::TestsManage)?;
    Ok(quarantine_form_page(&state.db, &user, slug.into_inner(), fields.into_inner(), None).await?)
}

/// Quarantines the test of the form (`tests:manage`), audited like the API's.
async fn create(
    state: web::Data<AppState>,
    slug: web::Path<String>,
    Submitted { user, client, form }: Submitted<QuarantineFields>,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::TestsManage)?;
    let slug = slug.into_inner();
    let (ctx, by, target) = (client.audit(user.principal.actor.clone()), user.principal.clone(), slug.clone());
    let made = match rule_of(&form) {
        Ok(rule) => state.db.write(move |tx| ops::create(tx, &ctx, &by, &target, rule)).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    match made {
        Ok(_) => Ok(see_other(&format!("/projects/{slug}/quarantine?notice=rule_created"))),
        Err(e) => {
            let e = e.on_form()?;
            let page = quarantine_form_page(&state.db, &user, slug, form, Some(FormError::of(&e))).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

/// The rule the form asks for, each field checked as the API checks it.
pub(super) fn rule_of(f: &QuarantineFields) -> Result<Quarantine, AppError> {
    let number = |field: &'static str, raw: &str| -> Result<Option<i64>, AppError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse().map(Some).map_err(|_| AppError::invalid(field, format!("{field} must be a whole number.")))
    };
    let covers = Covers::Test(rules::test_id(&f.test_id)?);
    let (days, passes) =
        (number("expires_in_days", &f.expires_in_days)?, number("release_after_passes", &f.release_after_passes)?);
    Quarantine::new(covers, &f.reason, Some(&f.issue_url), days, None, passes).map_err(AppError::from)
}
