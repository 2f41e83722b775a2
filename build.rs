//! Rebuilds when the build identity changes: `ECHODIARY_VERSION` and `ECHODIARY_GIT_SHA` are read
//! with `option_env!` into `app_build_info`, and cargo does not track those variables by itself.

fn main() {
    println!("cargo:rerun-if-env-changed=ECHODIARY_VERSION");
    println!("cargo:rerun-if-env-changed=ECHODIARY_GIT_SHA");
}
