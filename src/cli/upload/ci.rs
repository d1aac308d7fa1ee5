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
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn no_ci_means_no_metadata() {
        assert_eq!(ci_metadata(&env_of(&[("HOME", "/root"), ("CI", "true")])), Metadata::default());
    }

    #[test]
    fn github_actions_push() {
        let env = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_HEAD_REF", ""),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_RUN_ID", "9876"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/web"),
            ("GITHUB_WORKFLOW", "CI"),
            ("GITHUB_JOB", "test"),
        ];
        assert_eq!(
            ci_metadata(&env_of(&env)),
            Metadata {
                commit: some("abc123"),
                branch: some("main"),
                build_id: some("9876-2"),
                build_url: some("https://github.com/acme/web/actions/runs/9876"),
                name: some("CI/test"),
            }
        );
    }

    #[test]
    fn github_actions_pull_request_uses_the_head_branch() {
        let env = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_HEAD_REF", "feature/login"),
            ("GITHUB_REF_NAME", "42/merge"),
            ("GITHUB_RUN_ID", "1"),
            ("GITHUB_JOB", "unit"),
        ];
        let meta = ci_metadata(&env_of(&env));
        assert_eq!(meta.branch, some("feature/login"));
        assert_eq!(meta.build_id, some("1"), "no attempt: the run id alone");
        assert_eq!(meta.build_url, None, "no server URL or repository");
        assert_eq!(meta.name, some("unit"));
    }

    #[test]
    fn gitlab_ci() {
        let env = [
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_SHA", "def456"),
            ("CI_COMMIT_REF_NAME", "release-1.2"),
            ("CI_PIPELINE_ID", "555"),
            ("CI_PIPELINE_URL", "https://gitlab.example.com/acme/web/-/pipelines/555"),
            ("CI_JOB_NAME", "rspec 2/4"),
        ];
        assert_eq!(
            ci_metadata(&env_of(&env)),
            Metadata {
                commit: some("def456"),
                branch: some("release-1.2"),
                build_id: some("555"),
                build_url: some("https://gitlab.example.com/acme/web/-/pipelines/555"),
                name: some("rspec"),
            }
        );
    }

    #[test]
    fn gitlab_job_names_keep_anything_but_a_parallel_index() {
        assert_eq!(strip_parallel_index("rspec 2/4"), "rspec");
        assert_eq!(strip_parallel_index("unit tests 10/12"), "unit tests");
        assert_eq!(strip_parallel_index("rspec"), "rspec");
        assert_eq!(strip_parallel_index("build a/b"), "build a/b");
        assert_eq!(strip_parallel_index("1/2"), "1/2");
        assert_eq!(strip_parallel_index("test: [linux, 3.12]"), "test: [linux, 3.12]");
    }

    #[test]
    fn jenkins_with_the_git_plugin() {
        let env = [
            ("JENKINS_URL", "https://jenkins.example.com/"),
            ("GIT_COMMIT", "0a1b2c"),
            ("GIT_BRANCH", "origin/main"),
            ("BUILD_TAG", "jenkins-web-17"),
            ("BUILD_NUMBER", "17"),
            ("BUILD_URL", "https://jenkins.example.com/job/web/17/"),
            ("JOB_NAME", "web"),
        ];
        assert_eq!(
            ci_metadata(&env_of(&env)),
            Metadata {
                commit: some("0a1b2c"),
                branch: some("main"),
                build_id: some("jenkins-web-17"),
                build_url: some("https://jenkins.example.com/job/web/17/"),
                name: some("web"),
            }
        );
    }

    #[test]
    fn jenkins_multibranch_prefers_branch_name_and_falls_back_to_the_build_number() {
        let env = [
            ("JENKINS_HOME", "/var/jenkins"),
            ("BRANCH_NAME", "PR-7"),
            ("GIT_BRANCH", "origin/x"),
            ("BUILD_NUMBER", "3"),
        ];
        let meta = ci_metadata(&env_of(&env));
        assert_eq!(meta.branch, some("PR-7"));
        assert_eq!(meta.build_id, some("3"));
    }

    #[test]
    fn flags_win_field_by_field() {
        let flags = Metadata { branch: some("mine"), name: some(""), ..Metadata::default() }.non_empty();
        let ci = Metadata { commit: some("abc"), branch: some("ci"), name: some("job"), ..Metadata::default() };
        let merged = flags.or(ci);
        assert_eq!(merged.commit, some("abc"));
        assert_eq!(merged.branch, some("mine"));
        assert_eq!(merged.name, some("job"), "an empty flag is no flag");
        assert_eq!(
            serde_json::to_value(&merged).unwrap(),
            serde_json::json!({"commit": "abc", "branch": "mine", "name": "job"})
        );
    }

    #[test]
    fn forgejo_actions_reads_as_github() {
        let m = ci_metadata(&env_of(&[
            ("FORGEJO_ACTIONS", "true"),
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_RUN_ID", "12"),
            ("GITHUB_SHA", "abc"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_SERVER_URL", "https://code.example.com"),
            ("GITHUB_REPOSITORY", "acme/web"),
            ("GITHUB_WORKFLOW", "ci"),
            ("GITHUB_JOB", "test"),
        ]));
        assert_eq!(m.build_url, some("https://code.example.com/acme/web/actions/runs/12"));
        assert_eq!((m.commit, m.branch, m.name), (some("abc"), some("main"), some("ci/test")));
    }

    #[test]
    fn woodpecker() {
        let m = ci_metadata(&env_of(&[
            ("CI", "woodpecker"),
            ("CI_COMMIT_SHA", "abc"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_PIPELINE_NUMBER", "41"),
            ("CI_PIPELINE_URL", "https://ci.example.com/repos/3/pipeline/41"),
            ("CI_WORKFLOW_NAME", "test"),
            ("CI_STEP_NAME", "unit"),
        ]));
        let expected = Metadata {
            commit: some("abc"),
            branch: some("main"),
            build_id: some("41"),
            build_url: some("https://ci.example.com/repos/3/pipeline/41"),
            name: some("test"),
        };
        assert_eq!(m, expected);
        let pr = ci_metadata(&env_of(&[
            ("CI", "woodpecker"),
            ("CI_COMMIT_SOURCE_BRANCH", "feature"),
            ("CI_COMMIT_BRANCH", "main"),
        ]));
        assert_eq!(pr.branch, some("feature"), "a pull request's own branch");
    }

    #[test]
    fn azure_pipelines() {
        let m = ci_metadata(&env_of(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEVERSION", "abc"),
            ("BUILD_SOURCEBRANCH", "refs/heads/main"),
            ("BUILD_BUILDID", "977"),
            ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/acme/"),
            ("SYSTEM_TEAMPROJECT", "web"),
            ("SYSTEM_PHASEDISPLAYNAME", "Test"),
            ("SYSTEM_JOBDISPLAYNAME", "Test 1 of 3"),
        ]));
        let expected = Metadata {
            commit: some("abc"),
            branch: some("main"),
            build_id: some("977"),
            build_url: some("https://dev.azure.com/acme/web/_build/results?buildId=977"),
            name: some("Test"),
        };
        assert_eq!(m, expected);
        let pr = ci_metadata(&env_of(&[
            ("TF_BUILD", "True"),
            ("BUILD_SOURCEBRANCH", "refs/pull/7/merge"),
            ("SYSTEM_PULLREQUEST_SOURCEBRANCH", "refs/heads/feature"),
        ]));
        assert_eq!(pr.branch, some("feature"));
    }

    #[test]
    fn circleci() {
        let m = ci_metadata(&env_of(&[
            ("CIRCLECI", "true"),
            ("CIRCLE_SHA1", "abc"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_WORKFLOW_ID", "5f0c-wf"),
            ("CIRCLE_BUILD_URL", "https://circleci.com/gh/acme/web/123"),
            ("CIRCLE_JOB", "test"),
            ("CIRCLE_NODE_INDEX", "2"),
        ]));
        let expected = Metadata {
            commit: some("abc"),
            branch: some("main"),
            build_id: some("5f0c-wf"),
            build_url: some("https://circleci.com/gh/acme/web/123"),
            name: some("test"),
        };
        assert_eq!(m, expected);
    }

    #[test]
    fn buildkite() {
        let m = ci_metadata(&env_of(&[
            ("BUILDKITE", "true"),
            ("BUILDKITE_COMMIT", "abc"),
            ("BUILDKITE_BRANCH", "main"),
            ("BUILDKITE_BUILD_ID", "0190-build"),
            ("BUILDKITE_BUILD_URL", "https://buildkite.com/acme/web/builds/88"),
            ("BUILDKITE_LABEL", ":rspec: tests %n"),
            ("BUILDKITE_STEP_KEY", "tests"),
        ]));
        let expected = Metadata {
            commit: some("abc"),
            branch: some("main"),
            build_id: some("0190-build"),
            build_url: some("https://buildkite.com/acme/web/builds/88"),
            name: some("tests"),
        };
        assert_eq!(m, expected);
    }
}
