//! A project's Quarantine tab: its rules, active first, with what each
//! covers, why, until when, and how it ended.

use askama::Template;
use askama_web::WebTemplate;

use super::FormError;
use super::{test_href, Layout, Tab, When};
use crate::auth::session::SessionUser;
use crate::db::projects::Project;
use crate::db::quarantine::{self, Rule};
use crate::db::{self, Db, DbError};
use crate::domain::permission::Permission;
use crate::domain::time::unix_now;
use crate::error::AppError;

/// Rules on the page; the API pages through all of them.
const SHOWN: u32 = 200;

/// One rule, display-ready.
pub struct RuleRow {
    pub id: String,
    /// The covered test's page, for a rule naming one test.
    pub test_href: Option<String>,
    /// "test 9f0c2a1b…" or "classname=e2e.* name=*timeout*".
    pub covers: String,
    pub reason: String,
    /// Only http(s) links are ever stored.
    pub issue_url: Option<String>,
    pub created_by: String,
    pub created: When,
    pub expires: When,
    pub active: bool,
    /// "released by hand", "expired", "released after 10 passes".
    pub ended: Option<String>,
    pub passes: Option<String>,
}

impl RuleRow {
    fn new(slug: &str, r: Rule) -> RuleRow {
        let covers = match (&r.test_id, &r.pattern) {
            (Some(id), _) => format!("test {}…", &id[..id.len().min(12)]),
            (None, Some(p)) => p.describe(),
            (None, None) => String::new(),
        };
        let ended = r.release_reason.map(|reason| match reason {
            quarantine::ReleaseReason::Manual => "released by hand".to_string(),
            quarantine::ReleaseReason::Expired => "expired".to_string(),
            quarantine::ReleaseReason::Passes => format!("released after {} passes", r.consecutive_passes),
        });
        let ended = ended.or_else(|| (!r.active).then(|| "expired".to_string()));
        let passes = r.release_after_passes.map(|n| format!("{} of {n} passes", r.consecutive_passes));
        RuleRow {
            test_href: r.test_id.as_deref().map(|id| test_href(slug, id)),
            covers,
            reason: r.reason,
            issue_url: r.issue_url,
            created_by: r.created_by.name.clone().or(r.created_by.preview.clone()).unwrap_or_default(),
            created: When::at(r.created_at),
            expires: When::at(r.expires_at),
            active: r.active,
            ended,
            passes,
            id: r.id,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/quarantine.html")]
pub struct QuarantinePage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    pub rows: Vec<RuleRow>,
    /// Whether the viewer may release rules (`tests:manage`).
    pub can_manage: bool,
}

/// The Quarantine tab of project `slug`.
pub async fn quarantine_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    notice: Option<&'static str>,
) -> Result<QuarantinePage, AppError> {
    let (project, rules) = db
        .read(move |c| -> Result<_, DbError> {
            let project = db::projects::require(c, &slug)?;
            let rules = quarantine::list(c, project.id, unix_now(), None, SHOWN)?;
            Ok((project, rules))
        })
        .await?;
    Ok(QuarantinePage {
        layout: Layout::new(user, format!("Quarantine · {}", project.name), "projects").with_notice(notice),
        rows: rules.into_iter().map(|r| RuleRow::new(&project.slug, r)).collect(),
        can_manage: user.principal.may(Permission::TestsManage),
        tab: Tab::Quarantine,
        project,
    })
}

/// The form that quarantines one test (from the flaky list), as typed.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct QuarantineFields {
    #[serde(default)]
    pub test_id: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub issue_url: String,
    #[serde(default)]
    pub expires_in_days: String,
    #[serde(default)]
    pub release_after_passes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "runs/quarantine_new.html")]
pub struct QuarantineFormPage {
    pub layout: Layout,
    pub project: Project,
    pub tab: Tab,
    /// The test's page and title.
    pub test_href: String,
    pub test_title: String,
    pub fields: QuarantineFields,
}

/// The form quarantining test `fields.test_id` of project `slug` (404 for a
/// test the project does not have).
pub async fn quarantine_form_page(
    db: &Db,
    user: &SessionUser,
    slug: String,
    mut fields: QuarantineFields,
    error: Option<FormError>,
) -> Result<QuarantineFormPage, AppError> {
    let test_id = fields.test_id.to_ascii_lowercase();
    let (project, test) = db
        .read(move |c| -> Result<_, DbError> {
            let project = db::projects::require(c, &slug)?;
            let test = db::analysis::test_info(c, project.id, &test_id)?.ok_or(DbError::NotFound(db::Missing::Test))?;
            Ok((project, test.1))
        })
        .await?;
    if fields.expires_in_days.is_empty() {
        fields.expires_in_days = crate::domain::quarantine::DEFAULT_DAYS.to_string();
    }
    Ok(QuarantineFormPage {
        layout: Layout::new(user, format!("Quarantine a test · {}", project.name), "projects").with_error(error),
        test_href: test_href(&project.slug, &test.test_id),
        test_title: super::test_title(&test.suite, &test.classname, &test.name),
        fields,
        tab: Tab::Quarantine,
        project,
    })
}
