//! What a person does with their own account beyond reading it: the profile (display name,
//! sign-in email), the password, deleting the account, exporting everything. It sits above
//! `users` (the records), `auth` (passwords, sessions) and `entries` (the export), the one module
//! that needs all three, so none of those needs another.

mod credentials;
mod export;
mod profile;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(profile::router())
        .merge(credentials::router())
        .merge(export::router())
}
