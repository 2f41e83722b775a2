//! The production line format: one flat JSON object per event, written straight into the line
//! buffer.
//!
//! tracing-subscriber's JSON formatter writes the same object through a serde map, an `io::Write`
//! adaptor that re-checks every piece as UTF-8, a freshly formatted timestamp and a lookup of the
//! current span: about 7% of a get-by-id request's CPU, for the access line alone (bench/README.md,
//! "Where the time goes"). This writes the same keys in the same order (`timestamp`, `level`, the
//! event's fields with `message` first, `target`) with the escaping JSON needs and nothing else,
//! and formats a timestamp's date and time of day once per second. The service opens no spans, so
//! none are written.

use std::cell::RefCell;
use std::fmt::{self, Write};

use chrono::{DateTime, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The production [`FormatEvent`]: `{"timestamp":"2026-12-06T15:04:36.970013Z","level":"INFO",
/// "message":"...",<fields>,"target":"echodiary::server"}` and a newline.
pub(crate) struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut out: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // An event bridged from the `log` crate names its real target and level in the
        // normalized metadata (and in `log.*` fields, skipped below).
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        out.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut out, Utc::now())?;
        write!(out, "\",\"level\":\"{}\"", meta.level())?;
        let mut fields = Fields {
            out: &mut out,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        out.write_str(",\"target\":")?;
        write_string(&mut out, meta.target())?;
        out.write_str("}\n")
    }
}

/// Writes each field as `,"name":value`, keeping the first error.
struct Fields<'a, 'w> {
    out: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = self
            .out
            .write_char(',')
            .and_then(|()| write_string(self.out, field.name()))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| value(self.out));
    }
}

impl Visit for Fields<'_, '_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity.
        self.field(field, |out| {
            if value.is_finite() {
                write!(out, "{value}")
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |out| write_string(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |out| {
            out.write_char('"')?;
            write!(Escaped(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `value` as a JSON string.
fn write_string(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(&mut *out).write_str(value)?;
    out.write_char('"')
}

/// Escapes what it is given for the inside of a JSON string: quotes, backslashes and control
/// characters; everything else (all of Unicode) is valid as it is.
struct Escaped<W>(W);

impl<W: Write> Write for Escaped<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut clean = 0;
        for (at, byte) in s.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&s[clean..at])?;
            match escape {
                "" => write!(self.0, "\\u{byte:04x}")?,
                escape => self.0.write_str(escape)?,
            }
            clean = at + 1;
        }
        self.0.write_str(&s[clean..])
    }
}

thread_local! {
    /// The second last formatted on this thread, and its text up to the seconds.
    static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
}

/// `2026-12-06T15:04:36.970013Z`: UTC to the microsecond. The text up to the seconds changes once
/// a second, so each thread formats it once a second and writes only the microseconds after.
fn write_timestamp(out: &mut impl Write, now: DateTime<Utc>) -> fmt::Result {
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != now.timestamp() {
            text.clear();
            write!(text, "{}", now.format("%Y-%m-%dT%H:%M:%S"))?;
            *second = now.timestamp();
        }
        write!(
            out,
            "{text}.{:06}Z",
            now.timestamp_subsec_micros().min(999_999)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, value).expect("written");
        out
    }

    #[test]
    fn strings_come_back_unchanged_through_a_json_parser() {
        for value in [
            "plain",
            "",
            "quote \" and backslash \\",
            "lines\nand\r\ttabs",
            "bell \u{7} and escape \u{1b} and nul \0",
            "unicode: é ✓ 日記 😀, and \u{7f}",
        ] {
            let json = escaped(value);
            let back: String = serde_json::from_str(&json).expect(&json);
            assert_eq!(back, value, "{json}");
        }
        assert_eq!(escaped("a\u{1}b"), "\"a\\u0001b\"");
    }

    #[test]
    fn timestamps_are_utc_to_the_microsecond_across_second_boundaries() {
        let text = |at: &str| {
            let now = DateTime::parse_from_rfc3339(at)
                .expect(at)
                .with_timezone(&Utc);
            let mut out = String::new();
            write_timestamp(&mut out, now).expect("written");
            out
        };
        assert_eq!(
            text("2026-12-06T15:04:36.970013Z"),
            "2026-12-06T15:04:36.970013Z"
        );
        assert_eq!(
            text("2026-12-06T15:04:36.000001Z"),
            "2026-12-06T15:04:36.000001Z"
        );
        assert_eq!(
            text("2026-12-06T17:04:37.5+02:00"),
            "2026-12-06T15:04:37.500000Z"
        );
        assert_eq!(
            text("2024-02-29T23:59:59.999999Z"),
            "2024-02-29T23:59:59.999999Z"
        );
    }

    /// Every line written, shared with the test.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_event_is_one_flat_json_object_with_its_fields_in_order() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(FlatJson)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let reason = "a \"quoted\"\nreason";
            tracing::warn!(
                method = "GET",
                status = 404_u16,
                offset = -3_i64,
                latency_ms = 1.25,
                nothing = f64::NAN,
                cached = true,
                %reason,
                "request {} finished",
                7
            );
        });
        let text = String::from_utf8(lines.0.lock().clone()).expect("UTF-8");
        assert!(text.ends_with("}\n") && text.lines().count() == 1, "{text}");
        let keys = [
            "timestamp",
            "level",
            "message",
            "method",
            "status",
            "offset",
            "latency_ms",
            "nothing",
            "cached",
            "reason",
            "target",
        ];
        let at: Vec<usize> = keys
            .iter()
            .map(|key| text.find(&format!("\"{key}\":")).expect(key))
            .collect();
        assert!(at.is_sorted(), "keys out of order: {text}");
        let mut line: serde_json::Value = serde_json::from_str(&text).expect(&text);
        let stamp = line["timestamp"].take();
        assert_eq!(
            line,
            serde_json::json!({
                "timestamp": null, "level": "WARN", "message": "request 7 finished",
                "method": "GET", "status": 404, "offset": -3, "latency_ms": 1.25, "nothing": null,
                "cached": true, "reason": "a \"quoted\"\nreason", "target": module_path!()
            })
        );
        let stamp = stamp.as_str().expect("a string");
        DateTime::parse_from_rfc3339(stamp).expect(stamp);
        assert!(stamp.ends_with('Z') && stamp.len() == 27, "{stamp}");
    }
}
