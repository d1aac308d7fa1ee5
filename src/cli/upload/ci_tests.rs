//! Unit tests of `ci.rs`: each CI's variables read into run metadata.

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
    let env =
        [("JENKINS_HOME", "/var/jenkins"), ("BRANCH_NAME", "PR-7"), ("GIT_BRANCH", "origin/x"), ("BUILD_NUMBER", "3")];
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
