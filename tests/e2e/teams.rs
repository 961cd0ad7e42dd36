//! Teams (issue 11): invitations, memberships and switching, removal, leaving, the last owner.
//! Helpers here are shared by the role matrix, password, deletion and audit tests.

use amolink_tests::{Browser, Engine, TestApp, both_engines, html_unescape, spawn_app};
use chrono::Duration;

pub const PASSWORD: &str = "correct horse battery";

/// Text between `start` and the next `end`.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let to = html[from..].find(end)? + from;
    Some(&html[from..to])
}

/// Invites `email` with `role` from the team page of `admin`; answers the link shown to copy.
pub async fn invite(admin: &Browser, email: &str, role: &str) -> String {
    let res = admin
        .submit(
            "/settings/team",
            "/settings/team/invites",
            &[("email", email), ("role", role)],
        )
        .await;
    assert_eq!(res.status(), 200, "invitation of {email} as {role}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    html_unescape(
        between(&html, "<code id=\"invite-link\">", "</code>").expect("the link is shown"),
    )
}

/// The path and query of an absolute link (`/invite?token=…`).
pub fn local(link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// The path of an absolute link.
pub fn local_path(link: &str) -> String {
    url::Url::parse(link).unwrap().path().to_owned()
}

/// The `token` of a link.
pub fn token_of(link: &str) -> String {
    url::Url::parse(link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("a token")
}

/// Opens an invitation link in `browser` and accepts it with `password` (empty when signed in).
pub async fn accept(browser: &Browser, link: &str, password: &str) -> reqwest::Response {
    let page = browser.get(&local(link)).await;
    assert_eq!(page.status(), 200, "the invitation page opens");
    let token = amolink_tests::csrf_token_in(&page.text().await.unwrap()).unwrap();
    browser
        .post_form(
            "/invite",
            &[
                ("csrf_token", &token),
                ("token", &token_of(link)),
                ("password", password),
            ],
        )
        .await
}

/// `email` joins through `link` in a new browser (signing up), which answers signed in.
pub async fn join(app: &TestApp, link: &str) -> Browser {
    let browser = app.browser();
    let res = accept(&browser, link, PASSWORD).await;
    assert_eq!(res.status(), 303, "joined through {link}");
    assert_eq!(res.headers()["location"], "/dashboard");
    browser
}

/// Invites `email` as `role` and has them join; answers their browser.
pub async fn add_member(app: &TestApp, admin: &Browser, email: &str, role: &str) -> Browser {
    let link = invite(admin, email, role).await;
    join(app, &link).await
}

/// The user id of `email` on the team page of `browser`.
pub async fn member_id(browser: &Browser, email: &str) -> String {
    let html = browser.get_html("/settings/team").await;
    html.split("<tr data-member=\"")
        .skip(1)
        .find(|row| row.split("</tr>").next().is_some_and(|r| r.contains(email)))
        .and_then(|row| row.split('"').next())
        .unwrap_or_else(|| panic!("{email} is on the team page"))
        .to_owned()
}

/// The role `email` has, as the team page shows it.
pub async fn role_of(browser: &Browser, email: &str) -> String {
    let html = browser.get_html("/settings/team").await;
    let row = html
        .split("<tr data-member=\"")
        .skip(1)
        .find(|row| row.split("</tr>").next().is_some_and(|r| r.contains(email)))
        .unwrap_or_else(|| panic!("{email} is on the team page"));
    between(row, "<span class=\"badge\">", "</span>")
        .map(str::to_owned)
        .or_else(|| between(row, "selected>", "</option>").map(str::to_owned))
        .unwrap()
}

/// The workspace switcher's entries: (workspace id, whether it is the current one).
pub fn switcher(html: &str) -> Vec<(String, bool)> {
    let Some(select) = between(html, "<select id=\"workspace-switch\"", "</select>") else {
        return Vec::new();
    };
    select
        .split("<option value=\"")
        .skip(1)
        .filter_map(|option| {
            let id = option.split('"').next()?;
            Some((
                id.to_owned(),
                option.starts_with(&format!("{id}\" selected")),
            ))
        })
        .collect()
}

/// The workspace a browser is in, as the header shows it.
pub async fn workspace_shown(browser: &Browser) -> String {
    let html = browser.get_html("/dashboard").await;
    html_unescape(between(&html, "<h1>", "</h1>").unwrap_or_default())
}

async fn an_invitation_works_once_and_only_for_the_invited_address(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let link = invite(&ann, "carol@example.com", "developer").await;
    assert!(
        link.starts_with(&format!("{}/invite?token=", app.address)),
        "{link}"
    );

    // Someone signed in with another address cannot use it.
    let eve = app.signed_in_browser("eve@example.com", "Eve Ltd").await;
    let page = eve.get(&local(&link)).await;
    assert_eq!(page.status(), 403);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("for another e-mail address")
    );
    let token = eve.csrf_token("/dashboard").await;
    let res = eve
        .post_form(
            "/invite",
            &[
                ("csrf_token", &token),
                ("token", &token_of(&link)),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 403, "accepting as another account is refused");

    // Carol has no account: the link signs her up and puts her in the workspace.
    let carol = join(&app, &link).await;
    assert_eq!(workspace_shown(&carol).await, "Acme");
    assert_eq!(role_of(&ann, "carol@example.com").await, "developer");

    // Once only, whoever tries.
    let again = app.browser().get(&local(&link)).await;
    assert_eq!(again.status(), 410);
    assert!(again.text().await.unwrap().contains("already used"));
    let res = accept_without_page(&app.browser(), &link).await;
    assert_eq!(res.status(), 410);

    // Carol can log in with the password she chose.
    let res = app.browser().log_in("carol@example.com", PASSWORD).await;
    assert_eq!(res.status(), 303);

    // An unknown token is simply not found.
    let res = app.browser().get("/invite?token=not-a-real-token").await;
    assert_eq!(res.status(), 404);
}

/// Posts the acceptance form with a fresh token, without opening the (refusing) page first.
async fn accept_without_page(browser: &Browser, link: &str) -> reqwest::Response {
    let token = browser.csrf_token("/login").await;
    browser
        .post_form(
            "/invite",
            &[
                ("csrf_token", &token),
                ("token", &token_of(link)),
                ("password", PASSWORD),
            ],
        )
        .await
}

async fn an_existing_account_joins_with_its_password_or_its_session(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let dave = app.signed_in_browser("dave@example.com", "Dave Co").await;

    // Signed in as the invited address: one click.
    let link = invite(&ann, "dave@example.com", "viewer").await;
    let res = accept(&dave, &link, "").await;
    assert_eq!(res.status(), 303);
    assert_eq!(workspace_shown(&dave).await, "Acme", "the session moved in");
    assert_eq!(role_of(&ann, "dave@example.com").await, "viewer");

    // Not signed in: the existing account's password, not a new one.
    let frank = app.signed_in_browser("frank@example.com", "Frank Co").await;
    frank.log_out().await;
    let link = invite(&ann, "frank@example.com", "admin").await;
    let stranger = app.browser();
    let res = accept(&stranger, &link, "a brand new password").await;
    assert_eq!(
        res.status(),
        401,
        "a wrong password does not take over the account"
    );
    let res = accept(&stranger, &link, PASSWORD).await;
    assert_eq!(res.status(), 303);
    // Frank now belongs to two workspaces and switches between them.
    let html = stranger.get_html("/dashboard").await;
    assert!(
        html.contains("Frank Co") && html.contains("Acme"),
        "both in the switcher"
    );
    let choices = switcher(&html);
    assert_eq!(choices.len(), 2);
    let target = choices
        .iter()
        .find(|(_, current)| !current)
        .map(|(id, _)| id.clone())
        .unwrap();
    let before = workspace_shown(&stranger).await;
    let res = stranger
        .submit(
            "/dashboard",
            "/workspaces/switch",
            &[("workspace", &target)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_ne!(workspace_shown(&stranger).await, before, "switched");
    // Nobody switches into a workspace they do not belong to.
    let res = dave
        .submit(
            "/dashboard",
            "/workspaces/switch",
            &[("workspace", &uuid::Uuid::new_v4().to_string())],
        )
        .await;
    assert_eq!(res.status(), 404);
}

async fn expired_and_revoked_invitations_say_so(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let revoked = invite(&ann, "gina@example.com", "viewer").await;
    let team = ann.get_html("/settings/team").await;
    let id = between(&team, "action=\"/settings/team/invites/", "/revoke\"")
        .unwrap()
        .to_owned();
    let res = ann
        .submit(
            "/settings/team",
            &format!("/settings/team/invites/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = app.browser().get(&local(&revoked)).await;
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("was revoked"));
    assert_eq!(
        accept_without_page(&app.browser(), &revoked).await.status(),
        410
    );

    // A fresh invitation to the same address replaces an older one.
    let first = invite(&ann, "hugo@example.com", "viewer").await;
    let second = invite(&ann, "hugo@example.com", "developer").await;
    assert_eq!(app.browser().get(&local(&first)).await.status(), 410);
    assert_eq!(app.browser().get(&local(&second)).await.status(), 200);

    // Seven days later the link has expired (ann signs in again after the idle timeout).
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    let page = app.browser().get(&local(&second)).await;
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("has expired"));
    assert_eq!(
        accept_without_page(&app.browser(), &second).await.status(),
        410
    );
}

async fn a_removed_member_is_out_at_once_and_a_workspace_keeps_an_owner(engine: Engine) {
    let app = spawn_app(engine).await;
    let ann = app.signed_in_browser("ann@example.com", "Acme").await;
    let ivan = add_member(&app, &ann, "ivan@example.com", "admin").await;
    let jo = add_member(&app, &ann, "jo@example.com", "developer").await;
    // Jo also has a workspace of her own; removal ends only her Acme sessions.
    let jo_elsewhere = app.signed_in_browser("jo-own@example.com", "Jo Own").await;
    assert_eq!(jo.get("/settings/api-keys").await.status(), 200);

    // An admin cannot remove or demote an owner, or make anyone an owner.
    let ann_id = member_id(&ivan, "ann@example.com").await;
    let jo_id = member_id(&ivan, "jo@example.com").await;
    let res = ivan
        .submit(
            "/settings/team",
            &format!("/settings/team/members/{ann_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = ivan
        .submit(
            "/settings/team",
            &format!("/settings/team/members/{jo_id}/role"),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(res.status(), 403);

    // Ivan removes Jo: her next request in Acme is a sign-in page.
    let res = ivan
        .submit(
            "/settings/team",
            &format!("/settings/team/members/{jo_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = jo.get("/settings/api-keys").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(jo_elsewhere.get("/dashboard").await.status(), 200);

    // The only owner cannot leave or be demoted; after handing ownership on she can.
    let res = ann
        .submit("/settings/team", "/settings/team/leave", &[])
        .await;
    assert_eq!(res.status(), 409);
    let ivan_id = member_id(&ann, "ivan@example.com").await;
    let res = ann
        .submit(
            "/settings/team",
            &format!("/settings/team/members/{ivan_id}/transfer"),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(role_of(&ivan, "ivan@example.com").await, "owner");
    assert_eq!(role_of(&ivan, "ann@example.com").await, "admin");
    let res = ann
        .submit("/settings/team", "/settings/team/leave", &[])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/workspaces/new",
        "no workspace left"
    );
    // With no workspace, Ann can create one and is its owner.
    let res = ann
        .submit("/workspaces/new", "/workspaces", &[("name", "Ann Again")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(workspace_shown(&ann).await, "Ann Again");
    // Ivan, now the only owner, cannot step down either.
    let res = ivan
        .submit("/settings/team", "/settings/team/leave", &[])
        .await;
    assert_eq!(res.status(), 409);
}

/// The memberships migration moves every existing user into an owner membership of the
/// workspace they had, and drops the old columns.
async fn existing_users_become_owners_of_their_workspace(engine: Engine) {
    use domain::{
        accounts::{Email, Role},
        ids::{UserId, WorkspaceId},
        ports::AccountRepository as _,
    };
    use migrations::MigratorTrait as _;
    use sea_orm::{ConnectionTrait as _, Statement};

    let scratch = amolink_tests::fresh_database(engine, "migrate").await;
    let database = persistence::Database::connect(scratch.database_url())
        .await
        .unwrap();
    let db = database.connection();
    let before = migrations::Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261206_110001_memberships")
        .unwrap();
    migrations::Migrator::up(db, Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    let (workspace, user) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let sql = |sqlite: &str| match engine {
        Engine::Sqlite => sqlite.to_owned(),
        Engine::Postgres => {
            let mut n = 0;
            sqlite
                .chars()
                .map(|c| {
                    if c == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)"),
        [
            workspace.into(),
            "Old Co".into(),
            1_700_000_000_000_i64.into(),
        ],
    ))
    .await
    .unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql(
            "INSERT INTO users (id, workspace_id, email, password_hash, role, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        ),
        [
            user.into(),
            workspace.into(),
            "old@example.com".into(),
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
            "owner".into(),
            1_700_000_000_000_i64.into(),
        ],
    ))
    .await
    .unwrap();

    migrations::Migrator::up(db, None).await.unwrap();

    let member = database
        .member(UserId::from_uuid(user), WorkspaceId::from_uuid(workspace))
        .await
        .unwrap()
        .expect("the user is a member of their workspace");
    assert_eq!(member.role, Role::Owner);
    assert_eq!(member.workspace_name, "Old Co");
    let credentials = database
        .credentials(&Email::parse("old@example.com").unwrap())
        .await
        .unwrap()
        .expect("the login survived");
    assert!(credentials.password_hash.starts_with("$argon2id$"));
    assert!(
        db.execute_unprepared("SELECT workspace_id FROM users")
            .await
            .is_err(),
        "users.workspace_id is gone"
    );
    database.close().await.unwrap();
    drop(scratch);
}

both_engines!(
    existing_users_become_owners_of_their_workspace,
    an_invitation_works_once_and_only_for_the_invited_address,
    an_existing_account_joins_with_its_password_or_its_session,
    expired_and_revoked_invitations_say_so,
    a_removed_member_is_out_at_once_and_a_workspace_keeps_an_owner,
);
