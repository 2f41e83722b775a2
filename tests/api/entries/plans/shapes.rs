//! The filter shapes the plan-stability test runs, the entries it runs them over, and the plain
//! reading of the filters each page must match.

use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use super::{DENSE, FURTHER, PAGE, STATEMENTS, WINDOW};

const ENTRIES: i32 = 3_000;

fn sql_text(value: Option<&str>) -> String {
    value.map_or("NULL".to_owned(), |v| format!("'{v}'"))
}

/// A filter shape: the cursor and date bounds as SQL, `mood`, `tag`, `q`, and how many postings
/// the GIN index must return for it: the caller's entries with every key the filters give it,
/// cursor aside (none: the window alone fills the page or ends the diary, the index is not read).
pub(super) struct Shape {
    pub(super) name: &'static str,
    bounds: String,
    pub(super) mood: Option<&'static str>,
    pub(super) tag: Option<&'static str>,
    pub(super) q: Option<&'static str>,
    pub(super) postings: &'static [i64],
}

impl Shape {
    /// The statement the binary runs for this shape (`src/entries/list.rs`) and its arguments.
    pub(super) fn statement(&self, owner: Uuid, page: i64) -> (&'static str, String) {
        let name = match (self.q, self.tag, self.mood) {
            (None, None, None) => "recent",
            (None, None, Some(_)) => "mood",
            (None, Some(_), _) => "tag",
            (Some(_), _, _) => "search",
        };
        let parameters = STATEMENTS.iter().find(|s| s.0 == name).map_or(0, |s| s.1);
        let all = [
            format!("'{owner}', {}, {page}", self.bounds),
            sql_text(self.mood),
            sql_text(self.tag),
            sql_text(self.q),
            WINDOW.to_string(),
            DENSE.to_string(),
            FURTHER.to_string(),
        ];
        // The first entry holds the owner, the four bounds and the page: six parameters.
        (name, all[..parameters - 5].join(", "))
    }

    pub(super) fn arguments(&self, owner: Uuid) -> String {
        format!(
            "'{owner}', {}, {}, {}, {}",
            self.bounds,
            sql_text(self.mood),
            sql_text(self.tag),
            sql_text(self.q)
        )
    }
}

/// The owner's 3,000 entries, newest first by position `g`: every third one is tagged `daily`,
/// says "walk" and is `good`; positions 1,000, 2,000 and 3,000, past any window, are tagged `rare`
/// and say "zebra"; positions 500, 1,500 and 2,500 are `awful`; every 50th from 25 says "kite";
/// every 8th from 4 says "often"; "lately" is in every 10th from 5 up to 145 and every 500th from
/// 250.
/// The other person's 3,000 entries are all `rare`, `awful` and say "zebra": common in the table,
/// rare for the owner.
pub(super) async fn seed(db: &mut PgConnection, owner: Uuid, other: Uuid) {
    for (user, content, tags, mood) in [
        (
            owner,
            "'entry ' || g || CASE WHEN g % 3 = 0 THEN ' walk' ELSE '' END
               || CASE WHEN g % 1000 = 0 THEN ' zebra' ELSE '' END
               || CASE WHEN g % 50 = 25 THEN ' kite' ELSE '' END
               || CASE WHEN g % 8 = 4 THEN ' often' ELSE '' END
               || CASE WHEN (g % 10 = 5 AND g <= 150) OR g % 500 = 250 THEN ' lately' ELSE '' END",
            "CASE WHEN g % 3 = 0 THEN ARRAY['daily'] ELSE '{}' END
               || CASE WHEN g % 1000 = 0 THEN ARRAY['rare'] ELSE '{}' END",
            "CASE WHEN g % 1000 = 500 THEN 'awful' WHEN g % 3 = 0 THEN 'good' END",
        ),
        (other, "'zebra ' || g", "ARRAY['rare']", "'awful'"),
    ] {
        let insert = format!(
            "INSERT INTO entries (id, user_id, content, tags, mood, entry_date)
             SELECT gen_random_uuid(), '{user}', {content}, {tags}, {mood},
                    date '2026-01-01' - g / 2
               FROM generate_series(1, {ENTRIES}) g"
        );
        sqlx::raw_sql(AssertSqlSafe(insert))
            .execute(&mut *db)
            .await
            .expect("seed entries");
    }
    sqlx::raw_sql("VACUUM ANALYZE entries")
        .execute(&mut *db)
        .await
        .expect("analyze");
}

