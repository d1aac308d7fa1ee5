//! The webhooks pages (API.md section 12): Project Settings → Webhooks
//! (`projects:manage`) under `/projects/{slug}/settings/webhooks`, and the
//! instance's (`users:admin`) under `/settings/admin/webhooks`. Both paths
//! reach the same handlers; the `slug` in the path, or its absence, makes
//! the [`Scope`]. Add, edit, send a test event, see the deliveries,
//! redeliver, make a new secret (shown once) and delete.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{html, see_other, CsrfOnly, Notice, RawForm, Submitted};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db::webhooks::Webhook;
use crate::domain::principal::Principal;
use crate::domain::webhook::Format;
use crate::error::{AppError, AppResult, PageResult};
use crate::ops::webhooks::{self as ops, Draft, Scope};
use crate::state::AppState;
use crate::views::{webhook_page, webhook_secret_page, webhooks_base, webhooks_page, FormError, HookForm, Place};

const BASES: [&str; 2] = ["/projects/{slug}/settings/webhooks", "/settings/admin/webhooks"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    for base in BASES {
        cfg.route(base, web::get().to(index))
            .route(base, web::post().to(create))
            .route(&format!("{base}/{{id}}"), web::get().to(show))
            .route(&format!("{base}/{{id}}"), web::post().to(update))
            .route(&format!("{base}/{{id}}/ping"), web::post().to(ping))
            .route(&format!("{base}/{{id}}/rotate-secret"), web::post().to(rotate))
            .route(&format!("{base}/{{id}}/delete"), web::post().to(delete))
            .route(&format!("{base}/{{id}}/deliveries/{{delivery}}/redeliver"), web::post().to(redeliver));
    }
}

/// A webhooks address: `slug` is there for a project's pages only.
#[derive(Deserialize)]
struct ListPath {
    slug: Option<String>,
}

#[derive(Deserialize)]
struct HookPath {
    slug: Option<String>,
    id: String,
}

#[derive(Deserialize)]
struct DeliveryPath {
    slug: Option<String>,
    id: String,
    delivery: String,
}

fn scope(slug: Option<String>) -> Scope {
    slug.map_or(Scope::Instance, Scope::Project)
}

/// The scope `slug` names and who asks, once `user` may manage its webhooks.
fn managed_by(user: &SessionUser, slug: Option<String>) -> Result<(Scope, Principal), AppError> {
    let scope = scope(slug);
    user.principal.require(scope.permission())?;
    Ok((scope, user.principal.clone()))
}

