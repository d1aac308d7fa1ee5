//! A run's metadata as a client sends it: a JSON body when a run is
//! created, query parameters on the one-call `/results`; trimmed, bounded,
//! and with any token pasted into it cut out.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::invalid;
use crate::db::runs::RunMeta;
use crate::domain::names::parse_branch;
use crate::domain::secrets::{redact_json, redact_owned};
use crate::error::AppError;

/// A run's metadata, as `POST …/runs` takes it; every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(as = NewRun)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"commit": "9f2c1e0", "branch": "main", "build_id": "4711", "name": "unit", "tags": {"os": "linux"}}))]
pub struct MetaBody {
    /// At most 100 characters.
    #[schema(max_length = 100)]
    commit: Option<String>,
    #[schema(max_length = 255)]
    branch: Option<String>,
    /// CI's build id: shards with the same `build_id` and `name` join one run.
    #[schema(max_length = 200)]
    build_id: Option<String>,
    #[schema(max_length = 2000)]
    build_url: Option<String>,
    #[schema(max_length = 200)]
    name: Option<String>,
    /// At most 50 string values.
    #[serde(default)]
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    tags: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A run's metadata as `POST …/results` takes it, in the query string.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetaQuery {
    #[param(max_length = 100)]
    commit: Option<String>,
    #[param(max_length = 255)]
    branch: Option<String>,
    #[param(max_length = 200)]
    build_id: Option<String>,
    #[param(max_length = 2000)]
    build_url: Option<String>,
    #[param(max_length = 200)]
    name: Option<String>,
}

impl From<MetaQuery> for MetaBody {
    fn from(q: MetaQuery) -> MetaBody {
        MetaBody {
            commit: q.commit,
            branch: q.branch,
            build_id: q.build_id,
            build_url: q.build_url,
            name: q.name,
            tags: None,
        }
    }
}

/// A trimmed free-text field of at most `max` characters; a token pasted
/// into it is cut out (CI sends these, and a run must not fail for it).
pub fn short(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    match value.map(|v| redact_owned(v.trim().to_string())).filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
            Err(AppError::validation(format!("{field} must be at most {max} characters without control characters.")))
        }
        other => Ok(other),
    }
}

impl MetaBody {
    pub fn into_meta(self) -> Result<RunMeta, AppError> {
        let tags = self.tags.unwrap_or_default();
        if tags.len() > 50 || tags.values().any(|v| !v.is_string()) {
            return Err(AppError::validation("tags must be an object of at most 50 string values."));
        }
        let mut tags = serde_json::Value::Object(tags);
        redact_json(&mut tags);
        Ok(RunMeta {
            commit: short("commit", self.commit, 100)?,
            branch: self.branch.as_deref().map(parse_branch).transpose().map_err(invalid)?.map(redact_owned),
            build_id: short("build_id", self.build_id, 200)?,
            build_url: short("build_url", self.build_url, 2000)?,
            name: short("name", self.name, 200)?.unwrap_or_default(),
            tags,
        })
    }
}
