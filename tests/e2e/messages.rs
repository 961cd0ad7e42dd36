//! Messages as codes (issue 10): the domain refuses with a stable code and its parameters; the
//! API's problem documents carry the code (and each refused field's), and pages render the same
//! code in the reader's language.

use amolink_tests::{Engine, Page, both_engines, spawn_app};
use reqwest::Method;
use serde_json::json;

use crate::{
    api::{Api, problem},
    api_keys::tenant_with_key,
};

async fn api_refusals_carry_their_codes(engine: Engine) {
    let app = spawn_app(engine).await;
    let (ann, key) = tenant_with_key(&app, "ann@example.com").await;
    let api = Api::new(&app, &key);

    let res = api
        .call(
            Method::POST,
            "/connect-sessions",
            Some(json!({"end_user_id": "x".repeat(256)})),
        )
        .await;
    let body = problem(res, 400).await;
    assert_eq!(body["code"], "end-user-id-too-long");
    assert_eq!(
        body["detail"],
        "end_user_id: end_user_id must be at most 255 characters"
    );
    assert_eq!(
        body["errors"],
        json!([{
            "field": "end_user_id",
            "code": "end-user-id-too-long",
            "detail": "end_user_id must be at most 255 characters",
        }])
    );

    // Without a domain message the code is the problem's kind, and no field list is sent.
    let missing = uuid::Uuid::new_v4();
    let res = api
        .call(Method::GET, &format!("/connections/{missing}"), None)
        .await;
    let body = problem(res, 404).await;
    assert_eq!(body["code"], "not-found");
    assert!(body.get("errors").is_none(), "{body}");
    drop(ann);
}

both_engines!(api_refusals_carry_their_codes);

/// The sign-up form's refusal, in Russian and in English, from the same code.
async fn a_refused_form_speaks_the_readers_language(engine: Engine) {
    let app = spawn_app(engine).await;
    for (lang, expected) in [
        ("ru", "В адресе электронной почты нужен символ @."),
        ("en", "An email address needs an @."),
    ] {
        let browser = app.browser();
        assert_eq!(
            browser.get(&format!("/language/{lang}")).await.status(),
            303
        );
        let res = browser
            .sign_up("no-at-sign.example.com", "correct horse battery", "Acme")
            .await;
        assert_eq!(res.status(), 400, "{lang}");
        let page = Page::parse(&res.text().await.unwrap());
        assert_eq!(
            page.text("#email-error").as_deref(),
            Some(expected),
            "{lang}"
        );
    }
}

both_engines!(a_refused_form_speaks_the_readers_language);
