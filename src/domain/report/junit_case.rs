//! JUnit element meaning: what each element is in its context, and how one `<testcase>` becomes a [`TestCase`].

use super::text::{first_line, non_empty, parse_seconds, truncate, truncated, Capped};
use super::{Limits, Outcome, TestCase};

/// What an open element is, decided from its name and its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Suites,
    Suite,
    Case,
    /// `failure`, `error`, `skipped`, `flaky*`, `rerun*` inside a testcase.
    Result,
    /// Anything nested in a result (Surefire's `stackTrace`) or in an
    /// output element: its text still belongs to the enclosing element.
    Inner,
    /// `system-out` / `system-err` directly inside a testcase.
    Output,
    /// Properties, suite-level output, unknown elements: skipped whole.
    Ignored,
}

/// Where the text inside an element goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sink {
    Nowhere,
    Slot(usize),
    Out,
    Err,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    pub(super) kind: Kind,
    pub(super) sink: Sink,
}

/// Result categories; each keeps the message and text of its first element.
const FAILURE: usize = 0;
const ERROR: usize = 1;
const SKIPPED: usize = 2;
const FLAKY: usize = 3;
const RERUN: usize = 4;

/// The role of a child element, before its attributes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Suites,
    Suite,
    Case,
    /// A result element: its category, and for reruns whether it is an error.
    Result {
        category: usize,
        error: bool,
    },
    Output(Sink),
    Inner,
    Ignored,
}

/// Classifies element `name` (local name) opened inside `parent`.
pub(super) fn role(parent: Kind, name: &[u8]) -> Role {
    match parent {
        Kind::Suites | Kind::Suite => match name {
            b"testsuite" => Role::Suite,
            // Some generators wrap groups of suites again; it changes nothing.
            b"testsuites" => Role::Suites,
            b"testcase" => Role::Case,
            _ => Role::Ignored,
        },
        Kind::Case => match name {
            b"failure" => Role::Result { category: FAILURE, error: false },
            b"error" => Role::Result { category: ERROR, error: true },
            b"skipped" => Role::Result { category: SKIPPED, error: false },
            b"flakyFailure" | b"flakyError" => Role::Result { category: FLAKY, error: false },
            b"rerunFailure" => Role::Result { category: RERUN, error: false },
            b"rerunError" => Role::Result { category: RERUN, error: true },
            b"system-out" => Role::Output(Sink::Out),
            b"system-err" => Role::Output(Sink::Err),
            _ => Role::Ignored,
        },
        // Surefire nests the retry's own output inside flaky/rerun elements;
        // it is not the test's output, so it is dropped.
        Kind::Result | Kind::Inner | Kind::Output => match name {
            b"system-out" | b"system-err" | b"properties" => Role::Ignored,
            _ => Role::Inner,
        },
        Kind::Ignored => Role::Ignored,
    }
}

/// The first element of a category: its `message` and `type` attributes and its text.
#[derive(Debug)]
struct Slot {
    seen: bool,
    message: Option<String>,
    kind: Option<String>,
    text: Capped,
}

/// One `<testcase>` being read. Reused from case to case to keep its buffers.
#[derive(Debug)]
pub(super) struct CaseBuilder {
    pub(super) suite: String,
    pub(super) classname: String,
    pub(super) name: String,
    pub(super) file: Option<String>,
    pub(super) line: Option<u32>,
    pub(super) duration_ms: Option<u64>,
    /// `status="skipped|disabled|notrun"` or `ignored="true"` on the testcase itself.
    pub(super) status_skipped: bool,
    slots: [Slot; 5],
    flaky: u32,
    rerun_failures: u32,
    rerun_errors: u32,
    out: Option<Capped>,
    err: Option<Capped>,
    limits: Limits,
    /// `time` attributes that did not parse, over the whole report.
    pub(super) bad_durations: u64,
}

