//! The sensitive values the suite sends (passwords, emails, tokens, diary titles and text),
//! recorded beside the suite's logs so tools/checks/logscan.py can look for each one in every
//! log line. The support helpers record what they send; a test that builds its own secret calls
//! [`record`] itself.
//!
//! One file per test process, `sensitive-<pid>.txt`, one value per line. Only values of at least
//! [`MIN_CHARS`] characters are kept: short ones ("x", "typo", "guess") are common enough to
//! turn up in a log line by coincidence, and a scanner that cries wolf gets switched off. The
//! scanner's patterns for emails and tokens still catch those whatever their length.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

use serde_json::Value;

use crate::support::suite_logs;

/// Shorter values are not recorded (see the module comment).
pub(crate) const MIN_CHARS: usize = 8;

/// Records `value` (each of its lines, if it has several) for the log scan.
pub(crate) fn record(value: &str) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let seen = seen.get_or_insert_with(HashSet::new);
    let mut new = String::new();
    for line in value.lines().map(str::trim) {
        if line.chars().count() >= MIN_CHARS && seen.insert(line.to_owned()) {
            new.push_str(line);
            new.push('\n');
        }
    }
    if new.is_empty() {
        return;
    }
    let path = suite_logs::dir().join(format!("sensitive-{}.txt", std::process::id()));
    // Appended under the lock above, so lines from parallel tests never interleave.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(new.as_bytes()))
        .unwrap_or_else(|e| panic!("record a sensitive value in {}: {e}", path.display()));
}

/// Records the diary text of an entry body: its title and content.
pub(crate) fn record_entry(body: &Value) {
    for field in ["title", "content"] {
        if let Some(text) = body[field].as_str() {
            record(text);
        }
    }
}
