//! A project's test analytics pages: flaky tests, slowest tests (both over a
//! window of 7, 30 or 90 days) and one test's history with its charts.

use actix_web::web;
use serde::Deserialize;

use crate::auth::session::SessionUser;
use crate::domain::permission::Permission;
use crate::error::PageResult;
use crate::state::AppState;
use crate::views::{flaky_page, slowest_page, test_history_page, FlakyPage, SlowestPage, TestPage, WINDOW_DAYS};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/flaky", web::get().to(flaky))
        .route("/projects/{slug}/slowest", web::get().to(slowest))
        .route("/projects/{slug}/tests/{test_id}", web::get().to(history));
}

#[derive(Debug, Deserialize)]
struct WindowQuery {
    days: Option<String>,
}

impl WindowQuery {
    /// One of the offered windows; 30 days for anything else.
    fn days(&self) -> u32 {
        self.days.as_deref().and_then(|d| d.trim().parse().ok()).filter(|d| WINDOW_DAYS.contains(d)).unwrap_or(30)
    }
}

async fn flaky(
    state: web::Data<AppState>,
    user: SessionUser,
    slug: web::Path<String>,
    query: web::Query<WindowQuery>,
) -> PageResult<FlakyPage> {
    user.principal.require(Permission::RunsRead)?;
    Ok(flaky_page(&state.db, &user, slug.into_inner(), query.days()).await?)
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

#[derive(Debug, Deserialize)]
struct HistoryQuery {
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
