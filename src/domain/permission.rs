//! Permissions, permission sets and the built-in roles (API.md section 1).

use std::fmt;
use std::str::FromStr;

/// One thing a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ProjectsRead,
    ProjectsManage,
    RunsRead,
    RunsWrite,
    ArtifactsWrite,
    TokensCreate,
    TokensAdmin,
    UsersAdmin,
    AuditRead,
    TestsManage,
}

/// In the API's description: one of the permission names.
impl utoipa::PartialSchema for Permission {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .enum_values(Some(Permission::ALL.map(Permission::as_str)))
            .into()
    }
}

impl utoipa::ToSchema for Permission {}

impl Permission {
    pub const ALL: [Permission; 10] = [
        Permission::ProjectsRead,
        Permission::ProjectsManage,
        Permission::RunsRead,
        Permission::RunsWrite,
        Permission::ArtifactsWrite,
        Permission::TokensCreate,
        Permission::TokensAdmin,
        Permission::UsersAdmin,
        Permission::AuditRead,
        Permission::TestsManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ProjectsRead => "projects:read",
            Permission::ProjectsManage => "projects:manage",
            Permission::RunsRead => "runs:read",
            Permission::RunsWrite => "runs:write",
            Permission::ArtifactsWrite => "artifacts:write",
            Permission::TokensCreate => "tokens:create",
            Permission::TokensAdmin => "tokens:admin",
            Permission::UsersAdmin => "users:admin",
            Permission::AuditRead => "audit:read",
            Permission::TestsManage => "tests:manage",
        }
    }

    /// What the permission allows, for forms and docs.
    pub fn description(self) -> &'static str {
        match self {
            Permission::ProjectsRead => "list and see projects",
            Permission::ProjectsManage => "create, edit, delete projects; manage project API keys",
            Permission::RunsRead => "read runs, test results, attachments, analytics",
            Permission::RunsWrite => "upload results: create runs, upload reports, finalize",
            Permission::ArtifactsWrite => "upload and delete attachments of runs",
            Permission::TokensCreate => "create, rotate and revoke one's own access tokens",
            Permission::TokensAdmin => "see every token, revoke anyone's, set the expiration policy",
            Permission::UsersAdmin => "manage users, service accounts and roles",
            Permission::AuditRead => "read the audit log",
            Permission::TestsManage => "quarantine flaky tests, release them, mark them fixed",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPermission(s.to_string()))
    }
}

/// A set of permissions, stored as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PermissionSet(u16);

impl PermissionSet {
    pub const EMPTY: PermissionSet = PermissionSet(0);

    pub fn all() -> PermissionSet {
        Permission::ALL.into_iter().collect()
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= p.bit();
    }

    pub fn is_subset(self, of: PermissionSet) -> bool {
        self.0 & !of.0 == 0
    }

    pub fn intersection(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// The first permission of `self` that `of` lacks.
    pub fn first_missing(self, of: PermissionSet) -> Option<Permission> {
        self.iter().find(|p| !of.contains(*p))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// Parses names; duplicates are fine, unknown names are an error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<PermissionSet, UnknownPermission> {
        names.into_iter().map(str::parse::<Permission>).collect()
    }

    /// Space-separated names, as stored in the database.
    pub fn to_storage(self) -> String {
        self.names().join(" ")
    }

    pub fn from_storage(s: &str) -> Result<PermissionSet, UnknownPermission> {
        PermissionSet::parse(s.split_whitespace())
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

/// Built-in roles: they exist on every instance and cannot be changed.
pub const BUILTIN_ROLES: [&str; 3] = ["admin", "member", "viewer"];

/// The permissions of a built-in role, `None` for any other name.
pub fn builtin_role(name: &str) -> Option<PermissionSet> {
    use Permission::*;
    match name {
        "admin" => Some(PermissionSet::all()),
        "member" => {
            Some([ProjectsRead, RunsRead, RunsWrite, ArtifactsWrite, TokensCreate, TestsManage].into_iter().collect())
        }
        "viewer" => Some([ProjectsRead, RunsRead, TokensCreate].into_iter().collect()),
        _ => None,
    }
}

/// Permissions a project API key may hold.
pub fn key_permissions() -> PermissionSet {
    use Permission::*;
    [ProjectsRead, RunsRead, RunsWrite, ArtifactsWrite].into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), p);
        }
        assert!("runs:delete".parse::<Permission>().is_err());
    }

    #[test]
    fn builtin_roles_match_the_contract() {
        assert_eq!(builtin_role("admin").unwrap(), PermissionSet::all());
        assert_eq!(
            builtin_role("member").unwrap().names(),
            ["projects:read", "runs:read", "runs:write", "artifacts:write", "tokens:create", "tests:manage"]
        );
        assert_eq!(builtin_role("viewer").unwrap().names(), ["projects:read", "runs:read", "tokens:create"]);
        assert_eq!(builtin_role("owner"), None);
    }

    #[test]
    fn set_algebra() {
        let member = builtin_role("member").unwrap();
        let viewer = builtin_role("viewer").unwrap();
        assert!(viewer.is_subset(member));
        assert!(!member.is_subset(viewer));
        assert_eq!(member.first_missing(viewer), Some(Permission::RunsWrite));
        assert_eq!(member.intersection(viewer), viewer);
        let stored = member.to_storage();
        assert_eq!(PermissionSet::from_storage(&stored).unwrap(), member);
        assert!(PermissionSet::parse(["runs:read", "nope"]).is_err());
    }
}
