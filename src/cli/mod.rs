//! The command line: clap definitions and dispatch to the server or to the
//! offline commands, which work on the same data directory while it runs.

mod admin;
mod backup;
mod run;
mod tokens;
mod upload;

pub use upload::UploadToken;

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Config, Overrides, Synchronous};

#[derive(Debug, Parser)]
#[command(name = "proctor", version, about = "Self-hosted test-results server")]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Two years: more than any test needs (token lifetimes, retention).
const MAX_CLOCK_OFFSET_SECONDS: i64 = 2 * 366 * 86_400;

/// Settings every subcommand shares.
#[derive(Debug, Default, Clone, Args)]
pub struct CommonArgs {
    /// Data directory holding proctor.db, secret.key and attachments [default: ./proctor-data]
    #[arg(long, env = "PROCTOR_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Settings file [default: ./proctor.toml when present]
    #[arg(long, env = "PROCTOR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// SQLite `synchronous` pragma [default: normal]
    #[arg(long, env = "PROCTOR_SYNCHRONOUS", global = true, value_enum)]
    pub synchronous: Option<Synchronous>,
    /// For tests: run as if the clock were this many seconds ahead (expiry,
    /// retention, idle sessions, unused tokens), at most two years. Hidden;
    /// never for production (see docs/security.md).
    #[arg(long, global = true, hide = true, default_value_t = 0,
          value_parser = clap::value_parser!(i64).range(0..=MAX_CLOCK_OFFSET_SECONDS))]
    pub clock_offset_seconds: i64,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (creates the data directory on first start)
    Serve(ServeArgs),
    /// Manage people offline
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage projects offline
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Create personal access tokens offline
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create project API keys offline
    #[command(subcommand)]
    Key(KeyCommand),
    /// Make a consistent copy of the database (and the instance secret beside it) while the server runs
    Backup(BackupArgs),
    /// Upload JUnit XML / CTRF JSON reports to a server as one run; prints the run's URL
    Upload(UploadArgs),
    /// Run a test command, upload the reports it wrote as one run, and exit
    /// with its status, or 0 when every failure is quarantined
    Run(RunArgs),
}

