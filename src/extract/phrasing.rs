//! Parser messages said for people. serde and serde_json describe what they expected in Rust's
//! terms (`invalid digit found in string`, `expected i64`, `key must be a string`); a client
//! reading a 400 or 422 needs what to send instead, and for a body that is not JSON, where.

use serde_json::error::Category;

/// A serde error about one field, as "must be ..." / "is required" after the field's name.
pub(super) fn field_message(message: &str) -> String {
    if message.starts_with("missing field `") {
        return "is required".into();
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return match rest.split_once("expected one of ") {
            Some((_, accepted)) => format!(
                "is not accepted here (accepted: {})",
                unquote_list(accepted)
            ),
            None => "is not accepted here".into(),
        };
    }
    if message.starts_with("duplicate field `") {
        return "is given more than once".into();
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        return match rest.split_once("expected one of ") {
            Some((_, values)) => format!("must be one of {}", unquote_list(values)),
            None => match rest.split_once("expected ") {
                Some((_, value)) => format!("must be {}", unquote_list(value)),
                None => "is not one of the accepted values".into(),
            },
        };
    }
    if [
        "invalid digit found in string",
        "cannot parse integer from empty string",
        "number too large to fit in target type",
        "number too small to fit in target type",
    ]
    .contains(&message)
    {
        return "must be a whole number".into();
    }
    let invalid = ["invalid type: ", "invalid value: ", "invalid length "]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    if let Some((_, expected)) = message.split_once(", expected ")
        && invalid
    {
        return format!("must be {}", expected_in_words(expected));
    }
    message.to_owned()
}

/// What serde expected, in the words of the API's documentation.
fn expected_in_words(expected: &str) -> String {
    let words = match expected {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => {
            "a whole number"
        }
        "f32" | "f64" => "a number",
        "a sequence" => "a list",
        "a map" => "an object",
        "a borrowed string" => "a string",
        other if other.starts_with("struct ") => "an object",
        other => other,
    };
    words.to_owned()
}

/// "`a`, `b`" -> "a, b".
fn unquote_list(list: &str) -> String {
    list.replace('`', "")
}

/// Why a body is not JSON at all, with the line and column where the parser stopped.
pub(super) fn syntax_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let reason = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    let reason = if let Some(what) = reason.strip_prefix("EOF while parsing ") {
        let what = what
            .strip_prefix("an ")
            .or_else(|| what.strip_prefix("a "))
            .unwrap_or(what);
        format!("it ends before the {what} is complete")
    } else {
        match reason {
            "key must be a string" => "an object key must be a string in double quotes".into(),
            "expected value" => {
                "a value is missing or is not JSON (strings take double quotes)".into()
            }
            "trailing characters" => "there is more after the JSON value".into(),
            "trailing comma" => "a comma is followed by no value".into(),
            other => other.to_owned(),
        }
    };
    if err.classify() == Category::Eof || err.line() == 0 {
        return format!("the body is not valid JSON: {reason}");
    }
    format!(
        "the body is not valid JSON: {reason} (line {}, column {})",
        err.line(),
        err.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_what_to_send() {
        for (message, phrased) in [
            ("invalid digit found in string", "must be a whole number"),
            (
                "invalid type: string \"x\", expected i64",
                "must be a whole number",
            ),
            (
                "invalid type: integer `1`, expected a string",
                "must be a string",
            ),
            ("invalid type: map, expected a sequence", "must be a list"),
            ("missing field `content`", "is required"),
            ("duplicate field `title`", "is given more than once"),
            (
                "unknown variant `fancy`, expected one of `great`, `good`",
                "must be one of great, good",
            ),
            (
                "unknown field `colour`, expected one of `title`, `content`",
                "is not accepted here (accepted: title, content)",
            ),
        ] {
            assert_eq!(field_message(message), phrased, "{message}");
        }
    }

    #[test]
    fn a_syntax_error_says_where() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": 1,\n  b: 2\n}")
            .expect_err("not JSON");
        assert_eq!(
            syntax_message(&err),
            "the body is not valid JSON: an object key must be a string in double quotes \
             (line 3, column 3)"
        );
        let eof = serde_json::from_str::<serde_json::Value>("{\"a\": 1").expect_err("cut short");
        assert!(syntax_message(&eof).contains("ends before the object is complete"));
    }
}
