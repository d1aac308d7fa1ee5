//! `GET /api/v1/whoami`: the presented token and whom it belongs to.

use actix_web::{get, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::auth::api::ApiCaller;
use crate::db::accounts::Account;
use crate::db::projects::Project;
use crate::domain::time::rfc3339_unix;
use crate::domain::token::TokenKind;
use crate::error::AppError;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(whoami);
}

/// The presented token, as `whoami` shows it.
#[derive(Serialize, ToSchema)]
struct PresentedToken {
    id: String,
    kind: TokenKind,
    name: String,
    preview: String,
    /// What the token may do now (a PAT's are also bounded by its owner's role).
    permissions: Vec<&'static str>,
    projects: Option<Vec<String>>,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct WhoAmI {
    token: PresentedToken,
    /// The owner of a personal access token: a user, or a service account (without an email).
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Account>,
    /// The project of a project API key.
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<Project>,
}

/// Who am I
///
/// The presented token, and the user, service account or project it belongs to.
#[utoipa::path(tag = "identity", operation_id = "whoami", responses((status = 200, description = "The token and its owner.", body = WhoAmI)))]
#[get("/whoami")]
async fn whoami(caller: ApiCaller) -> Result<HttpResponse, AppError> {
    let t = &caller.auth.token;
    // Answered from the token check's cache: the owner or project was read with the token.
    Ok(HttpResponse::Ok().json(WhoAmI {
        token: PresentedToken {
            id: t.id.clone(),
            kind: t.kind,
            name: t.name.clone(),
            preview: t.preview.clone(),
            permissions: caller.principal.permissions.names(),
            projects: t.project_slugs(),
            expires_at: t.expires_at.map(rfc3339_unix),
        },
        user: caller.auth.owner.clone(),
        project: caller.auth.project.clone(),
    }))
}
