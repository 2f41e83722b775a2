//! A parser for the Prometheus text exposition, and queries over the parsed samples.

use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One sample line of the text exposition.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed Prometheus text exposition.
#[derive(Debug)]
pub(crate) struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    pub(crate) fn parse(text: &str) -> Self {
        let mut types = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    types.insert(name.to_owned(), kind.to_owned());
                }
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            samples.push(parse_sample(line));
        }
        Self { types, samples }
    }

    pub(crate) fn type_of(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }

    pub(crate) fn samples(&self, name: &str) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of every sample of `name` whose labels include all of `labels`.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<f64> = self
            .samples(name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum())
    }

    /// The label names every sample of `name` carries, failing when samples disagree.
    pub(crate) fn label_names(&self, name: &str) -> BTreeSet<String> {
        let mut sets = self
            .samples(name)
            .map(|s| s.labels.keys().cloned().collect::<BTreeSet<_>>());
        let first = sets
            .next()
            .unwrap_or_else(|| panic!("no samples of {name}"));
        for other in sets {
            assert_eq!(
                other, first,
                "{name}: every sample has the same label names"
            );
        }
        first
    }

    pub(crate) fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.samples(name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }

    /// Every distinct label set of the request histogram, as `method route status`.
    pub(crate) fn request_series(&self) -> BTreeSet<String> {
        self.samples("http_server_request_duration_seconds_count")
            .map(|s| {
                let get = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
                format!("{} {} {}", get("method"), get("route"), get("status"))
            })
            .collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => panic!("a sample line without a value: {line}"),
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        // Label values may hold braces (`/api/v1/entries/{id}`) and escaped quotes.
        let mut chars = body.char_indices();
        let mut key = String::new();
        let end = loop {
            let (i, c) = chars
                .next()
                .unwrap_or_else(|| panic!("unclosed labels: {line}"));
            match c {
                '}' => break i + 1,
                ',' | ' ' => {}
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(other) => value.push(other),
                                None => panic!("bad escape: {line}"),
                            },
                            Some('"') => break,
                            Some(other) => value.push(other),
                            None => panic!("unterminated label value: {line}"),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        };
        rest = &body[end..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value {v:?}: {line}")),
    };
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}
