//! Rebuilds when the build identity changes: `ECHODIARY_VERSION` and `ECHODIARY_GIT_SHA` are read
//! with `option_env!` into `app_build_info`, and cargo does not track those variables by itself;
//! and when a migration is added or edited, since `sqlx::migrate!` embeds `migrations/` through a
//! macro whose reads cargo does not see.

fn main() {
    println!("cargo:rerun-if-env-changed=ECHODIARY_VERSION");
    println!("cargo:rerun-if-env-changed=ECHODIARY_GIT_SHA");
    println!("cargo:rerun-if-changed=migrations");
}
