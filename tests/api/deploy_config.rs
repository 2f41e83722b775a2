//! The settings the deploy manifests hand the service are settings it knows: an unknown key stops
//! a pod at start-up (the configuration refuses unknown keys), so a misspelt or removed key in the
//! ConfigMap must fail here, not in a rollout.

use std::path::Path;

use echodiary::config::Settings;

/// `KEY: value` pairs of the ConfigMap's `data`, with YAML's quotes removed. The file is plain
/// `key: "value"` lines under `data:`, which is all this reads.
fn configmap_data(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).expect("the ConfigMap");
    text.lines()
        .skip_while(|line| line.trim_end() != "data:")
        .skip(1)
        .take_while(|line| line.starts_with("  ") || line.is_empty())
        .filter_map(|line| line.trim().split_once(": "))
        .filter(|(key, _)| !key.starts_with('#'))
        .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

#[test]
fn the_kubernetes_configmap_holds_only_settings_the_service_accepts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s/base/configmap.yaml");
    let data = configmap_data(&path);
    assert!(
        data.iter()
            .any(|(k, _)| k == "ECHODIARY__AUTH__LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS"),
        "{data:?}"
    );
    // The pods get the key from a mounted file; any long random value stands in for it here.
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let env = data.into_iter().chain([
        ("ECHODIARY__AUTH__JWT_SECRET".to_owned(), secret),
        (
            "DATABASE_URL".to_owned(),
            "postgres://app@db.internal/echodiary".to_owned(),
        ),
    ]);
    if let Err(e) = Settings::load_from(None, env) {
        panic!("the ConfigMap does not load: {e:#}");
    }
}