/// What the page must hold: the plain reading of the filters, with no plan tricks.
pub(super) fn oracle() -> String {
    format!(
        "PREPARE oracle (uuid, date, uuid, date, date, text, text, text) AS
    SELECT id FROM entries
     WHERE user_id = $1
       AND (entry_date, id) < (COALESCE($2, 'infinity'),
                               COALESCE($3, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
       AND entry_date >= COALESCE($4, '-infinity') AND entry_date <= COALESCE($5, 'infinity')
       AND ($6 IS NULL OR mood = $6) AND ($7 IS NULL OR tags @> ARRAY[$7])
       AND ($8 IS NULL OR search @@ websearch_to_tsquery('english', $8))
     ORDER BY entry_date DESC, id DESC LIMIT {PAGE}"
    )
}

/// Every shape, over the first page, a cursor 2,000 entries deep (`deep`) or a date range, as
/// SQL bounds.
pub(super) fn shapes(first: &str, deep: &str, range: &str) -> Vec<Shape> {
    let shape = |name, bounds: &str, mood, tag, q, postings| Shape {
        name,
        bounds: bounds.to_owned(),
        mood,
        tag,
        q,
        postings,
    };
    vec![
        shape("first page", first, None, None, None, &[]),
        shape("2,000 entries deep", deep, None, None, None, &[]),
        shape("a date range", range, None, None, None, &[]),
        shape("a common tag", first, None, Some("daily"), None, &[]),
        shape("a common word", first, None, None, Some("walk"), &[]),
        shape("a common mood", deep, Some("good"), None, None, &[]),
        shape("a rare tag", first, None, Some("rare"), None, &[]),
        shape(
            "a common tag, 2,000 deep",
            deep,
            None,
            Some("daily"),
            None,
            &[],
        ),
        shape(
            "a rare tag in a date range",
            range,
            None,
            Some("rare"),
            None,
            &[],
        ),
        shape("a rare mood", range, Some("awful"), None, None, &[]),
        shape("a rare word", deep, None, None, Some("zebra"), &[3]),
        shape("an absent word", first, None, None, Some("xylophone"), &[0]),
        shape(
            "rare tag, common word",
            first,
            None,
            Some("rare"),
            Some("walk"),
            &[1],
        ),
        shape(
            "common tag, rare mood",
            first,
            Some("awful"),
            Some("daily"),
            None,
            &[],
        ),
        shape(
            "all three",
            first,
            Some("good"),
            Some("daily"),
            Some("zebra"),
            &[1],
        ),
        shape(
            "rare word, common mood",
            first,
            Some("good"),
            None,
            Some("zebra"),
            &[1],
        ),
        // `or`: the owner's entries with either word; `-walk` is checked on the rows, the index
        // reads `zebra`; only stop words: no lexeme, no entry, and no posting read.
        shape(
            "a rare word or an absent one",
            first,
            None,
            None,
            Some("zebra or xylophone"),
            &[3],
        ),
        shape(
            "a rare word without a common one",
            first,
            None,
            None,
            Some("zebra -walk"),
            &[3],
        ),
        shape("only stop words", first, None, None, Some("the"), &[0]),
        // In one entry in fifty: four in the window, the rest of the page from the postings.
        shape(
            "a word in one entry in fifty",
            first,
            None,
            None,
            Some("kite"),
            &[60],
        ),
        // 12 in the window: read on in date order; the page fills 72 entries past the window.
        shape(
            "a word in one entry in eight",
            first,
            None,
            None,
            Some("often"),
            &[],
        ),
        // 10 in the window, 6 in the 300 entries past it, the last 5 from the postings.
        shape(
            "a word dense in the window, thin past it",
            first,
            None,
            None,
            Some("lately"),
            &[21],
        ),
    ]
}
