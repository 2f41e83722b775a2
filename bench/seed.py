"""Seeding for the data-scale benchmark (bench/scale.py): N diary entries, the same ones in every run
with the same --seed, generated in Python and streamed into PostgreSQL with COPY, fast enough for 10
million.

Why the data looks the way it does:
- Users: 50,000-entry, 5,000-entry and 50-entry diaries (`plan`), all with one password hash taken
  from a user registered through the API, because hashing one password per user would take longer
  than the seeding itself.
- Entries are written in created_at order across all users, as a live service inserts them: one
  user's entries lie scattered over the heap as they would in production (copying user by user
  would cluster them and flatter every list query), and the v7-like ids grow with time like the
  ones the service makes.
- Words are pronounceable pseudo-words that PostgreSQL's `english` configuration keeps as they are
  (not a stop word, not stemmed), so every word is its own lexeme and a query for it finds exactly
  the entries that contain it. Mixed with stop words, as in real text, and with Zipf-like
  frequencies, as words in real text have (STOP_SHARE, ZIPF_SHIFT).
- The benchmark's words and tags are picked from the generated data by their measured share of
  entries, so "common" and "rare" mean the same at every size.
- Fast: the entries' secondary indexes are dropped and rebuilt from their saved definitions (built
  once over sorted data instead of updated 10 million times; whatever indexes the migrations define
  today); the table is truncated and copied in one transaction with wal_level=minimal and COPY
  FREEZE (no WAL, and rows already frozen and visible, so VACUUM does not rewrite the heap); the
  foreign key's per-row trigger is skipped (session_replication_role = replica), every user_id
  being one of the users just copied; so are the triggers that keep entry_tags, which the
  migration that fills it from existing entries then fills.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from bisect import bisect
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from support import log

# The migration that fills entry_tags from the entries already there.
BACKFILL = next((Path(__file__).resolve().parent.parent / "migrations").glob("*_entry_tags_backfill.sql"))

VERY_HEAVY_ENTRIES = 50_000
HEAVY_ENTRIES = 5_000
TYPICAL_ENTRIES = 50
VOCABULARY = 20_000
# Words of running text: about 45% are stop words, which to_tsvector drops (so a tsvector holds what
# a real entry's would); the rest follow Zipf-Mandelbrot, 1/(rank + 10), whose head is flatter than
# plain Zipf's: the most frequent word is in about a third of the entries, not in every one.
STOP_SHARE = 0.45
ZIPF_SHIFT = 10
STOP_WORDS = ("the and i to a of was it in my that me with had for but so we at on is be not have this all "
              "she he they just very then there about after when what her his our were some out up").split()
# Every timestamp lies in the four years before END: fixed, so the data never depends on the day.
BASE = datetime(2022, 12, 1, tzinfo=timezone.utc)
END = date(2026, 11, 30)
DAY_MS = 86_400_000
BASE_UNIX_MS = int(BASE.timestamp() * 1000)
TOTAL_DAYS = (END - BASE.date()).days + 1
SPAN_DAYS = {"very heavy": TOTAL_DAYS, "heavy": TOTAL_DAYS, "typical": 365}
# Where the benchmark's words and tags are picked: the share of entries they appear in.
TARGET_SHARE = {"common word": 0.15, "rare word": 0.003, "common tag": 0.25, "rare tag": 0.005}
BATCH = 10_000  # COPY lines per write to psql
SAMPLE_ROWS = 200_000  # rows whose words are counted to pick them (all of them below that)
MOODS = ("great", "good", "okay", "bad", "awful", None)
MOOD_WEIGHTS = (15, 30, 25, 12, 5, 13)
TAG_COUNT_WEIGHTS = (15, 30, 30, 15, 10)  # entries with 0, 1, 2, 3, 4 tags (drawn, duplicates collapse)
TAGS = ("work family friends health travel reading music cooking exercise sleep gratitude walk weekend "
        "garden kids parents school money home coffee movies rain dreams anxiety meditation birthday "
        "holiday project meeting running cycling painting writing lunch dinner pets doctor concert "
        "beach snow").split()
ONSETS = "b c d f g h j k l m n p r s t v w z br ch cl cr dr fl gl gr pl pr sh sl sp st th tr".split()
NUCLEI = "a e i o u a e i o ai ea ee oa oo ou".split()
CODAS = [""] * 6 + "b d g k l m n p r t x nk nt rk rn lt mp sk st".split()
NULL = "\\N"  # COPY's text format
COLUMNS = "id, user_id, title, content, mood, tags, entry_date, created_at, updated_at"


@dataclass(frozen=True)
class Group:
    kind: str
    users: int
    entries_each: int


def plan(total: int) -> list[Group]:
    """The users behind `total` entries: v users with 50,000 (v = 2 from 200k entries, else 1, and
    below 100k entries one user with half of them), and of the rest R, half in 5,000-entry users
    (floor(R / 2 / 5,000) of them) and the remainder in 50-entry users (one smaller at the end)."""
    very = 2 if total >= 2 * 2 * VERY_HEAVY_ENTRIES else 1
    very_each = min(VERY_HEAVY_ENTRIES, total // 2)
    rest = total - very * very_each
    heavy = rest // 2 // HEAVY_ENTRIES
    typical_entries = rest - heavy * HEAVY_ENTRIES
    groups = [Group("very heavy", very, very_each), Group("heavy", heavy, HEAVY_ENTRIES),
              Group("typical", typical_entries // TYPICAL_ENTRIES, TYPICAL_ENTRIES)]
    if typical_entries % TYPICAL_ENTRIES:
        groups.append(Group("typical", 1, typical_entries % TYPICAL_ENTRIES))
    return groups


def zipf_table(items: list[str], slots: int, exponent: float = 1.0, shift: int = 0) -> list[str]:
    """`items` repeated in proportion to Zipf's law (rank r weighs 1/(r + shift)**exponent; every
    item has at least one slot): a uniform pick from it is a Zipf-distributed draw, four times
    cheaper than random.choices with weights, which bisects for every word."""
    total = sum(1 / (rank + shift) ** exponent for rank in range(1, len(items) + 1))
    table = []
    for rank, item in enumerate(items, 1):
        table += [item] * max(1, round(slots / (rank + shift) ** exponent / total))
    return table


def pseudo_words(rng: random.Random):
    """Endless distinct pronounceable words of two or three syllables ("bralo", "cheemund")."""
    seen = set()
    while True:
        word = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) for _ in range(rng.choice((2, 2, 3))))
        word += rng.choice(CODAS)
        if word not in seen:
            seen.add(word)
            yield word


def uuid_text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Seeder:
    """Generates one size's data and copies it into the database behind `db` (bench/scale.py's
    ScaleBench: `psql(sql)` for a statement, `psql_script(text)` for a script read from stdin, and
    `psql_stream()`, a context manager giving a file to write a long script to)."""

    def __init__(self, db, seed: int, total: int) -> None:
        self.db = db
        self.seed = seed
        self.total = total
        self.groups = plan(total)
        self.words: list[str] = []
        self.absent_word = ""
        self.word_table: list[str] = []  # with the vocabulary
        self.tag_table = zipf_table(TAGS, 1 << 16, exponent=1.5, shift=1)
        self.mood_weights = list(itertools.accumulate(MOOD_WEIGHTS))
        self.tag_count_weights = list(itertools.accumulate(TAG_COUNT_WEIGHTS))
        # (id, email, kind, entries) per user, in the order of their index in the sort keys.
        self.users: list[tuple[str, str, str, int]] = []
        self.days = [(BASE.date() + timedelta(days=d)).isoformat() for d in range(TOTAL_DAYS + 1)]

    # ---- vocabulary -----------------------------------------------------------------------------
    def make_vocabulary(self) -> None:
        """VOCABULARY words PostgreSQL keeps as their own lexemes, one more that no entry uses, and
        the stop words it drops; then the table words are drawn from."""
        rng = random.Random(f"{self.seed}-words")
        candidates = [("stop", w) for w in STOP_WORDS]
        candidates += [("word", w) for w in itertools.islice(pseudo_words(rng), VOCABULARY * 2)]
        script = ("CREATE TEMP TABLE candidate (n int, kind text, word text);\nCOPY candidate FROM STDIN;\n"
                  + "".join(f"{n}\t{kind}\t{w}\n" for n, (kind, w) in enumerate(candidates)) + "\\.\n"
                  "SELECT kind || ' ' || word FROM candidate WHERE CASE kind"
                  " WHEN 'stop' THEN length(to_tsvector('english', word)) = 0"
                  " ELSE tsvector_to_array(to_tsvector('english', word)) = ARRAY[word] END ORDER BY n;\n")
        kept = [line.split() for line in self.db.psql_script(script).splitlines()]
        stop = [w for kind, w in kept if kind == "stop"]
        words = [w for kind, w in kept if kind == "word"]
        if len(words) <= VOCABULARY:
            raise SystemExit(f"only {len(words)} of {len(candidates)} pseudo-words are their own lexeme")
        self.words, self.absent_word = words[:VOCABULARY], words[VOCABULARY]
        slots = 1 << 21
        self.word_table = (zipf_table(stop, int(slots * STOP_SHARE))
                           + zipf_table(self.words, int(slots * (1 - STOP_SHARE)), shift=ZIPF_SHIFT))
        log(f"vocabulary: {VOCABULARY} of {len(candidates)} pseudo-words kept by to_tsvector('english'); "
            f"most frequent: {' '.join(self.words[:8])}")

    def text(self, rng: random.Random, low: int, high: int) -> list[str]:
        return rng.choices(self.word_table, k=low + int(rng.random() * (high - low + 1)))

    def create_body(self, rng: random.Random) -> str:
        """A POST /api/v1/entries body like the seeded entries, for the create variant."""
        tags = sorted(set(rng.choices(self.tag_table, k=2)))
        return json.dumps({"title": " ".join(self.text(rng, 2, 6)).capitalize(),
                           "content": " ".join(self.text(rng, 30, 80)).capitalize() + ".",
                           "mood": "good", "tags": tags}, separators=(",", ":"))

    # ---- users ----------------------------------------------------------------------------------
    def copy_users(self, password_hash: str) -> None:
        rng = random.Random(f"{self.seed}-users")
        lines = []
        for group in self.groups:
            for _ in range(group.users):
                n = len(self.users)
                bits = rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62)
                user_id = uuid_text(bits | (0x4 << 76) | (0x2 << 62))  # UUIDv4: version 4, variant 10
                email = f"scale-{group.kind.replace(' ', '-')}-{n}@example.com"
                self.users.append((user_id, email, group.kind, group.entries_each))
                lines.append(f"{user_id}\t{email}\t{password_hash}\tScale user {n}\t{BASE.isoformat()}\n")
        self.db.psql_script("COPY users (id, email, password_hash, display_name, created_at) FROM STDIN;\n"
                            + "".join(lines) + "\\.\n")

    # ---- entries --------------------------------------------------------------------------------
    def sort_keys(self, rng: random.Random) -> tuple[list[int], int]:
        """One integer per entry, (ms since BASE) << bits | user index, sorted: the insertion order."""
        bits = max(1, (len(self.users) - 1).bit_length())
        keys: list[int] = []
        for index, (_, _, kind, count) in enumerate(self.users):
            last = TOTAL_DAYS - rng.randrange(30)
            first = max(0, last - SPAN_DAYS[kind])
            start, width = first * DAY_MS, (last - first) * DAY_MS
            keys.extend(((start + int(rng.random() * width)) << bits) | index for _ in range(count))
        keys.sort()
        return keys, bits

    def rows(self, keys: list[int], bits: int, rng: random.Random, counts: dict[str, Counter]):
        """COPY text lines in batches; counts which words and tags the first SAMPLE_ROWS rows hold."""
        rand, getrandbits, choices = rng.random, rng.getrandbits, rng.choices
        words, tag_table = self.word_table, self.tag_table
        mood_weights, tag_count_weights = self.mood_weights, self.tag_count_weights
        mood_total, tag_count_total = mood_weights[-1], tag_count_weights[-1]
        moods = [m or NULL for m in MOODS]
        user_ids = [u[0] for u in self.users]
        mask = (1 << bits) - 1
        batch = []
        for n, key in enumerate(keys):
            offset = key >> bits
            day, in_day = divmod(offset, DAY_MS)
            seconds, milli = divmod(in_day, 1000)
            minutes, second = divmod(seconds, 60)
            stamp = f"{self.days[day]} {minutes // 60:02d}:{minutes % 60:02d}:{second:02d}.{milli:03d}+00"
            # UUIDv7: 48 bits of Unix ms, version 7, 12 random bits, variant 10, 62 random bits.
            entry_id = uuid_text(((BASE_UNIX_MS + offset) << 80) | (0x7 << 76) | (getrandbits(12) << 64)
                                 | (0b10 << 62) | getrandbits(62))
            content = choices(words, k=30 + int(rand() * 51))
            title = choices(words, k=2 + int(rand() * 5)) if rand() < 0.9 else None
            tags = set(choices(tag_table, k=bisect(tag_count_weights, rand() * tag_count_total)))
            mood = moods[bisect(mood_weights, rand() * mood_total)]
            if n < SAMPLE_ROWS:
                counts["words"].update(set(content).union(title or ()))
                counts["tags"].update(tags)
            title_text = " ".join(title).capitalize() if title else NULL
            batch.append(f"{entry_id}\t{user_ids[key & mask]}\t{title_text}\t"
                         f"{' '.join(content).capitalize()}.\t{mood}\t{{{','.join(sorted(tags))}}}\t"
                         f"{self.days[day]}\t{stamp}\t{stamp}\n")
            if len(batch) == BATCH:
                yield "".join(batch)
                batch = []
        if batch:
            yield "".join(batch)

    def entry_indexes(self) -> list[tuple[str, str]]:
        """(name, CREATE INDEX statement) of every index of entries that no constraint owns."""
        rows = self.db.psql(
            "SELECT c.relname || E'\\t' || pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'entries'::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) ORDER BY c.oid")
        return [tuple(line.split("\t", 1)) for line in rows.splitlines() if line]

    def copy_entries(self) -> dict:
        rng = random.Random(f"{self.seed}-entries")
        timings = {}
        started = time.monotonic()
        keys, bits = self.sort_keys(rng)
        timings["order_s"] = time.monotonic() - started
        indexes = self.entry_indexes()
        for name, _ in indexes:
            self.db.psql(f'DROP INDEX "{name}"')
        log(f"dropped {len(indexes)} indexes ({', '.join(n for n, _ in indexes)}); copying {len(keys):,} entries")
        counts = {"words": Counter(), "tags": Counter()}
        started = time.monotonic()
        with self.db.psql_stream() as copy:
            copy.write("SET session_replication_role = replica;\nBEGIN;\nTRUNCATE entries;\n"
                       f"COPY entries ({COLUMNS}) FROM STDIN WITH (FREEZE);\n")
            every = max(len(keys) // BATCH // 10, 1)
            for batches, chunk in enumerate(self.rows(keys, bits, rng, counts), 1):
                copy.write(chunk)
                if batches % every == 0:
                    written = min(batches * BATCH, len(keys))
                    log(f"  {written:,} entries, {written / (time.monotonic() - started):,.0f}/s")
            copy.write("\\.\nCOMMIT;\n")
        timings["copy_s"] = time.monotonic() - started
        timings["indexes_s"] = {}
        for name, definition in indexes:
            started = time.monotonic()
            self.db.psql(definition)
            timings["indexes_s"][name] = time.monotonic() - started
            log(f"  {name} rebuilt in {timings['indexes_s'][name]:.1f} s")
        # The copy skipped the triggers that keep entry_tags (replica role): the migration that
        # fills it from existing entries does it, and its time at this size is worth knowing.
        started = time.monotonic()
        self.db.psql(BACKFILL.read_text())
        timings["indexes_s"]["entry_tags backfill"] = time.monotonic() - started
        log(f"  entry_tags filled in {timings['indexes_s']['entry_tags backfill']:.1f} s")
        started = time.monotonic()
        self.db.psql("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = time.monotonic() - started
        sample = min(len(keys), SAMPLE_ROWS)
        return {"timings": timings, "indexes": [d for _, d in indexes], "picked": self.pick(counts, sample)}

    def pick(self, counts: dict[str, Counter], sample: int) -> dict:
        """The words and tags whose share of the sampled entries is nearest each TARGET_SHARE, and
        the share each really has in the whole table (a rare one counted by its index)."""
        picked = {}
        vocabulary = set(self.words)  # never a stop word: it finds nothing
        for what, target in TARGET_SHARE.items():
            counter = counts["words" if what.endswith("word") else "tags"]
            candidates = [(n, hits) for n, hits in counter.items() if what.endswith("tag") or n in vocabulary]
            name, hits = min(candidates, key=lambda item: (abs(item[1] / sample - target), item[0]))
            picked[what] = {"value": name, "sample_share": hits / sample}
        picked["absent word"] = {"value": self.absent_word, "sample_share": 0.0}
        for what in ("rare word", "absent word"):
            count = self.db.psql("SELECT count(*) FROM entries WHERE search @@ to_tsquery('english', "
                                 f"'{picked[what]['value']}')")
            picked[what]["share"] = int(count) / self.total
        count = self.db.psql(f"SELECT count(*) FROM entries WHERE tags @> ARRAY['{picked['rare tag']['value']}']")
        picked["rare tag"]["share"] = int(count) / self.total
        if picked["absent word"]["share"]:
            raise SystemExit(f"the absent word {self.absent_word!r} is in some entries")
        return picked

    def run(self, password_hash: str) -> dict:
        started = time.monotonic()
        self.make_vocabulary()
        self.copy_users(password_hash)
        log(f"{len(self.users):,} users: " + ", ".join(f"{g.users:,} x {g.entries_each:,}" for g in self.groups))
        result = self.copy_entries()
        result["timings"]["total_s"] = time.monotonic() - started
        result["groups"] = [vars(g) for g in self.groups]
        return result