impl CaseBuilder {
    pub(super) fn new(limits: &Limits) -> Self {
        let slot = || Slot { seen: false, message: None, kind: None, text: Capped::new(limits.max_details_bytes) };
        CaseBuilder {
            suite: String::new(),
            classname: String::new(),
            name: String::new(),
            file: None,
            line: None,
            duration_ms: None,
            status_skipped: false,
            slots: [slot(), slot(), slot(), slot(), slot()],
            flaky: 0,
            rerun_failures: 0,
            rerun_errors: 0,
            out: None,
            err: None,
            limits: limits.clone(),
            bad_durations: 0,
        }
    }

    /// Forgets the previous case; the suite name is set by the caller.
    pub(super) fn reset(&mut self) {
        self.suite.clear();
        self.classname.clear();
        self.name.clear();
        self.file = None;
        self.line = None;
        self.duration_ms = None;
        self.status_skipped = false;
        for slot in &mut self.slots {
            slot.seen = false;
            slot.message = None;
            slot.kind = None;
            slot.text.clear();
        }
        self.flaky = 0;
        self.rerun_failures = 0;
        self.rerun_errors = 0;
        self.out = None;
        self.err = None;
    }

    /// Applies one testcase attribute (local name, decoded value).
    pub(super) fn case_attribute(&mut self, key: &[u8], value: &str) {
        let name_cap = self.limits.max_name_bytes;
        match key {
            b"name" => set_capped(&mut self.name, value, name_cap),
            b"classname" => set_capped(&mut self.classname, value, name_cap),
            // PHPUnit and others write `class` too; `classname` wins when both exist.
            b"class" if self.classname.is_empty() => set_capped(&mut self.classname, value, name_cap),
            b"file" => self.file = non_empty(value, name_cap),
            b"line" => self.line = value.trim().parse().ok(),
            b"time" => {
                self.duration_ms = parse_seconds(value);
                if self.duration_ms.is_none() && !value.trim().is_empty() {
                    self.bad_durations += 1;
                }
            }
            b"status" => {
                let v = value.trim();
                self.status_skipped |= ["skipped", "disabled", "notrun"].iter().any(|s| v.eq_ignore_ascii_case(s));
            }
            b"ignored" => self.status_skipped |= value.trim().eq_ignore_ascii_case("true"),
            _ => {}
        }
    }

    /// Records a result element opening and returns where its text goes.
    pub(super) fn open_result(&mut self, category: usize, error: bool) -> Sink {
        match (category, error) {
            (FLAKY, _) => self.flaky = self.flaky.saturating_add(1),
            (RERUN, false) => self.rerun_failures = self.rerun_failures.saturating_add(1),
            (RERUN, true) => self.rerun_errors = self.rerun_errors.saturating_add(1),
            _ => {}
        }
        let slot = &mut self.slots[category];
        if slot.seen {
            // Only the first element of a kind describes the case.
            return Sink::Nowhere;
        }
        slot.seen = true;
        Sink::Slot(category)
    }

    /// Applies an attribute of the result element that owns `sink`.
    pub(super) fn result_attribute(&mut self, sink: Sink, key: &[u8], value: &str) {
        let Sink::Slot(category) = sink else { return };
        let slot = &mut self.slots[category];
        match key {
            b"message" => slot.message = non_empty(value, self.limits.max_message_bytes),
            b"type" => slot.kind = non_empty(value, self.limits.max_message_bytes),
            _ => {}
        }
    }

    /// Opens `system-out` / `system-err`; several of one kind are appended.
    pub(super) fn open_output(&mut self, sink: Sink) {
        let cap = self.limits.max_output_bytes;
        let target = if sink == Sink::Out { &mut self.out } else { &mut self.err };
        match target {
            // Keep a second block from running into the end of the first.
            Some(text) => text.push(b"\n"),
            None => *target = Some(Capped::new(cap)),
        }
    }

    pub(super) fn text(&mut self, sink: Sink, bytes: &[u8]) {
        match sink {
            Sink::Nowhere => {}
            Sink::Slot(category) => self.slots[category].text.push(bytes),
            Sink::Out => self.out.as_mut().map_or((), |c| c.push(bytes)),
            Sink::Err => self.err.as_mut().map_or((), |c| c.push(bytes)),
        }
    }

