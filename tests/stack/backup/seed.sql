-- The awkward rows a year of use leaves: unicode, tag arrays, moods, NULLs, edits and deletions,
-- dates across 25 years. Deterministic (ids from md5), so runs compare. psql variables: users, entries.
BEGIN;
INSERT INTO users (id, email, password_hash, display_name, created_at)
SELECT md5('roundtrip-user-' || i)::uuid,
       format('user%s@example.org', i),
       format('$argon2id$v=19$m=19456,t=2,p=1$%s$%s',
              rtrim(encode(sha256(convert_to('salt' || i, 'UTF8')), 'base64'), '='),
              rtrim(encode(sha256(convert_to('hash' || i, 'UTF8')), 'base64'), '=')),
       CASE WHEN i % 7 = 0 THEN NULL
            ELSE (ARRAY['Zoë Ångström', 'Łukasz Żółć', 'Siobhán Ní Bhriain', '田中 はなこ', 'Мария Иванова',
                        'محمد الأحمد', 'O''Brien', 'José "Pepe" Núñez', 'Ñandú 🐦‍🔥', 'back\slash; semi;colon'
                       ])[1 + i % 10] END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '3 hours 17 minutes 0.123456 seconds'
FROM generate_series(1, :users) AS i;

-- Users above 60 keep no entries at all.
INSERT INTO entries (id, user_id, title, content, mood, tags, entry_date, created_at, updated_at, version)
SELECT md5('roundtrip-entry-' || i)::uuid,
       md5('roundtrip-user-' || (1 + i % 60))::uuid,
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE (ARRAY['Morning pages', 'Café au lait ☕', 'Über den Wolken', '晴れの日', 'Тихий вечер',
                        'יום טוב', 'Quotes "double" and ''single''', E'Tab\tinside', 'Family 👩‍👩‍👧‍👦',
                        U&'e\0301 combining'])[1 + i % 10] || ' #' || i END,
       concat_ws(E'\n',
                 (ARRAY['Ran 5 km before breakfast; legs complained.',
                        'Schrödinger''s cat: alive in the morning, unsure by night.',
                        '今日は雨でしたが、散歩に行きました。',
                        'Сегодня был длинный день, но хороший.',
                        'كان يوماً جميلاً مع العائلة',
                        'Line with a backslash \ and a percent % and an underscore _',
                        E'Carriage\r\nreturn and a NUL-free control char \x01 here',
                        'JSON-ish {"mood": "good", "tags": ["a", "b"]} in plain text'])[1 + i % 8],
                 CASE WHEN i % 3 = 0 THEN 'A second paragraph about ' || (ARRAY['work', 'travel', 'books'])[1 + i % 3] END,
                 CASE WHEN i % 97 = 0 THEN repeat('long text ', 1999) END),
       (ARRAY['great', 'good', 'okay', 'bad', 'awful', NULL])[1 + i % 6],
       CASE i % 6
            WHEN 0 THEN '{}'::text[]
            WHEN 1 THEN ARRAY['work']
            WHEN 2 THEN ARRAY['family', 'travel ✈️']
            WHEN 3 THEN ARRAY['with,comma', 'with "quote"', 'NULL', '{braces}', 'back\slash']
            WHEN 4 THEN ARRAY['日記', 'ψυχή', 'x', 'a tag that is exactly 32 chars!!']
            ELSE ARRAY['health', 'running', 'sleep', 'food', 'mood', 'books', 'music', 'friends', 'rain', 'sun']
       END,
       CASE WHEN i % 500 = 0 THEN date '2024-02-29' ELSE date '2001-01-01' + (i * 37) % 9300 END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes 3.000001 seconds',
       timestamptz '2024-01-01 00:00:00+00' + i * interval '17 minutes 3.000001 seconds',
       1
FROM generate_series(1, :entries) AS i;

-- Edits and deletions, as a year of use leaves them (of these rows only: the API user's entry must
-- read back exactly as it was written).
UPDATE entries SET content = content || E'\n\n(edited)', version = version + 1 + get_byte(decode(md5(id::text), 'hex'), 1) % 3,
                   updated_at = updated_at + interval '2 days 3 hours'
 WHERE get_byte(decode(md5(id::text), 'hex'), 0) < 40 AND user_id IN (SELECT id FROM users WHERE email LIKE 'user%');
DELETE FROM entries
 WHERE get_byte(decode(md5(id::text), 'hex'), 0) >= 250 AND user_id IN (SELECT id FROM users WHERE email LIKE 'user%');
COMMIT;
ANALYZE;
