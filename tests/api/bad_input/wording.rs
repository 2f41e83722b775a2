//! Rejections read as instructions: the `detail` of a 400 or 422 says what to send instead, in
//! the API's words, and a body that is not JSON says where it stops being JSON.

use reqwest::{Method, StatusCode};

use super::send_raw;
use crate::support::{TestApp, assert_problem};

#[tokio::test]
async fn query_values_that_do_not_parse_are_explained_in_the_apis_words() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (query, detail) in [
        (
            "limit=abc",
            "limit must be a whole number between 1 and 100",
        ),
        ("limit=0", "limit must be a whole number between 1 and 100"),
        (
            "limit=99999999999999999999",
            "limit must be a whole number between 1 and 100",
        ),
        ("from=yesterday", "from must be a date written YYYY-MM-DD"),
        (
            "mood=fancy",
            "mood must be one of great, good, okay, bad, awful",
        ),
    ] {
        let response = app
            .as_user(&user, Method::GET, &format!("/api/v1/entries?{query}"))
            .send()
            .await
            .expect("list");
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["detail"], detail, "{query}: {problem}");
    }
}

#[tokio::test]
async fn an_unknown_query_parameter_names_the_accepted_ones() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let response = app
        .as_user(&user, Method::GET, "/api/v1/entries?colour=red")
        .send()
        .await
        .expect("list");
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(
        detail.starts_with("colour is not accepted here (accepted: limit, cursor,"),
        "{problem}"
    );
}

#[tokio::test]
async fn body_fields_of_the_wrong_kind_say_what_they_must_be() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    for (body, detail) in [
        (r#"{"content": 7}"#, "content must be a string"),
        (r#"{"title": "t"}"#, "content is required"),
        (r#"{"content": "c", "tags": "a"}"#, "tags must be a list"),
    ] {
        let response = send_raw(
            &app,
            Some(&user),
            Method::POST,
            "/api/v1/entries",
            Some("application/json"),
            body.to_owned(),
        )
        .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["detail"], detail, "{body}: {problem}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_says_the_line_and_column_where_it_breaks() {
    let app = TestApp::spawn().await;
    let user = app.user().await;
    let response = send_raw(
        &app,
        Some(&user),
        Method::POST,
        "/api/v1/entries",
        Some("application/json"),
        "{\n  \"content\": \"dear diary\",\n  mood: \"good\"\n}",
    )
    .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        problem["detail"],
        "the body is not valid JSON: an object key must be a string in double quotes \
         (line 3, column 3)",
        "{problem}"
    );
}
