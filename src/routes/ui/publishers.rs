//! Project Settings → Trusted publishers (API.md section 11), for
//! `projects:manage`: the list with each publisher's last exchanges, the
//! add form (prefilled from a preset by `?preset=`), removal, and revoking
//! a token a CI job exchanged (listed on the settings page).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::token_forms::{server_url, PermissionChecks};
use super::{html, see_other, CsrfOnly, Notice, RawForm, Submitted};
use crate::auth::client::ClientInfo;
use crate::auth::session::SessionUser;
use crate::db::publishers::Publisher;
use crate::db::Missing;
use crate::domain::permission::Permission;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult, PageResult};
use crate::ops::publishers::{self as ops, Draft};
use crate::ops::tokens;
use crate::state::AppState;
use crate::views::{
    publisher_permission_choices, publishers_page, ClaimInput, FormError, PublisherForm, PublishersPage, CLAIM_ROWS,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/projects/{slug}/settings/publishers", web::get().to(index))
        .route("/projects/{slug}/settings/publishers", web::post().to(create))
        .route("/projects/{slug}/settings/publishers/{id}/delete", web::post().to(delete))
        .route("/projects/{slug}/ci-tokens/{id}/revoke", web::post().to(revoke_ci_token));
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    preset: Option<String>,
    notice: Option<String>,
}

async fn index(
    state: web::Data<AppState>,
    user: SessionUser,
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<PageQuery>,
) -> PageResult<PublishersPage> {
    user.principal.require(Permission::ProjectsManage)?;
    let query = query.into_inner();
    let form = PublisherForm::preset(query.preset.as_deref(), &server_url(&state, &req));
    let notice = Notice { notice: query.notice }.text();
    Ok(publishers_page(&state.db, &user, slug.into_inner(), notice, None, form).await?)
}

/// The add form as submitted: repeated `claim_name`/`claim_glob` pairs
/// and `permission` checkboxes, so read by hand rather than by serde.
#[derive(Debug, Default)]
struct PublisherInput {
    csrf: String,
    preset: String,
    issuer: String,
    audience: String,
    claim_names: Vec<String>,
    claim_globs: Vec<String>,
    permissions: PermissionChecks,
    token_minutes: String,
}

impl PublisherInput {
    fn parse(body: &[u8]) -> PublisherInput {
        let mut form = PublisherInput::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "csrf_token" => form.csrf = value.into_owned(),
                "preset" => form.preset = value.into_owned(),
                "issuer" => form.issuer = value.into_owned(),
                "audience" => form.audience = value.into_owned(),
                "claim_name" => form.claim_names.push(value.trim().to_string()),
                "claim_glob" => form.claim_globs.push(value.trim().to_string()),
                "permission" => form.permissions.add(&value),
                "token_minutes" => form.token_minutes = value.into_owned(),
                _ => {}
            }
        }
        form
    }

    /// The claim rules: each pair with a glob; a glob without a name is refused.
    fn claims(&self) -> Result<BTreeMap<String, String>, AppError> {
        let mut claims = BTreeMap::new();
        let names = self.claim_names.iter().map(String::as_str).chain(std::iter::repeat(""));
        for (name, glob) in names.zip(&self.claim_globs).filter(|(_, glob)| !glob.is_empty()) {
            if name.is_empty() {
                return Err(AppError::invalid("claims", format!("Name the claim that must match {glob:?}.")));
            }
            if claims.insert(name.to_string(), glob.clone()).is_some() {
                return Err(AppError::invalid("claims", format!("Claim {name} is named twice; give it one glob.")));
            }
        }
        Ok(claims)
    }

    fn draft(&self) -> Result<Draft, AppError> {
        let minutes = self.token_minutes.trim();
        let token_minutes = match minutes {
            "" => None,
            m => Some(m.parse::<u32>().map_err(|_| {
                AppError::invalid(
                    "token_minutes",
                    format!("Token lifetime must be a whole number of minutes, not {m:?}."),
                )
            })?),
        };
        let audience = Some(self.audience.clone()).filter(|a| !a.trim().is_empty());
        let permissions = self.permissions.checked()?;
        Ok(Draft { issuer: self.issuer.clone(), audience, claims: self.claims()?, permissions, token_minutes })
    }

    /// The form refilled with what was sent, for a re-render with an error.
    fn refill(&self, server_url: &str) -> PublisherForm {
        let mut form = PublisherForm::preset(Some(&self.preset), server_url);
        form.issuer.clone_from(&self.issuer);
        form.audience.clone_from(&self.audience);
        let rows = CLAIM_ROWS.max(self.claim_names.len()).max(self.claim_globs.len());
        let nth = |list: &[String], i: usize| list.get(i).cloned().unwrap_or_default();
        let example = |i: usize| form.claims.get(i).map_or("", |c| c.placeholder);
        let claims = (0..rows)
            .map(|i| ClaimInput {
                name: nth(&self.claim_names, i),
                glob: nth(&self.claim_globs, i),
                placeholder: example(i),
            })
            .collect();
        form.claims = claims;
        form.choices = publisher_permission_choices(self.permissions.set);
        form.token_minutes.clone_from(&self.token_minutes);
        form
    }
}

