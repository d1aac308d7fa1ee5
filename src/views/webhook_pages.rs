//! The webhooks pages (API.md section 12): a project's (Project Settings →
//! Webhooks, `projects:manage`) and the instance's (Settings → Webhooks,
//! `users:admin`) are the same pages in a different [`Place`]: the list
//! with the add form, one webhook with its edit form and its deliveries,
//! and the page that shows a new secret once.

use askama::Template;
use askama_web::WebTemplate;

use super::FormError;
use super::{Layout, When};
use crate::auth::session::SessionUser;
use crate::db::webhooks::{self as store, Delivery, Webhook};
use crate::db::{self, Conn, Db};
use crate::domain::principal::Principal;
use crate::domain::webhook::{redacted_url, Format, Scope, EVENTS};
use crate::error::AppError;

/// Webhooks on the list page (the API pages through any number).
const SHOWN: u32 = 100;
/// Deliveries per page of a webhook's log.
const DELIVERIES_SHOWN: u32 = 50;

/// Where the pages are: whose webhooks, their address, the breadcrumbs.
pub struct Place {
    /// The project's id; `None` for the instance's webhooks.
    project_id: Option<i64>,
    /// `/projects/{slug}/settings/webhooks` or `/settings/admin/webhooks`.
    pub base: String,
    /// Links above the heading, outermost first.
    pub crumbs: Vec<(String, String)>,
    /// "acme" or "this Proctor": whose events the hooks hear.
    pub owner: String,
    section: &'static str,
}

impl Place {
    /// The place of `scope`, once `by` may manage its webhooks (a missing
    /// or invisible project is a 404).
    pub fn checked(conn: &Conn, by: &Principal, scope: &Scope) -> Result<Place, AppError> {
        let (base, permission) = (webhooks_base(scope), scope.permission());
        let place = match scope {
            Scope::Project(slug) => {
                let project = db::projects::require(conn, slug)?;
                by.require_project(project.id)?;
                let home = format!("/projects/{}", escaped(&project.slug));
                Place {
                    project_id: Some(project.id),
                    crumbs: vec![
                        ("/projects".into(), "Projects".into()),
                        (home.clone(), project.name.clone()),
                        (format!("{home}/settings"), "Settings".into()),
                    ],
                    owner: project.name,
                    section: "projects",
                    base,
                }
            }
            Scope::Instance => {
                Place { project_id: None, crumbs: Vec::new(), owner: "this Proctor".into(), section: "webhooks", base }
            }
        };
        by.require(permission)?;
        Ok(place)
    }
}

/// Where `scope`'s webhooks pages are.
pub fn webhooks_base(scope: &Scope) -> String {
    match scope {
        Scope::Project(slug) => format!("/projects/{}/settings/webhooks", escaped(slug)),
        Scope::Instance => "/settings/admin/webhooks".into(),
    }
}

fn escaped(slug: &str) -> String {
    form_urlencoded::byte_serialize(slug.as_bytes()).collect()
}

/// One event's checkbox.
pub struct EventChoice {
    pub name: &'static str,
    pub description: &'static str,
    pub checked: bool,
}

/// One option of the format select.
pub struct FormatChoice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn describe(event: &str) -> &'static str {
    match event {
        "run.finished" => "a run finished: its status, counts, new failures and link",
        "test.flaky" => "a test became flaky",
        "test.quarantined" => "a test was quarantined",
        "test.released" => "a test's quarantine ended",
        "token.expiring" => "an access token expires in 7 days, and again in 1 day",
        "token.revoked" => "an access token was revoked",
        _ => "",
    }
}

fn format_label(format: Format) -> &'static str {
    match format {
        Format::Standard => "Standard Webhooks (signed JSON)",
        Format::Slack => "Slack",
        Format::Teams => "Microsoft Teams",
        Format::Discord => "Discord",
    }
}

/// The add and edit form, as stored or as it was submitted.
#[derive(Debug)]
pub struct HookForm {
    pub url: String,
    pub events: Vec<String>,
    pub format: String,
    pub only_changes: bool,
    pub active: bool,
}

impl Default for HookForm {
    fn default() -> HookForm {
        HookForm {
            url: String::new(),
            events: vec!["run.finished".into()],
            format: Format::Standard.as_str().into(),
            only_changes: false,
            active: true,
        }
    }
}

impl HookForm {
    pub fn of(hook: &Webhook) -> HookForm {
        HookForm {
            url: hook.url.clone(),
            events: hook.events.clone(),
            format: hook.format.as_str().into(),
            only_changes: hook.only_changes,
            active: hook.active,
        }
    }

    pub fn event_choices(&self) -> Vec<EventChoice> {
        EVENTS
            .iter()
            .map(|e| EventChoice { name: e, description: describe(e), checked: self.events.iter().any(|c| c == e) })
            .collect()
    }

    pub fn format_choices(&self) -> Vec<FormatChoice> {
        [Format::Standard, Format::Slack, Format::Teams, Format::Discord]
            .into_iter()
            .map(|f| FormatChoice { value: f.as_str(), label: format_label(f), selected: self.format == f.as_str() })
            .collect()
    }
}

/// One delivery of the log, display-ready.
pub struct DeliveryRow {
    pub id: String,
    pub message_id: String,
    pub event: String,
    pub status: String,
    /// The badge's colour class.
    pub tone: &'static str,
    pub created: When,
    pub attempt: u32,
    pub response_code: Option<u16>,
    pub latency: Option<String>,
    pub next_attempt: Option<When>,
    pub error: Option<String>,
    pub response_body: Option<String>,
}