#[derive(Debug, Default, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "PROCTOR_BIND")]
    pub bind: Option<String>,
    /// Where users reach the server, e.g. https://ci.example.com (https:// turns on secure cookies)
    #[arg(long, env = "PROCTOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// PEM certificate chain: serve HTTPS directly
    #[arg(long, env = "PROCTOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, env = "PROCTOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest report accepted, after decompression [default: 104857600]
    #[arg(long, env = "PROCTOR_MAX_REPORT_BYTES")]
    pub max_report_bytes: Option<u64>,
    /// Default per-token rate limit [default: 1200]
    #[arg(long, env = "PROCTOR_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs)
    #[arg(long, env = "PROCTOR_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// Serve Prometheus metrics at /metrics to this bearer token (at least 16 characters) [default: off]
    #[arg(long, env = "PROCTOR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// PEM certificates to trust, beside the built-in roots, for OpenID Connect issuers' keys, webhooks and mail over TLS (a self-managed GitLab or mail server behind a company CA)
    #[arg(long, env = "PROCTOR_EXTRA_CA_FILE")]
    pub extra_ca_file: Option<PathBuf>,
    /// Where OpenID Connect issuers' keys may be fetched from: external, loopback, private, CIDRs, host globs, * (comma-separated) [default: external]
    #[arg(long, env = "PROCTOR_OIDC_ALLOW_HOSTS")]
    pub oidc_allow_hosts: Option<String>,
    /// Where webhooks may be delivered: external, loopback, private, CIDRs, host globs, * (comma-separated) [default: external]
    #[arg(long, env = "PROCTOR_WEBHOOK_ALLOW_HOSTS")]
    pub webhook_allow_hosts: Option<String>,
    /// Send mail (expiry warnings) through this server: smtp://host:25, smtp://host:587?tls=required (STARTTLS), smtps://user@host:465 [default: no mail]
    #[arg(long, env = "PROCTOR_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of Proctor's mail [default: proctor@ the SMTP server's host]
    #[arg(long, env = "PROCTOR_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Delete runs older than this many days [default: keep everything]
    #[arg(long, env = "PROCTOR_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    /// Delete analytics rollups (the per-test daily totals behind the flaky, slowest and errors pages) of days older than this; they outlive the runs they came from [default: 400]
    #[arg(long, env = "PROCTOR_ROLLUP_RETENTION_DAYS")]
    pub rollup_retention_days: Option<u32>,
    /// Mark a run `errored` when it is still running with no report for this many hours [default: 24]
    #[arg(long, env = "PROCTOR_STALE_RUN_HOURS")]
    pub stale_run_hours: Option<u32>,
    /// Log a session out after this many idle minutes [default: 720]
    #[arg(long, env = "PROCTOR_SESSION_IDLE_MINUTES")]
    pub session_idle_minutes: Option<u32>,
    /// Log a session out this many hours after login, active or not [default: 168]
    #[arg(long, env = "PROCTOR_SESSION_MAX_HOURS")]
    pub session_max_hours: Option<u32>,
    /// Answer 408 when a request body sends nothing for this many seconds [default: 30]
    #[arg(long, env = "PROCTOR_BODY_TIMEOUT_SECONDS")]
    pub body_timeout_seconds: Option<u64>,
    /// Memory for upload bodies being received at once, in MiB (1 each; more are answered 503) [default: 64]
    #[arg(long, env = "PROCTOR_INGEST_MEMORY_MIB")]
    pub ingest_memory_mib: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user (prints a generated password when none is given)
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "member")]
        role: String,
        /// Read the password from standard input instead of generating one
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create a service account (owns tokens, cannot log in)
    CreateServiceAccount {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Send a test mail through the SMTP server, to check the mail settings
    SendTestMail {
        /// The address to send it to
        #[arg(long)]
        to: String,
        /// The SMTP server, as for `serve` [default: the configuration's smtp_url]
        #[arg(long, env = "PROCTOR_SMTP_URL", hide_env_values = true)]
        smtp_url: Option<String>,
        /// The sender [default: the configuration's mail_from]
        #[arg(long, env = "PROCTOR_MAIL_FROM")]
        mail_from: Option<String>,
        /// PEM certificates to trust beside the built-in roots, as for `serve` [default: the configuration's extra_ca_file]
        #[arg(long, env = "PROCTOR_EXTRA_CA_FILE")]
        extra_ca_file: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "main")]
        default_branch: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token; prints only the secret on stdout
    Create {
        /// The owner: a user's email or a service account's name or id
        #[arg(long)]
        owner: String,
        #[arg(long)]
        name: String,
        /// Comma-separated, e.g. runs:read,runs:write
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        /// Restrict to these project slugs (comma-separated) [default: all projects]
        #[arg(long, value_delimiter = ',')]
        projects: Vec<String>,
        #[arg(long, conflicts_with = "no_expiry")]
        expires_in_days: Option<u32>,
        /// Never expire (only where the policy allows it)
        #[arg(long)]
        no_expiry: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a project API key; prints only the secret on stdout
    Create {
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        /// Comma-separated subset of projects:read,runs:read,runs:write,artifacts:write
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Destination file for the database copy; secret.key is copied beside it as FILE.key
    #[arg(long)]
    pub to: PathBuf,
}

/// Where a run goes and what it is: the flags `upload` and `run` share.
/// Flags win over the CI environment, field by field.
#[derive(Debug, Args)]
pub struct UploadTarget {
    /// The Proctor server, e.g. https://proctor.example.com
    #[arg(long, env = "PROCTOR_URL")]
    pub url: Option<String>,
    /// Access token with runs:write (a personal access token or a project API key)
    #[arg(long, env = "PROCTOR_TOKEN", hide_env_values = true)]
    pub token: Option<UploadToken>,
    /// The project's slug
    #[arg(long, env = "PROCTOR_PROJECT")]
    pub project: String,
    /// Commit SHA [default: from GitHub Actions, GitLab CI or Jenkins]
    #[arg(long)]
    pub commit: Option<String>,
    /// Branch [default: from the CI]
    #[arg(long)]
    pub branch: Option<String>,
    /// CI build id; shards with the same --build-id and --name share one run [default: from the CI]
    #[arg(long)]
    pub build_id: Option<String>,
    /// Link to the CI build [default: from the CI]
    #[arg(long)]
    pub build_url: Option<String>,
    /// Run name, e.g. the CI job [default: from the CI]
    #[arg(long)]
    pub name: Option<String>,
    /// First retry delay in milliseconds; it doubles for each of the 5 retries
    #[arg(long, env = "PROCTOR_UPLOAD_RETRY_BASE_MS", default_value_t = 500, hide = true)]
    pub retry_base_ms: u64,
    /// Append a Markdown summary of the run to FILE [default: $GITHUB_STEP_SUMMARY when set]
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

/// `proctor upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    #[command(flatten)]
    pub target: UploadTarget,
    /// Leave the run open for other CI jobs' shards; finish it later with --finalize-only
    #[arg(long, conflicts_with = "finalize_only")]
    pub no_finalize: bool,
    /// Upload nothing: finalize the run of --build-id and --name once every shard is in
    #[arg(long)]
    pub finalize_only: bool,
    /// Exit 1 when the finalized run failed (a failure no quarantine rule
    /// covers) or errored (no test results): for pipelines whose test step
    /// is separate
    #[arg(long, conflicts_with = "no_finalize")]
    pub fail_on_failures: bool,
    /// Report files or glob patterns (quote globs: 'reports/**/*.xml'); .xml is JUnit, .json is CTRF
    #[arg(value_name = "FILE", required_unless_present = "finalize_only", conflicts_with = "finalize_only")]
    pub files: Vec<String>,
}

/// `proctor run`: one invocation is one whole run (created, filled,
/// finalized), so `upload`'s shard flags have no place here, and the exit
/// status follows the contract's rule instead of `--fail-on-failures`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: UploadTarget,
    /// A report file or glob the command writes (repeat for more; quote globs: 'reports/**/*.xml').
    /// Only files modified since the command started are uploaded
    #[arg(long = "report", value_name = "GLOB", required = true)]
    pub reports: Vec<String>,
    /// The test command and its arguments, after `--`
    #[arg(value_name = "COMMAND", last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Errors of the command line: printed as one line, exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    App(#[from] crate::error::AppError),
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A refusal or a storage failure reads as the API would say it.
impl From<crate::ops::OpsError> for CliError {
    fn from(err: crate::ops::OpsError) -> Self {
        CliError::App(err.into())
    }
}

impl From<crate::db::DbError> for CliError {
    fn from(err: crate::db::DbError) -> Self {
        CliError::App(err.into())
    }
}

impl Cli {
    /// Parses the process's arguments (see [`Cli::command_line`]).
    pub fn parse_args() -> Self {
        let matches = Self::command_line().get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The command line. The data-directory settings are global so that they
    /// may come before or after any subcommand; `upload` and `run` talk to a
    /// server over HTTP and have no use for them, so they get hidden
    /// stand-ins of their own (clap adds a global only where its id is free)
    /// and their help leaves them out.
    pub fn command_line() -> clap::Command {
        ["upload", "run"].into_iter().fold(Self::command(), |cli, client| {
            cli.mut_subcommand(client, |sub| {
                [("data_dir", "data-dir"), ("config", "config"), ("synchronous", "synchronous")]
                    .into_iter()
                    .fold(sub, |sub, (id, flag)| sub.arg(clap::Arg::new(id).long(flag).hide(true).num_args(1)))
            })
        })
    }
}

impl CommonArgs {
    /// What the command line and environment set, for `config` to resolve;
    /// `serve`'s own settings only for `serve`.
    fn overrides(&self, serve: Option<&ServeArgs>) -> Overrides {
        let common = Overrides {
            config: self.config.clone(),
            data_dir: self.data_dir.clone(),
            synchronous: self.synchronous,
            ..Default::default()
        };
        let Some(serve) = serve else { return common };
        Overrides {
            bind: serve.bind.clone(),
            public_url: serve.public_url.clone(),
            tls_cert: serve.tls_cert.clone(),
            tls_key: serve.tls_key.clone(),
            max_report_bytes: serve.max_report_bytes,
            rate_limit_per_minute: serve.rate_limit_per_minute,
            trusted_proxies: serve.trusted_proxies.clone(),
            retention_days: serve.retention_days,
            rollup_retention_days: serve.rollup_retention_days,
            stale_run_hours: serve.stale_run_hours,
            session_idle_minutes: serve.session_idle_minutes,
            session_max_hours: serve.session_max_hours,
            body_timeout_seconds: serve.body_timeout_seconds,
            ingest_memory_mib: serve.ingest_memory_mib,
            metrics_token: serve.metrics_token.clone(),
            extra_ca_file: serve.extra_ca_file.clone(),
            oidc_allow_hosts: serve.oidc_allow_hosts.clone(),
            webhook_allow_hosts: serve.webhook_allow_hosts.clone(),
            smtp_url: serve.smtp_url.clone(),
            mail_from: serve.mail_from.clone(),
            ..common
        }
    }

    fn config(&self) -> Result<Config, CliError> {
        Ok(Config::resolve(&self.overrides(None))?)
    }
}

/// Runs the command; the status to exit with (only `run` chooses one of its
/// own: the test command's, see `run.rs`), or an error to print.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    if cli.common.clock_offset_seconds != 0 {
        crate::domain::time::move_clock(cli.common.clock_offset_seconds);
        log::warn!("the clock runs {} seconds ahead (--clock-offset-seconds)", cli.common.clock_offset_seconds);
    }
    let done = match cli.command {
        Command::Serve(args) => {
            let config = Config::resolve(&cli.common.overrides(Some(&args)))?;
            crate::app::serve_blocking(config).map_err(CliError::Io)
        }
        Command::Admin(cmd) => admin::run_admin(&cli.common.config()?, cmd),
        Command::Project(cmd) => admin::run_project(&cli.common.config()?, cmd),
        Command::Token(cmd) => tokens::run_token(&cli.common.config()?, cmd),
        Command::Key(cmd) => tokens::run_key(&cli.common.config()?, cmd),
        Command::Backup(args) => backup::run(&cli.common.config()?, &args.to),
        Command::Upload(args) => upload::run(args),
        Command::Run(args) => return run::run(args),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// Reads one line (a password) from standard input, without the newline.
fn read_stdin_line() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password: ");
    }
    let mut line = String::new();
    stdin.read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::from_arg_matches(&Cli::command_line().try_get_matches_from(args).unwrap()).unwrap()
    }

    fn help(subcommand: &str) -> String {
        let mut command = Cli::command_line();
        command.build(); // propagates the globals, as parsing does
        command.find_subcommand_mut(subcommand).unwrap().render_long_help().to_string()
    }

    #[test]
    fn the_data_directory_may_come_before_or_after_the_subcommand() {
        let create = ["project", "create", "--slug", "web", "--name", "Web"];
        let before = parse(&[&["proctor", "--data-dir", "/d"], &create[..]].concat());
        let after = parse(&[&["proctor"], &create[..], &["--data-dir", "/d"]].concat());
        for cli in [before, after] {
            assert_eq!(cli.common.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        }
    }

    #[test]
    fn only_the_commands_that_open_the_data_directory_offer_its_settings() {
        for subcommand in ["serve", "backup"] {
            let help = help(subcommand);
            assert!(help.contains("--data-dir") && help.contains("--synchronous"), "{subcommand}: {help}");
        }
        for client in ["upload", "run"] {
            let help = help(client);
            assert!(help.contains("--url") && help.contains("--token"), "{help}");
            for flag in ["--data-dir", "--config", "--synchronous"] {
                assert!(!help.contains(flag), "{client} offers {flag}: {help}");
            }
        }
    }

    #[test]
    fn run_takes_the_upload_flags_reports_and_the_command_after_two_dashes() {
        let cli = parse(&[
            "proctor",
            "run",
            "--url",
            "http://p",
            "--project",
            "web",
            "--name",
            "unit",
            "--report",
            "a/*.xml",
            "--report",
            "b.json",
            "--",
            "sh",
            "-c",
            "exit 3",
            "--report",
        ]);
        let Command::Run(args) = cli.command else { panic!("not run") };
        assert_eq!((args.target.project.as_str(), args.target.name.as_deref()), ("web", Some("unit")));
        assert_eq!(args.reports, ["a/*.xml", "b.json"]);
        assert_eq!(args.command, ["sh", "-c", "exit 3", "--report"], "everything after -- is the command's");
        let refused = |args: &[&str]| Cli::command_line().try_get_matches_from(args).is_err();
        assert!(refused(&["proctor", "run", "--project", "web", "--", "make", "test"]), "no --report");
        assert!(refused(&["proctor", "run", "--project", "web", "--report", "r.xml"]), "no command");
        assert!(refused(&["proctor", "run", "--project", "web", "--report", "r.xml", "make"]), "no --");
        assert!(refused(&["proctor", "run", "--project", "w", "--report", "r", "--no-finalize", "--", "x"]));
    }
}
