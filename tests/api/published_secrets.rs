//! No signing key printed anywhere in the repository works in production: every value a file
//! assigns to a JWT secret (Compose, `.env.example`, docs, manifests, scripts, tests) is refused by
//! production mode. The next person who prints a key in an example gets a failing test here.

use std::path::{Path, PathBuf};

use echodiary::config::Settings;

/// Directories that hold no source of the repository's own.
const SKIPPED: &[&str] = &["target", ".git", "node_modules", ".dev", ".sqlx"];

fn files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !SKIPPED.iter().any(|s| name == *s) {
                files(&path, found);
            }
        } else {
            found.push(path);
        }
    }
}

/// Values a line gives a JWT secret: `KEY=value`, `KEY: value`, `${VAR:-value}` defaults, and
/// quoted strings on the same line. Names, paths and expressions are not keys and are skipped.
fn assigned_values(line: &str) -> Vec<String> {
    let mut values = Vec::new();
    for separator in ["=", ": ", ":-"] {
        for (_, rest) in line.match_indices(separator).map(|(i, _)| line.split_at(i)) {
            let value = rest[separator.len()..]
                .trim()
                .trim_start_matches(['"', '\''])
                .split(['"', '\'', '}', ' ', ',', ')'])
                .next()
                .unwrap_or_default();
            values.push(value.to_owned());
        }
    }
    values.extend(line.split('"').skip(1).step_by(2).map(str::to_owned));
    values
        .into_iter()
        // A generated key is one word; a quoted sentence near the name (a test's expected
        // message, say) is not a key.
        .filter(|v| v.len() >= 8 && !v.contains(['$', '{', '/', '&', '(', '.', ' ']))
        .filter(|v| !v.starts_with("ECHODIARY") && !v.to_ascii_uppercase().ends_with("JWT_SECRET"))
        .collect()
}

#[test]
fn no_signing_key_printed_in_the_repository_is_accepted_in_production() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(root, &mut all);
    let mut candidates = Vec::new();
    for path in all {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            // `JWT_SECRET=`, `jwt_secret:`, and a Kubernetes Secret's `jwt-secret:` key.
            if !line
                .to_ascii_uppercase()
                .replace('-', "_")
                .contains("JWT_SECRET")
            {
                continue;
            }
            // The value may sit on the next lines, as formatted Rust or YAML puts it.
            let near = lines[at..lines.len().min(at + 3)].join(" ");
            for value in assigned_values(&near) {
                candidates.push((path.strip_prefix(root).unwrap_or(&path).to_owned(), value));
            }
        }
    }
    // The keys of earlier Compose files and of the local cluster's Secret are among them, so the
    // scan does see assignments of both forms.
    for printed in [
        "compose-development-only-jwt-secret-not-for-real-use",
        "local-k3s-development-only-jwt-secret-not-for-real-use",
    ] {
        assert!(
            candidates.iter().any(|(_, v)| v == printed),
            "{candidates:?}"
        );
    }
    for (path, key) in candidates {
        let accepted = Settings::load_from(
            None,
            [
                ("ECHODIARY__ENVIRONMENT".to_owned(), "production".to_owned()),
                ("ECHODIARY__AUTH__JWT_SECRET".to_owned(), key.clone()),
            ],
        );
        assert!(
            accepted.is_err(),
            "{}: production accepts the printed key {key:?}",
            path.display()
        );
    }
}