    /// The finished case. Precedence: failure > error > skipped > flaky > passed.
    pub(super) fn finish(&mut self) -> TestCase {
        let seen = |c: usize| self.slots[c].seen;
        let (outcome, described_by) = if seen(FAILURE) {
            (Outcome::Failed, Some(FAILURE))
        } else if seen(ERROR) {
            (Outcome::Error, Some(ERROR))
        } else if seen(SKIPPED) || self.status_skipped {
            (Outcome::Skipped, Some(SKIPPED))
        } else if self.flaky > 0 {
            (Outcome::Flaky, Some(FLAKY))
        } else if self.rerun_failures > 0 {
            // Reruns without a final verdict never passed: trust the failures.
            (Outcome::Failed, Some(RERUN))
        } else if self.rerun_errors > 0 {
            (Outcome::Error, Some(RERUN))
        } else {
            (Outcome::Passed, None)
        };
        let (message, details) = match described_by {
            Some(c) if self.slots[c].seen => self.describe(c),
            _ => (None, None),
        };
        let output_cap = self.limits.max_output_bytes;
        TestCase {
            suite: std::mem::take(&mut self.suite),
            classname: std::mem::take(&mut self.classname),
            name: std::mem::take(&mut self.name),
            file: self.file.take(),
            line: self.line,
            outcome,
            duration_ms: self.duration_ms,
            retries: self.flaky.saturating_add(self.rerun_failures).saturating_add(self.rerun_errors),
            message,
            details,
            system_out: self.out.as_ref().and_then(|c| non_empty(c.as_str(), output_cap)),
            system_err: self.err.as_ref().and_then(|c| non_empty(c.as_str(), output_cap)),
        }
    }

    /// Message: the `message` attribute, else the first non-blank line of the
    /// text. Details: the text, with `type` in front unless the text already
    /// starts with it (Java stack traces do).
    fn describe(&mut self, category: usize) -> (Option<String>, Option<String>) {
        let limits = &self.limits;
        let slot = &mut self.slots[category];
        let text = slot.text.as_str();
        let message =
            slot.message.take().or_else(|| first_line(text).map(|l| truncated(l, limits.max_message_bytes).to_owned()));
        let details = match slot.kind.as_deref() {
            Some(kind) if text.is_empty() => Some(kind.to_owned()),
            Some(kind) if !text.starts_with(kind) => {
                let mut d = format!("{kind}\n{text}");
                truncate(&mut d, limits.max_details_bytes);
                Some(d)
            }
            _ => non_empty(text, limits.max_details_bytes),
        };
        (message, details)
    }
}

fn set_capped(target: &mut String, value: &str, cap: usize) {
    target.clear();
    target.push_str(truncated(value, cap));
}

/// The enclosing suites of the current position, innermost last.
#[derive(Debug, Default)]
pub(super) struct Suites {
    stack: Vec<(String, Option<String>)>,
}

impl Suites {
    pub(super) fn push(&mut self) {
        self.stack.push((String::new(), None));
    }

    pub(super) fn pop(&mut self) {
        self.stack.pop();
    }

    pub(super) fn attribute(&mut self, key: &[u8], value: &str, limits: &Limits) {
        let Some((name, file)) = self.stack.last_mut() else {
            return;
        };
        match key {
            b"name" => set_capped(name, value, limits.max_name_bytes),
            b"file" => *file = non_empty(value, limits.max_name_bytes),
            _ => {}
        }
    }

    /// Name of the innermost suite, "" outside any.
    pub(super) fn name(&self) -> &str {
        self.stack.last().map_or("", |(name, _)| name)
    }

    /// The `file` of the nearest suite that has one.
    pub(super) fn file(&self) -> Option<&str> {
        self.stack.iter().rev().find_map(|(_, file)| file.as_deref())
    }
}