/// `base[/id]rest` of `scope`'s pages.
fn url_of(scope: &Scope, id: Option<&str>, rest: &str) -> String {
    let base = webhooks_base(scope);
    match id {
        Some(id) => format!("{base}/{id}{rest}"),
        None => format!("{base}{rest}"),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ShowQuery {
    notice: Option<String>,
    before: Option<String>,
}

async fn index(
    state: web::Data<AppState>,
    user: SessionUser,
    path: web::Path<ListPath>,
    query: web::Query<Notice>,
) -> PageResult<HttpResponse> {
    let (scope, _) = managed_by(&user, path.into_inner().slug)?;
    let page = webhooks_page(&state.db, &user, scope, query.text(), None, HookForm::default()).await?;
    html(HttpResponse::Ok(), &page)
}

async fn show(
    state: web::Data<AppState>,
    user: SessionUser,
    path: web::Path<HookPath>,
    query: web::Query<ShowQuery>,
) -> PageResult<HttpResponse> {
    let HookPath { slug, id } = path.into_inner();
    let (scope, _) = managed_by(&user, slug)?;
    let ShowQuery { notice, before } = query.into_inner();
    let notice = Notice { notice }.text();
    let page = webhook_page(&state.db, &user, scope, id, before, None).await?;
    html(HttpResponse::Ok(), &page.with_notice(notice))
}

/// The add and edit form as submitted (`event` checkboxes repeat).
#[derive(Debug, Default)]
struct HookInput {
    csrf: String,
    form: HookForm,
}

impl HookInput {
    fn parse(body: &[u8]) -> HookInput {
        let mut input = HookInput {
            form: HookForm { events: Vec::new(), active: false, ..HookForm::default() },
            ..Default::default()
        };
        for (key, value) in form_urlencoded::parse(body) {
            let form = &mut input.form;
            match key.as_ref() {
                "csrf_token" => input.csrf = value.into_owned(),
                "url" => form.url = value.trim().to_string(),
                "event" => form.events.push(value.into_owned()),
                "format" => form.format = value.into_owned(),
                "only_changes" => form.only_changes = value == "on",
                "active" => form.active = value == "on",
                _ => {}
            }
        }
        input
    }

    /// What the form asks for; `editing` also sets whether the hook is active.
    fn draft(&self, editing: bool) -> Result<Draft, AppError> {
        let form = &self.form;
        let format = Format::parse(&form.format)
            .ok_or_else(|| AppError::invalid("format", format!("Unknown format {:?}.", form.format)))?;
        Ok(Draft {
            url: Some(form.url.clone()),
            events: Some(form.events.clone()),
            format: Some(format),
            only_changes: Some(form.only_changes),
            active: editing.then_some(form.active),
        })
    }
}

async fn create(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    path: web::Path<ListPath>,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    let (scope, _) = managed_by(&user, path.into_inner().slug)?;
    let input = HookInput::parse(&body);
    user.verify_csrf(&state, &input.csrf)?;
    match add(&state, &user, &client, scope.clone(), &input).await {
        Ok((place, hook, secret)) => secret_response(&user, place, "Webhook added", hook, secret),
        Err(e) => {
            let e = e.on_form()?;
            let page = webhooks_page(&state.db, &user, scope, None, Some(FormError::of(&e)), input.form).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

/// Adds the webhook the add form `input` asks for; returns it with its
/// secret, and the place of the page that shows it (read in the same
/// transaction, so that nothing can fail between the two).
async fn add(
    state: &AppState,
    user: &SessionUser,
    client: &ClientInfo,
    scope: Scope,
    input: &HookInput,
) -> AppResult<(Place, Webhook, String)> {
    let draft = input.draft(false)?;
    let (ctx, by) = (client.audit(user.principal.actor.clone()), user.principal.clone());
    let (key, outbound) = (state.key.clone(), state.webhook_client.clone());
    let added = state.db.write(move |tx| -> AppResult<_> {
        let (hook, secret) = ops::create(tx, &key, outbound.policy(), &ctx, &by, &scope, draft)?;
        Ok((Place::checked(tx, &by, &scope)?, hook, secret))
    });
    added.await
}

async fn update(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    path: web::Path<HookPath>,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    let HookPath { slug, id } = path.into_inner();
    let (scope, _) = managed_by(&user, slug)?;
    let input = HookInput::parse(&body);
    user.verify_csrf(&state, &input.csrf)?;
    match save(&state, &user, &client, scope.clone(), id.clone(), &input).await {
        Ok(()) => Ok(see_other(&url_of(&scope, Some(&id), "?notice=webhook_updated"))),
        Err(e) => {
            let e = e.on_form()?;
            let page = webhook_page(&state.db, &user, scope, id, None, Some(input.form)).await?;
            html(HttpResponse::build(e.status()), &page.with_error(FormError::of(&e)))
        }
    }
}

/// Saves the edit form `input` to webhook `id`.
async fn save(
    state: &AppState,
    user: &SessionUser,
    client: &ClientInfo,
    scope: Scope,
    id: String,
    input: &HookInput,
) -> AppResult<()> {
    let draft = input.draft(true)?;
    let (ctx, by, outbound) =
        (client.audit(user.principal.actor.clone()), user.principal.clone(), state.webhook_client.clone());
    state.db.write(move |tx| ops::update(tx, outbound.policy(), &ctx, &by, &scope, &id, draft)).await?;
    Ok(())
}

/// The secret page, never cached.
fn secret_response(
    user: &SessionUser,
    place: Place,
    heading: &'static str,
    hook: Webhook,
    secret: String,
) -> PageResult<HttpResponse> {
    let page = webhook_secret_page(user, place, heading, hook, secret);
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    html(response, &page)
}

async fn ping(
    state: web::Data<AppState>,
    path: web::Path<HookPath>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    let HookPath { slug, id } = path.into_inner();
    let (scope, by) = managed_by(&submitted.user, slug)?;
    let (on, hook) = (scope.clone(), id.clone());
    state.db.write(move |tx| ops::ping(tx, &by, &on, &hook)).await?;
    Ok(see_other(&url_of(&scope, Some(&id), "?notice=webhook_pinged#deliveries")))
}

async fn redeliver(
    state: web::Data<AppState>,
    path: web::Path<DeliveryPath>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    let DeliveryPath { slug, id, delivery } = path.into_inner();
    let (scope, by) = managed_by(&submitted.user, slug)?;
    let (on, hook) = (scope.clone(), id.clone());
    state.db.write(move |tx| ops::redeliver(tx, &by, &on, &hook, &delivery)).await?;
    Ok(see_other(&url_of(&scope, Some(&id), "?notice=delivery_queued#deliveries")))
}

async fn rotate(
    state: web::Data<AppState>,
    path: web::Path<HookPath>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    let HookPath { slug, id } = path.into_inner();
    let (scope, by) = managed_by(&submitted.user, slug)?;
    let (ctx, key) = (submitted.audit(), state.key.clone());
    let rotated = state.db.write(move |tx| -> AppResult<_> {
        let (hook, secret) = ops::rotate_secret(tx, &key, &ctx, &by, &scope, &id)?;
        Ok((Place::checked(tx, &by, &scope)?, hook, secret))
    });
    let (place, hook, secret) = rotated.await?;
    secret_response(&submitted.user, place, "New webhook secret", hook, secret)
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<HookPath>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    let HookPath { slug, id } = path.into_inner();
    let (scope, by) = managed_by(&submitted.user, slug)?;
    let (ctx, on) = (submitted.audit(), scope.clone());
    state.db.write(move |tx| ops::delete(tx, &ctx, &by, &on, &id)).await?;
    Ok(see_other(&url_of(&scope, None, "?notice=webhook_deleted")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_repeated_events_and_unticked_boxes() {
        let input = HookInput::parse(
            b"csrf_token=c&url=+https%3A%2F%2Fx.example%2Fh+&event=test.flaky&event=run.finished&format=slack",
        );
        assert_eq!(input.csrf, "c");
        assert_eq!(input.form.url, "https://x.example/h");
        assert_eq!(input.form.events, ["test.flaky", "run.finished"]);
        assert!(!input.form.only_changes && !input.form.active);
        let draft = input.draft(true).unwrap();
        assert_eq!(draft.active, Some(false));
        assert_eq!(draft.format, Some(Format::Slack));
        assert_eq!(input.draft(false).unwrap().active, None);
    }

    #[test]
    fn an_unknown_format_is_named() {
        let input = HookInput::parse(b"url=https%3A%2F%2Fx.example&event=run.finished&format=irc");
        let error = input.draft(false).unwrap_err();
        assert!(error.public_message().contains("\"irc\""), "{}", error.public_message());
    }

    #[test]
    fn addresses_are_the_scopes_pages() {
        assert_eq!(url_of(&Scope::Instance, None, "?notice=x"), "/settings/admin/webhooks?notice=x");
        assert_eq!(url_of(&Scope::Project("web.app".into()), Some("id"), ""), "/projects/web.app/settings/webhooks/id");
    }
}
