//! The progress display of an upload, on stderr: a bar over the reports'
//! bytes on a terminal, plain lines otherwise (CI logs).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress on stderr: a bar over the files' bytes on a terminal, plain
/// lines otherwise (CI logs).
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        Progress { bar: Some(bar) }
    }

    /// Shows the bar, over this many bytes of reports.
    pub fn start(&self, total_bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total_bytes);
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) if !bar.is_finished() => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    pub fn message(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