async fn create(
    state: web::Data<AppState>,
    user: SessionUser,
    client: ClientInfo,
    req: HttpRequest,
    slug: web::Path<String>,
    RawForm(body): RawForm,
) -> PageResult<HttpResponse> {
    user.principal.require(Permission::ProjectsManage)?;
    let input = PublisherInput::parse(&body);
    user.verify_csrf(&state, &input.csrf)?;
    let slug = slug.into_inner();
    match save(&state, &user, &client, &slug, &input).await {
        Ok(p) => Ok(see_other(&project_url(
            &slug,
            &format!("settings/publishers?notice=publisher_created#publisher-{}", p.id),
        ))),
        Err(e) => {
            let e = e.on_form()?;
            let form = input.refill(&server_url(&state, &req));
            let page = publishers_page(&state.db, &user, slug, None, Some(FormError::of(&e)), form).await?;
            html(HttpResponse::build(e.status()), &page)
        }
    }
}

/// The publisher `input` asks for, checked and added to project `slug`.
async fn save(
    state: &AppState,
    user: &SessionUser,
    client: &ClientInfo,
    slug: &str,
    input: &PublisherInput,
) -> AppResult<Publisher> {
    let new = input.draft()?.checked(state.config.public_url.as_deref())?;
    let (ctx, by, target) = (client.audit(user.principal.actor.clone()), user.principal.clone(), slug.to_string());
    Ok(state.db.write(move |tx| ops::create(tx, &ctx, &by, &target, new)).await?)
}

/// `/projects/{slug}/{rest}`, the slug escaped.
fn project_url(slug: &str, rest: &str) -> String {
    let slug: String = form_urlencoded::byte_serialize(slug.as_bytes()).collect();
    format!("/projects/{slug}/{rest}")
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    submitted.user.principal.require(Permission::ProjectsManage)?;
    let (slug, id) = path.into_inner();
    let (ctx, by, target) = (submitted.audit(), submitted.user.principal.clone(), slug.clone());
    state.db.write(move |tx| ops::delete(tx, &ctx, &by, &target, &id)).await?;
    Ok(see_other(&project_url(&slug, "settings/publishers?notice=publisher_deleted")))
}

/// Revokes a token a CI job exchanged, listed on the settings page.
async fn revoke_ci_token(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    submitted: Submitted<CsrfOnly>,
) -> PageResult<HttpResponse> {
    submitted.user.principal.require(Permission::ProjectsManage)?;
    let (slug, id) = path.into_inner();
    let (ctx, by, target) = (submitted.audit(), submitted.user.principal.clone(), slug.clone());
    let revoked = state.db.write(move |tx| -> AppResult<()> {
        let token = tokens::project_token(tx, &by, &target, &id, TokenKind::Oidc, Missing::Token)?;
        Ok(tokens::revoke(tx, &ctx, &token, "revoked")?)
    });
    revoked.await?;
    Ok(see_other(&project_url(&slug, "settings?notice=ci_token_revoked#trusted-publishers")))
}
