//! The test command as `proctor run` runs it: with proctor's own stdin,
//! stdout and stderr, SIGINT and SIGTERM passed on to it, and its status
//! read as a shell reads it.

use std::ffi::{OsStr, OsString};
use std::io::{self, IsTerminal};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};

use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::CliError;

/// How the command ended, or why it never began.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Its exit code, or 128 + the number of the signal that killed it.
    Status(u8),
    /// It could not be started: 127 when there is no such program, 126
    /// when it cannot be executed, as a shell says.
    NotStarted { status: u8, why: String },
}

/// Runs `command` to its end, passing SIGINT and SIGTERM on. Afterwards
/// (while proctor uploads) either signal ends proctor at once with the
/// command's status, so a cancelled CI job never waits for retries.
pub fn run(command: &[OsString]) -> Result<Ended, CliError> {
    let (program, args) = command.split_first().ok_or_else(|| CliError::Message("no command to run".into()))?;
    // Registered before the spawn, so that no SIGCHLD can go unseen.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGCHLD])
        .map_err(|e| CliError::Message(format!("cannot watch for SIGINT and SIGTERM: {e}")))?;
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => return Ok(not_started(program, &err)),
    };
    let status = wait_forwarding(&mut child, &mut signals)
        .map_err(|e| CliError::Message(format!("cannot wait for the command: {e}")))?;
    let status = shell_status(status);
    exit_on_signal(signals, status);
    Ok(Ended::Status(status))
}

/// Waits for the child, passing SIGTERM (and SIGINT, see below) on to it.
/// Only this loop reaps the child, and only between signals, so a signal is
/// never sent to a process that took over a reaped child's pid.
fn wait_forwarding(child: &mut Child, signals: &mut Signals) -> io::Result<ExitStatus> {
    // Ctrl-C at a terminal already interrupts the whole foreground process
    // group, the command included: passing it on would interrupt the
    // command twice (many test runners stop cleaning up at the second).
    // Off a terminal (CI), a SIGINT was sent to proctor alone.
    let forward_sigint = !io::stdin().is_terminal();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        for signal in signals.wait() {
            if signal == SIGTERM || (signal == SIGINT && forward_sigint) {
                forward(child, signal);
            }
        }
    }
}

/// Sends `signal` to the child, which has not been reaped.
fn forward(child: &Child, signal: i32) {
    eprintln!("proctor run: passing {} on to the command", name(signal));
    let Ok(pid) = libc::pid_t::try_from(child.id()) else { return };
    // SAFETY: kill(2) takes no pointers; `pid` is our own unreaped child.
    if unsafe { libc::kill(pid, signal) } != 0 {
        eprintln!("warning: could not pass {} on: {}", name(signal), io::Error::last_os_error());
    }
}

/// From the command's end on, SIGINT or SIGTERM exits with its status
/// (without this, proctor would ignore them: their handlers stay installed).
fn exit_on_signal(mut signals: Signals, status: u8) {
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal != SIGCHLD {
                eprintln!(
                    "proctor run: {} during the upload: exiting with the command's status {status}",
                    name(signal)
                );
                std::process::exit(status.into());
            }
        }
    });
}

/// The exit code, or 128 + the signal that killed the process (a shell's
/// `$?`).
fn shell_status(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}

fn not_started(program: &OsStr, err: &io::Error) -> Ended {
    let status = if err.kind() == io::ErrorKind::NotFound { 127 } else { 126 };
    Ended::NotStarted { status, why: format!("cannot start {}: {err}", program.to_string_lossy()) }
}

fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_a_shell_reads_them() {
        // Raw wait(2) statuses: the exit code in the second byte, or the signal.
        assert_eq!(shell_status(ExitStatus::from_raw(0)), 0);
        assert_eq!(shell_status(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(shell_status(ExitStatus::from_raw(255 << 8)), 255);
        assert_eq!(shell_status(ExitStatus::from_raw(SIGTERM)), 128 + 15);
        assert_eq!(shell_status(ExitStatus::from_raw(libc::SIGKILL)), 128 + 9);
    }

    #[test]
    fn a_missing_program_is_127_and_one_that_cannot_run_126() {
        let missing = not_started(OsStr::new("nope"), &io::Error::from(io::ErrorKind::NotFound));
        assert!(
            matches!(missing, Ended::NotStarted { status: 127, ref why } if why.starts_with("cannot start nope: "))
        );
        let denied = not_started(OsStr::new("./x.sh"), &io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(matches!(denied, Ended::NotStarted { status: 126, .. }));
    }
}
