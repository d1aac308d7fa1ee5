//! A form sent back with an error ties it to the field at fault: the error
//! above the form (`id="form-error"`, focused, announced) links to the
//! field, and the field carries `aria-invalid` and the error's id in
//! `aria-describedby`, on every form of every page. Errors about no one
//! field, or from a row's form whose names the page's own form shares, mark
//! nothing.

use reqwest::{Client, StatusCode};

use crate::helpers::*;

/// The one element marked as the error's field, as its start tag.
fn marked(page: &str) -> Option<&str> {
    let at = page.find(r#"id="invalid-field""#)?;
    assert_eq!(page.matches(r#"id="invalid-field""#).count(), 1, "one field is marked:\n{page}");
    let start = page[..at].rfind('<').expect("a tag");
    let end = at + page[at..].find('>').expect("the tag's end");
    Some(&page[start..=end])
}

/// Asserts `page` came back with an error about the field `name` (an
/// `<input>` or `<select>` of that name, or, for `fieldset:<legend>`, the
/// fieldset with that legend) and that the error links to it.
fn assert_marks(page: &str, name: &str, describedby: &str) {
    let tag = marked(page).unwrap_or_else(|| panic!("no field marked for {name}:\n{page}"));
    assert!(
        page.contains(r##"id="form-error" role="alert" tabindex="-1" autofocus><a href="#invalid-field">"##),
        "the error links to its field:\n{page}"
    );
    assert!(tag.contains(&format!(r#"aria-describedby="{describedby}""#)), "{name}: {tag}");
    if let Some(legend) = name.strip_prefix("fieldset:") {
        assert!(tag.starts_with("<fieldset"), "{name}: {tag}");
        let after = &page[page.find(tag).unwrap()..];
        assert!(after[..after.find("</legend>").unwrap()].ends_with(legend), "{name}: {tag}");
        assert!(!tag.contains("aria-invalid"), "a fieldset takes no aria-invalid: {tag}");
    } else {
        assert!(tag.contains(&format!(r#"name="{name}""#)), "{name}: {tag}");
        assert!(tag.contains(r#"aria-invalid="true""#), "{name}: {tag}");
    }
}

/// Submits `fields` to `action` from `page` and returns the page sent back.
async fn refused(app: &TestApp, client: &Client, page: &str, action: &str, fields: &[(&str, &str)]) -> String {
    let response = app.submit(client, page, action, fields).await;
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_client_error(), "{action} {fields:?}: {status}\n{body}");
    body
}

#[tokio::test]
async fn setup_marks_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let client = app.browser();
    let mut fields = vec![("email", "ada"), ("name", "Ada"), ("password", ADMIN_PASSWORD)];
    fields.push(("password_confirm", ADMIN_PASSWORD));
    let page = refused(&app, &client, "/setup", "/setup", &fields).await;
    assert_marks(&page, "email", "form-error");
    assert!(page.contains(r#"value="ada""#), "what was typed comes back");

    fields[0] = ("email", ADMIN_EMAIL);
    fields[3] = ("password_confirm", "another horse battery staple");
    let page = refused(&app, &client, "/setup", "/setup", &fields).await;
    assert_marks(&page, "password_confirm", "form-error");
}

#[tokio::test]
async fn a_failed_login_marks_no_field() {
    let app = TestApp::spawn().await;
    app.setup_admin().await;
    let client = app.browser();
    let page = refused(&app, &client, "/login", "/login", &[("email", ADMIN_EMAIL), ("password", "wrong")]).await;
    assert!(page.contains(r#"id="form-error" role="alert" tabindex="-1" autofocus>Wrong email or password."#));
    assert_eq!(marked(&page), None, "the error says which of the two is wrong to no one");
}

#[tokio::test]
async fn token_and_policy_forms_mark_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let new = "/settings/tokens/new";
    let perm = ("permission", "runs:read");
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 5] = [
        (&[("name", " "), perm], "name", "form-error name-help"),
        (&[("name", "ci"), ("expiration", "custom"), ("expires_on", ""), perm], "expires_on", "form-error"),
        (&[("name", "ci"), ("expiration", "3650"), perm], "expiration", "form-error"),
        (&[("name", "ci")], "fieldset:Permissions", "form-error"),
        (&[("name", "ci"), perm, ("project_scope", "selected")], "fieldset:Projects", "form-error"),
    ];
    for (fields, name, describedby) in cases {
        let page = refused(&app, &admin, new, "/settings/tokens", fields).await;
        assert_marks(&page, name, describedby);
    }

    let policy = "/settings/admin/policy";
    let fields =
        [("max_days", "0", ""), ("fixed_days", "many", ""), ("revoke_unused_after_days", "9999", " revoke-help")];
    for (field, value, help) in fields {
        let page = refused(&app, &admin, policy, policy, &[("mode", "user_choice"), (field, value)]).await;
        assert_marks(&page, field, &format!("form-error{help}"));
        assert!(page.contains(&format!(r#"value="{value}""#)), "{field}: what was typed comes back");
    }
}

#[tokio::test]
async fn project_forms_mark_the_field_at_fault() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let page = refused(&app, &admin, "/projects", "/projects", &[("name", "Web"), ("slug", "Not a slug")]).await;
    assert_marks(&page, "slug", "form-error");
    let created = app.submit(&admin, "/projects", "/projects", &[("name", "Web"), ("slug", "web")]).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let page = refused(&app, &admin, "/projects", "/projects", &[("name", "Web again"), ("slug", "web")]).await;
    assert_marks(&page, "slug", "form-error");

    // The settings page has two forms with a `name`: each marks its own.
    let settings = "/projects/web/settings";
    let page = refused(&app, &admin, settings, settings, &[("name", "Web"), ("default_branch", "")]).await;
    assert_marks(&page, "default_branch", "form-error branch-help");
    let page = refused(&app, &admin, settings, settings, &[("name", ""), ("default_branch", "main")]).await;
    assert_marks(&page, "name", "form-error");
    assert!(!marked(&page).unwrap().contains("CI upload"), "the project's name, not the new key's");
    let keys = "/projects/web/keys";
    let page = refused(&app, &admin, settings, keys, &[("name", ""), ("permission", "runs:write")]).await;
    assert_marks(&page, "name", "form-error");
    assert!(marked(&page).unwrap().contains("CI upload"), "the new key's name");
    let page = refused(&app, &admin, settings, keys, &[("name", "ci"), ("permission", "tokens:admin")]).await;
    assert_marks(&page, "fieldset:Permissions", "form-error");
    // A custom date past the policy's maximum is the date's fault, not the list's.
    let late = [("name", "ci"), ("permission", "runs:write"), ("expiration", "custom"), ("expires_on", "2999-12-31")];
    assert_marks(&refused(&app, &admin, settings, keys, &late).await, "expires_on", "form-error");
    // A key's own row form: the error shows, the new-key form is not marked.
    let made = app.submit(&admin, settings, keys, &[("name", "ci"), ("permission", "runs:write")]).await;
    assert_eq!(made.status(), StatusCode::OK, "the key's secret page");
    let body = app.get(&admin, settings).await.text().await.unwrap();
    let row = body
        .split("action=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|action| action.strip_prefix("/projects/web/keys/").is_some_and(|id| !id.contains('/')))
        .expect("a key row's edit form")
        .to_string();
    let page = refused(&app, &admin, settings, &row, &[("name", "ci"), ("permission", "tokens:admin")]).await;
    assert!(page.contains(r#"id="form-error""#) && page.contains("tokens:admin"), "{page}");
    assert_eq!(marked(&page), None);

    let publishers = "/projects/web/settings/publishers";
    let fields = [("issuer", "http://ci.example"), ("audience", "proctor"), ("permission", "runs:write")];
    let page = refused(&app, &admin, publishers, publishers, &fields).await;
    assert_marks(&page, "issuer", "form-error issuer-help");
    let mut fields = fields.to_vec();
    fields[0] = ("issuer", "https://ci.example");
    fields.push(("claim_name", ""));
    fields.push(("claim_glob", "acme/*"));
    let page = refused(&app, &admin, publishers, publishers, &fields).await;
    assert_marks(&page, "fieldset:Claims that must all match", "form-error");
    fields.truncate(3);
    fields.push(("claim_name", "repository"));
    fields.push(("claim_glob", "acme/web"));
    fields[1] = ("audience", "\u{7}");
    assert_marks(&refused(&app, &admin, publishers, publishers, &fields).await, "audience", "form-error audience-help");
    fields[1] = ("audience", "proctor");
    fields.push(("token_minutes", "forever"));
    assert_marks(
        &refused(&app, &admin, publishers, publishers, &fields).await,
        "token_minutes",
        "form-error minutes-help",
    );

    let hooks = "/projects/web/settings/webhooks";
    let page = refused(&app, &admin, hooks, hooks, &[("url", "ftp://hooks.example"), ("event", "run.finished")]).await;
    assert_marks(&page, "url", "form-error url-help");
    let page = refused(&app, &admin, hooks, hooks, &[("url", "https://hooks.example/x")]).await;
    assert_marks(&page, "fieldset:Events", "form-error");
    // A webhook's own page marks the fields of its edit form.
    let made = app.submit(&admin, hooks, hooks, &[("url", "https://hooks.example/x"), ("event", "run.finished")]).await;
    assert_eq!(made.status(), StatusCode::OK, "the webhook's secret page");
    let list = app.get(&admin, hooks).await.text().await.unwrap();
    let id = list[list.find("id=\"webhook-").expect("the webhook's row") + "id=\"webhook-".len()..]
        .split('"')
        .next()
        .unwrap();
    let hook = format!("{hooks}/{id}");
    let page =
        refused(&app, &admin, &hook, &hook, &[("url", "https://user:pw@hooks.example/x"), ("event", "run.finished")])
            .await;
    assert_marks(&page, "url", "form-error url-help");
}

#[tokio::test]
async fn people_forms_mark_the_field_at_fault_and_rows_do_not() {
    let app = TestApp::spawn().await;
    let admin = app.setup_admin().await;
    let users = "/settings/admin/users";
    let fields = [("email", "not-an-email"), ("name", "Bo"), ("role", "viewer"), ("password", PASSWORD)];
    let page = refused(&app, &admin, users, users, &fields).await;
    assert_marks(&page, "email", "form-error");
    let add_form = &page[page.find(r#"action="/settings/admin/users" class="row-form""#).expect("the add form")..];
    assert!(add_form.contains(r#"value="not-an-email""#) && add_form.contains(r#"<option value="viewer" selected>"#));
    let fields = [("email", ADMIN_EMAIL), ("name", "Bo"), ("role", "viewer"), ("password", PASSWORD)];
    assert_marks(&refused(&app, &admin, users, users, &fields).await, "email", "form-error");
    let fields = [("email", "bo@example.com"), ("name", "Bo"), ("role", "nobody"), ("password", PASSWORD)];
    assert_marks(&refused(&app, &admin, users, users, &fields).await, "role", "form-error");

    // A row's form: the error is shown, and no field of the add form is marked.
    app.create_user(&admin, "cy@example.com", "viewer").await;
    let id = app.account_id(&admin, users, "cy@example.com").await;
    let page = refused(&app, &admin, users, &format!("{users}/{id}"), &[("role", "nobody")]).await;
    assert!(page.contains(r#"id="form-error""#) && page.contains("nobody"), "{page}");
    assert_eq!(marked(&page), None);

    let accounts = "/settings/admin/service-accounts";
    let page = refused(&app, &admin, accounts, accounts, &[("name", " "), ("role", "member")]).await;
    assert_marks(&page, "name", "form-error");
    let page = refused(&app, &admin, accounts, accounts, &[("name", "ci-main"), ("role", "nobody")]).await;
    assert_marks(&page, "role", "form-error");

    let roles = "/settings/admin/roles";
    let page = refused(&app, &admin, roles, roles, &[("name", "Not A Name"), ("permission", "runs:read")]).await;
    assert_marks(&page, "name", "form-error");
    let made = app.submit(&admin, roles, roles, &[("name", "readers"), ("permission", "runs:read")]).await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let page = refused(&app, &admin, roles, roles, &[("name", "readers"), ("permission", "runs:read")]).await;
    assert_marks(&page, "name", "form-error");
}
