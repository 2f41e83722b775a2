//! The opaque list cursor: the (entry_date, id) of the last entry on a page.
//!
//! Keyset pagination over that pair, which the list index is sorted by, means each page starts
//! strictly after the previous one: concurrent inserts never shift, repeat or skip older entries.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use uuid::Uuid;

use super::model::parse_date;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) entry_date: NaiveDate,
    pub(crate) id: Uuid,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.entry_date, self.id))
    }

    pub(crate) fn decode(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::field("cursor", "is not a cursor returned by this API");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (date, id) = text.split_once('|').ok_or_else(invalid)?;
        Ok(Self {
            // The same strict reading as every other date: a forged cursor with a year PostgreSQL
            // cannot store must be a 422, not a database error.
            entry_date: parse_date(date).ok_or_else(invalid)?,
            id: id.parse().map_err(|_| invalid())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_a_round_trip() {
        let cursor = Cursor {
            entry_date: NaiveDate::from_ymd_opt(2026, 2, 9).expect("valid date"),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        for raw in [
            "",
            "!!!",
            "bm90IGEgY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("2026-13-01|x"),
            &URL_SAFE_NO_PAD.encode(format!("-5000-01-01|{}", Uuid::nil())),
            &URL_SAFE_NO_PAD.encode(format!("2026-2-9|{}", Uuid::nil())),
        ] {
            assert!(Cursor::decode(raw).is_err(), "{raw:?} decoded");
        }
    }
}
