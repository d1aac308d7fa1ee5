//! Who did something and to what: the vocabulary of the audit trail and of
//! every change that records itself there.

use serde::Serialize;

/// The kind of principal behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ServiceAccount,
    Token,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ServiceAccount => "service_account",
            ActorKind::Token => "token",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> ActorKind {
        match s {
            "user" => ActorKind::User,
            "service_account" => ActorKind::ServiceAccount,
            "token" => ActorKind::Token,
            _ => ActorKind::System,
        }
    }
}

/// `{"type", "id", "name"}` (+ `"preview"` for a token), as API.md shows actors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl Actor {
    pub fn system() -> Actor {
        Actor { kind: ActorKind::System, id: None, name: Some("proctor".into()), preview: None }
    }

    pub fn account(kind: ActorKind, id: &str, name: &str) -> Actor {
        Actor { kind, id: Some(id.to_string()), name: Some(name.to_string()), preview: None }
    }
}

/// What an action was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
}

impl Target {
    pub fn new(kind: &str, id: impl Into<String>, name: impl Into<String>) -> Target {
        Target { kind: kind.to_string(), id: id.into(), name: name.into() }
    }
}

/// The actor of a change and where the request came from.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: Actor,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl AuditContext {
    /// Changes made by the offline command line.
    pub fn cli() -> AuditContext {
        AuditContext {
            actor: Actor { kind: ActorKind::System, id: None, name: Some("proctor cli".into()), preview: None },
            ip: None,
            user_agent: None,
        }
    }
}
