# The production image of `echodiary`: the same image runs under Docker Compose (docker-compose.yml)
# and in Kubernetes (deploy/). Build it with the build identity CI knows:
#
#   docker build --build-arg VERSION=1.2.3 --build-arg GIT_SHA="$(git rev-parse HEAD)" -t echodiary .
#
# (plus --build-arg SOURCE_URL=<repository URL> where the repository is not the default below).
#
# Dependency caching: cargo-chef, not BuildKit cache mounts. A cache mount lives only on the builder
# that filled it; CI runners start empty, and the layer cache CI exports (GitHub Actions cache or a
# registry) carries image layers, never cache-mount contents. With cargo-chef the compiled
# dependency tree is an ordinary layer keyed on the recipe (manifests and Cargo.lock only), so any
# machine that restores the exported cache skips the ~6 minute dependency build until a dependency
# changes, and a plain `docker build` without BuildKit extras gets the same benefit.
#
# Base images are pinned by version tag (the Rust one moves together with rust-version in Cargo.toml):
# - rust:1.95.0-slim-bookworm: the toolchain Cargo.toml's rust-version names. Bookworm (Debian 12),
#   so the binary links against the same glibc as the runtime image; slim already has gcc and
#   libc6-dev, all that aws-lc-sys and ring need.
# - gcr.io/distroless/cc-debian12:nonroot: glibc, libgcc and CA certificates, no shell, no package
#   manager, uid 65532. Distroless publishes no version tags: "debian12" is the version, and
#   `nonroot` the variant; a deploy that must be byte-for-byte reproducible pins the digest
#   (`...:nonroot@sha256:...`, kept current by Dependabot/Renovate).

FROM rust:1.95.0-slim-bookworm AS chef
# cargo-chef pinned, and installed with its own lockfile.
ARG CARGO_CHEF_VERSION=0.1.77
RUN cargo install --locked --version "${CARGO_CHEF_VERSION}" cargo-chef \
    && rm -rf "${CARGO_HOME}/registry" "${CARGO_HOME}/git"
WORKDIR /app
# Queries are checked against the committed .sqlx/ data: the build never needs a database. (Also set
# in .cargo/config.toml; repeated here so the image does not depend on that file being present.)
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

# Stage 1: the recipe, a skeleton of the manifests. It changes only when dependencies do, which is
# what keeps the next stage's cook layer cached across source edits.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin echodiary

# Stage 2: dependencies (cached layer), then the service itself.
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin echodiary --recipe-path recipe.json
COPY . .
# Declared after the cook step on purpose: a new version or commit must not invalidate the
# dependency layer. build.rs makes cargo rebuild the crate when these change; they end up in
# `app_build_info`.
ARG VERSION=dev
ARG GIT_SHA=unknown
RUN ECHODIARY_VERSION="${VERSION}" ECHODIARY_GIT_SHA="${GIT_SHA}" \
        cargo build --release --locked --bin echodiary \
    && cp target/release/echodiary /usr/local/bin/echodiary

# Stage 3: the runtime: nothing but the binary (migrations and the API docs page are embedded).
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=dev
ARG GIT_SHA=unknown
ARG SOURCE_URL=https://github.com/echodiary/echodiary-backend
LABEL org.opencontainers.image.title="echodiary" \
      org.opencontainers.image.description="EchoDiary backend: a private diary API on PostgreSQL" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /usr/local/bin/echodiary /usr/local/bin/echodiary
# distroless's `nonroot` user, named by number (the base image already defaults to it): Kubernetes'
# runAsNonRoot can only verify a numeric user.
USER 65532:65532
# 8000: the public API, /docs, /openapi.json and health. 9000: the ops listener (/metrics and
# health), for Prometheus on an internal network only, never a public ingress.
EXPOSE 8000 9000
# Exec form: there is no shell in this image. `echodiary healthcheck` asks the ops port's
# /health/ready (database reachable, schema current, not shutting down) and exits 0 or 1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/echodiary", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/echodiary"]
CMD ["serve"]
