//! Run metadata (commit, branch, build id and URL, name) read from the CI
//! environment when `proctor upload` is not given them as flags. Pure: the
//! environment comes in as a function, so every CI is unit-tested here.

use serde::Serialize;

/// What identifies a run; `build_id` + `name` is what lets shards share it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Metadata {
    /// Field by field: `self` where set, else `fallback` (flags over the CI).
    pub fn or(self, fallback: Metadata) -> Metadata {
        Metadata {
            commit: self.commit.or(fallback.commit),
            branch: self.branch.or(fallback.branch),
            build_id: self.build_id.or(fallback.build_id),
            build_url: self.build_url.or(fallback.build_url),
            name: self.name.or(fallback.name),
        }
    }

    /// Drops empty values, so `--branch ""` means "not given".
    pub fn non_empty(self) -> Metadata {
        let keep = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Metadata {
            commit: keep(self.commit),
            branch: keep(self.branch),
            build_id: keep(self.build_id),
            build_url: keep(self.build_url),
            name: keep(self.name),
        }
    }
}

/// Detects the CI from `env` and reads the run's metadata from it: GitHub
/// Actions (and Forgejo or Gitea Actions, which set the same variables),
/// GitLab CI, Woodpecker, Azure Pipelines, CircleCI, Buildkite, Jenkins, in
/// that order; empty when none is detected.
pub fn ci_metadata(env: &impl Fn(&str) -> Option<String>) -> Metadata {
    // CI systems often export a variable as the empty string (GitHub's
    // GITHUB_HEAD_REF outside pull requests): that means "absent".
    let var = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let any = |names: &[&str]| names.iter().any(|n| var(n).is_some());
    if any(&["GITHUB_ACTIONS", "GITHUB_RUN_ID"]) {
        github(&var)
    } else if any(&["GITLAB_CI", "CI_PIPELINE_ID"]) {
        gitlab(&var)
    } else if var("CI").as_deref() == Some("woodpecker") || any(&["CI_PIPELINE_NUMBER"]) {
        woodpecker(&var)
    } else if any(&["TF_BUILD"]) {
        azure(&var)
    } else if any(&["CIRCLECI"]) {
        circleci(&var)
    } else if any(&["BUILDKITE"]) {
        buildkite(&var)
    } else if any(&["JENKINS_URL", "JENKINS_HOME", "BUILD_TAG"]) {
        jenkins(&var)
    } else {
        Metadata::default()
    }
}

fn github(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    let run_id = var("GITHUB_RUN_ID");
    // A re-run is a new attempt of the same run id: a run of its own.
    let build_id = run_id.as_ref().map(|id| match var("GITHUB_RUN_ATTEMPT") {
        Some(attempt) => format!("{id}-{attempt}"),
        None => id.clone(),
    });
    let build_url = match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), &run_id) {
        (Some(server), Some(repo), Some(id)) => {
            Some(format!("{}/{repo}/actions/runs/{id}", server.trim_end_matches('/')))
        }
        _ => None,
    };
    // Matrix legs of one job share GITHUB_JOB, so they share one run.
    let name = match (var("GITHUB_WORKFLOW"), var("GITHUB_JOB")) {
        (Some(workflow), Some(job)) => Some(format!("{workflow}/{job}")),
        (workflow, job) => workflow.or(job),
    };
    Metadata {
        commit: var("GITHUB_SHA"),
        branch: var("GITHUB_HEAD_REF").or_else(|| var("GITHUB_REF_NAME")),
        build_id,
        build_url,
        name,
    }
}

fn gitlab(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    Metadata {
        commit: var("CI_COMMIT_SHA"),
        branch: var("CI_COMMIT_REF_NAME"),
        build_id: var("CI_PIPELINE_ID"),
        build_url: var("CI_PIPELINE_URL"),
        name: var("CI_JOB_NAME").map(|n| strip_parallel_index(&n).to_string()),
    }
}

fn woodpecker(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    Metadata {
        commit: var("CI_COMMIT_SHA"),
        branch: var("CI_COMMIT_SOURCE_BRANCH").or_else(|| var("CI_COMMIT_BRANCH")),
        build_id: var("CI_PIPELINE_NUMBER"),
        build_url: var("CI_PIPELINE_URL"),
        name: var("CI_WORKFLOW_NAME").or_else(|| var("CI_STEP_NAME")),
    }
}

fn azure(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    // A pull request builds a merge commit on refs/pull/…: name its source branch.
    let branch = var("SYSTEM_PULLREQUEST_SOURCEBRANCH")
        .or_else(|| var("BUILD_SOURCEBRANCH"))
        .map(|b| b.strip_prefix("refs/heads/").map(str::to_string).unwrap_or(b));
    let build_id = var("BUILD_BUILDID");
    let build_url = match (var("SYSTEM_COLLECTIONURI"), var("SYSTEM_TEAMPROJECT"), &build_id) {
        (Some(collection), Some(project), Some(id)) => {
            Some(format!("{}/{project}/_build/results?buildId={id}", collection.trim_end_matches('/')))
        }
        _ => None,
    };
    Metadata {
        commit: var("BUILD_SOURCEVERSION"),
        branch,
        build_id,
        build_url,
        // The slices of a parallel job share its phase (job) name.
        name: var("SYSTEM_PHASEDISPLAYNAME").or_else(|| var("SYSTEM_JOBDISPLAYNAME")),
    }
}

fn circleci(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    Metadata {
        commit: var("CIRCLE_SHA1"),
        branch: var("CIRCLE_BRANCH"),
        // Parallel nodes of a job share the workflow and the job name.
        build_id: var("CIRCLE_WORKFLOW_ID"),
        build_url: var("CIRCLE_BUILD_URL"),
        name: var("CIRCLE_JOB"),
    }
}

fn buildkite(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    Metadata {
        commit: var("BUILDKITE_COMMIT"),
        branch: var("BUILDKITE_BRANCH"),
        build_id: var("BUILDKITE_BUILD_ID"),
        build_url: var("BUILDKITE_BUILD_URL"),
        // Parallel jobs of a step share its key (or label).
        name: var("BUILDKITE_STEP_KEY").or_else(|| var("BUILDKITE_LABEL")),
    }
}

fn jenkins(var: &impl Fn(&str) -> Option<String>) -> Metadata {
    // Multibranch pipelines set BRANCH_NAME ("main"); the git plugin's
    // GIT_BRANCH names the remote too ("origin/main").
    let branch = var("BRANCH_NAME")
        .or_else(|| var("GIT_BRANCH").map(|b| b.strip_prefix("origin/").map(str::to_string).unwrap_or(b)));
    Metadata {
        commit: var("GIT_COMMIT"),
        branch,
        build_id: var("BUILD_TAG").or_else(|| var("BUILD_NUMBER")),
        build_url: var("BUILD_URL"),
        name: var("JOB_NAME"),
    }
}

/// GitLab names the jobs of `parallel: N` "test 1/3", "test 2/3", …: the
/// shards of one job, which belong in one run named "test".
fn strip_parallel_index(name: &str) -> &str {
    if let Some((head, index)) = name.rsplit_once(' ') {
        if let Some((i, n)) = index.split_once('/') {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if digits(i) && digits(n) && !head.trim().is_empty() {
                return head.trim_end();
            }
        }
    }
    name
}

#[cfg(test)]
#[path = "ci_tests.rs"]
mod tests;