impl DeliveryRow {
    fn new(d: Delivery) -> DeliveryRow {
        let tone = match d.status.as_str() {
            "succeeded" => "ok",
            "pending" => "warn",
            _ => "err",
        };
        DeliveryRow {
            tone,
            created: When::at(d.created_at),
            latency: d.latency_ms.map(|ms| format!("{ms} ms")),
            next_attempt: d.next_attempt_at.filter(|_| d.status == "pending").map(When::at),
            response_body: d.response_body.filter(|b| !b.trim().is_empty()),
            id: d.id,
            message_id: d.message_id,
            event: d.event,
            status: d.status,
            attempt: d.attempt,
            response_code: d.response_code,
            error: d.error,
        }
    }
}

/// One webhook, display-ready.
pub struct HookRow {
    pub id: String,
    /// Redacted (`domain::webhook::redacted_url`): a chat app's URL is its
    /// credential, so titles, lists and headings never show it whole.
    pub url: String,
    pub events: Vec<String>,
    pub format: &'static str,
    pub only_changes: bool,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub created: When,
    pub created_by: String,
    pub last: Option<DeliveryRow>,
}

impl HookRow {
    fn new(hook: Webhook, last: Option<Delivery>) -> HookRow {
        HookRow {
            format: format_label(hook.format),
            created: When::at(hook.created_at),
            created_by: hook.created_by.name.clone().unwrap_or_else(|| hook.created_by.kind.as_str().into()),
            last: last.map(DeliveryRow::new),
            id: hook.id,
            url: redacted_url(&hook.url),
            events: hook.events,
            only_changes: hook.only_changes,
            active: hook.active,
            disabled_reason: hook.disabled_reason,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks/list.html")]
pub struct WebhooksPage {
    pub layout: Layout,
    pub place: Place,
    pub hooks: Vec<HookRow>,
    /// More webhooks than the page lists (the API pages through them all).
    pub more: bool,
    pub form: HookForm,
}

/// The list of `scope`'s webhooks for `user`, with `form` to add one.
pub async fn webhooks_page(
    db: &Db,
    user: &SessionUser,
    scope: Scope,
    notice: Option<&'static str>,
    error: Option<FormError>,
    form: HookForm,
) -> Result<WebhooksPage, AppError> {
    let by = user.principal.clone();
    let (place, mut hooks) = db
        .read(move |c| -> Result<_, AppError> {
            let place = Place::checked(c, &by, &scope)?;
            let rows = store::list(c, place.project_id, None, SHOWN + 1)?
                .into_iter()
                .map(|h| {
                    let last = store::deliveries(c, &h.id, None, 1)?.pop();
                    Ok(HookRow::new(h, last))
                })
                .collect::<Result<Vec<_>, db::DbError>>()?;
            Ok((place, rows))
        })
        .await?;
    let more = hooks.len() > SHOWN as usize;
    hooks.truncate(SHOWN as usize);
    Ok(WebhooksPage {
        layout: Layout::new(user, format!("Webhooks of {}", place.owner), place.section)
            .with_notice(notice)
            .with_error(error),
        place,
        hooks,
        more,
        form,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks/show.html")]
pub struct WebhookPage {
    pub layout: Layout,
    pub place: Place,
    pub hook: HookRow,
    pub form: HookForm,
    pub deliveries: Vec<DeliveryRow>,
    /// `?before=` of the next page of older deliveries.
    pub older: Option<String>,
}

impl WebhookPage {
    pub fn with_notice(mut self, notice: Option<&'static str>) -> WebhookPage {
        self.layout = self.layout.with_notice(notice);
        self
    }

    pub fn with_error(mut self, error: FormError) -> WebhookPage {
        self.layout = self.layout.with_error(Some(error));
        self
    }
}

/// Webhook `id` of `scope` with its deliveries below `before`, for `user`;
/// `form` is the edit form (the stored values unless a save came back).
pub async fn webhook_page(
    db: &Db,
    user: &SessionUser,
    scope: Scope,
    id: String,
    before: Option<String>,
    form: Option<HookForm>,
) -> Result<WebhookPage, AppError> {
    let by = user.principal.clone();
    let (place, hook, mut deliveries) = db
        .read(move |c| -> Result<_, AppError> {
            let place = Place::checked(c, &by, &scope)?;
            let hook = store::get(c, place.project_id, &id)?;
            let deliveries = store::deliveries(c, &hook.id, before.as_deref(), DELIVERIES_SHOWN + 1)?;
            Ok((place, hook, deliveries))
        })
        .await?;
    let older = (deliveries.len() > DELIVERIES_SHOWN as usize).then(|| {
        deliveries.truncate(DELIVERIES_SHOWN as usize);
        deliveries.last().map(|d| d.id.clone()).unwrap_or_default()
    });
    // Reloading a page that came back from a refused save would post it again.
    let live = form.is_none() && deliveries.iter().any(|d| d.status == "pending");
    let form = form.unwrap_or_else(|| HookForm::of(&hook));
    Ok(WebhookPage {
        layout: Layout::new(user, format!("Webhook {}", redacted_url(&hook.url)), place.section).live(live),
        place,
        hook: HookRow::new(hook, None),
        form,
        deliveries: deliveries.into_iter().map(DeliveryRow::new).collect(),
        older,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks/secret.html")]
pub struct WebhookSecretPage {
    pub layout: Layout,
    pub place: Place,
    pub heading: &'static str,
    pub hook: HookRow,
    pub secret: String,
    pub signed: bool,
}

/// The page that shows `hook`'s new `secret` once, at `place`.
pub fn webhook_secret_page(
    user: &SessionUser,
    place: Place,
    heading: &'static str,
    hook: Webhook,
    secret: String,
) -> WebhookSecretPage {
    WebhookSecretPage {
        layout: Layout::new(user, heading, place.section),
        place,
        heading,
        signed: hook.format == Format::Standard,
        hook: HookRow::new(hook, None),
        secret,
    }
}
