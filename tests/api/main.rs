//! Integration tests: the real service against a real PostgreSQL, over real sockets.
//! One binary, one module per area; each test gets its own database.

mod support;

mod account;
mod auth;
mod bad_input;
mod browser_headers;
mod cli;
mod connection_reuse;
mod credential_rotation;
mod database;
mod database_log;
mod deploy_config;
mod docs;
mod drills;
mod entries;
mod export_memory;
mod generated_client;
mod harness;
mod health;
mod lifecycle;
mod logs;
mod metrics;
mod openapi_exact;
mod pagination;
mod pagination_budget;
mod pagination_memory;
mod password_reset;
mod published_secrets;
mod request_ids;
mod serve_process;
mod sessions;
mod slow_clients;
mod throttle;
