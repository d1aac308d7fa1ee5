//! Quarantine rules of a project: `/api/v1/projects/{project}/quarantine`
//! (API.md section 9), and marking a flaky test fixed. Reading needs
//! `runs:read`; making and releasing rules and marks `tests:manage`.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{collection, ApiJson, PageQuery};
use crate::auth::api::ApiCaller;
use crate::db::quarantine::{self, After, Rule};
use crate::domain::permission::Permission;
use crate::domain::quarantine::{self as rules, Pattern};
use crate::domain::time::{parse_rfc3339, unix_now};
use crate::error::{AppError, AppResult};
use crate::ops::quarantine::{self as ops, Covers, Quarantine};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/quarantine", web::get().to(list))
        .route("/quarantine", web::post().to(create))
        .route("/quarantine/{id}", web::delete().to(release))
        .route("/tests/{test_id}/fixed", web::post().to(mark_fixed));
}

/// A page's cursor: `<1|0>:<rule id>`, whether the last rule was active.
fn after(cursor: Option<String>) -> Result<Option<After>, AppError> {
    let Some(cursor) = cursor else { return Ok(None) };
    match cursor.split_once(':') {
        Some(("1", id)) => Ok(Some(After { active: true, id: id.to_string() })),
        Some(("0", id)) => Ok(Some(After { active: false, id: id.to_string() })),
        _ => Err(AppError::validation("Invalid cursor.")),
    }
}

async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let (limit, after) = (query.limit()?, after(query.after()?)?);
    let rules = state
        .db
        .read(move |c| -> AppResult<_> {
            let project = crate::ops::visible_project(c, &caller.principal, &slug)?;
            caller.principal.require(Permission::RunsRead)?;
            Ok(quarantine::list(c, project.id, unix_now(), after.as_ref(), limit + 1)?)
        })
        .await?;
    Ok(collection("quarantine", rules, limit, |r: &Rule| format!("{}:{}", u8::from(r.active), r.id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternBody {
    suite: Option<String>,
    classname: Option<String>,
    name: Option<String>,
    file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    test_id: Option<String>,
    pattern: Option<PatternBody>,
    #[serde(default)]
    reason: String,
    issue_url: Option<String>,
    expires_in_days: Option<i64>,
    expires_at: Option<String>,
    release_after_passes: Option<i64>,
}

impl CreateBody {
    /// The rule asked for, every field checked (a 400 naming the field).
    fn quarantine(self) -> Result<Quarantine, AppError> {
        let bad = |e: rules::RuleError| AppError::validation(e.0);
        let covers = match (self.test_id, self.pattern) {
            (Some(_), Some(_)) => return Err(AppError::validation("Give test_id or pattern, not both.")),
            (None, None) => return Err(AppError::validation("Give test_id or pattern.")),
            (Some(id), None) => Covers::Test(rules::test_id(&id).map_err(bad)?),
            (None, Some(p)) => Covers::Pattern(Pattern::new(p.suite, p.classname, p.name, p.file).map_err(bad)?),
        };
        let at = match self.expires_at.as_deref() {
            None => None,
            Some(raw) => Some(parse_rfc3339(raw).ok_or_else(|| {
                AppError::validation("expires_at must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z.")
            })?),
        };
        let (url, days, passes) = (self.issue_url.as_deref(), self.expires_in_days, self.release_after_passes);
        Quarantine::new(covers, &self.reason, url, days, at, passes).map_err(bad)
    }
}

async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    slug: web::Path<String>,
    body: ApiJson<CreateBody>,
) -> Result<HttpResponse, AppError> {
    let request = body.into_inner().quarantine()?;
    let rule = state.db.write(move |tx| ops::create(tx, &caller.audit(), &caller.principal, &slug, request)).await?;
    Ok(HttpResponse::Created().json(rule))
}

async fn release(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, id) = path.into_inner();
    state.db.write(move |tx| ops::release(tx, &caller.audit(), &caller.principal, &slug, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn mark_fixed(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, test_id) = path.into_inner();
    let test_id = rules::test_id(&test_id).map_err(|e| AppError::validation(e.0))?;
    let item = state
        .db
        .write(move |tx| crate::ops::flaky::mark_fixed(tx, &caller.audit(), &caller.principal, &slug, &test_id))
        .await?;
    Ok(HttpResponse::Ok().json(item))
}
