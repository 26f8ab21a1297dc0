//! A person with a browser logs in through ESIA at the gateway.

use asurso_identity::harness::person;
use asurso_proto::identity as pb;
use reqwest::StatusCode;

use asurso_esia_dev::browser::{pick_person, redirect_target as location};

use crate::support::{CONFIRMED_PARENT, Esia, Stack, browser};

async fn register_parent(stack: &mut Stack, snils: &str) -> anyhow::Result<String> {
    let world = &mut stack.world;
    Ok(world
        .admin_a
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: world.school_a.to_string(),
            person: Some(person("Иванова", "Мария", snils, (1985, 3, 14))),
            role: pb::Role::Parent.into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .person
        .map(|person| person.id)
        .unwrap_or_default())
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_parent_logs_in_with_a_browser_and_out_again() -> anyhow::Result<()> {
    let stack = Stack::start(|_| {}).await?;
    log_in_and_out(stack).await
}

/// The same, with ESIA signing in GOST as the production one does: the
/// gateway's browser flow over identity signing through OpenSSL's GOST
/// engine and checking ESIA's GOST-signed id_token against its certificate.
#[tokio::test]
async fn a_parent_logs_in_with_a_browser_through_esia_in_gost() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("asurso-gateway-gost-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let stack = Stack::start_with(Esia::Gost(dir.clone()), |_| {}).await?;
    log_in_and_out(stack).await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Logs the confirmed demo parent in with a browser, looks around, renews
/// the session and logs out, ending the ESIA session too.
async fn log_in_and_out(mut stack: Stack) -> anyhow::Result<()> {
    let parent = register_parent(&mut stack, CONFIRMED_PARENT.1).await?;
    let browser = browser()?;

    let started = browser
        .get(format!(
            "{}/auth/esia/start?return_to=/diary",
            stack.gateway
        ))
        .send()
        .await?;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(&started);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("asurso_login=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    let at_esia = location(&started)?;
    assert!(
        at_esia.as_str().starts_with(&stack.esia.issuer()),
        "{at_esia}"
    );

    let back = pick_person(&browser, &at_esia, CONFIRMED_PARENT.0).await?;
    assert!(back.as_str().starts_with(&stack.gateway), "{back}");
    let landed = browser.get(back).send().await?;
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&landed)?.path(), "/diary");
    let cookies = set_cookies(&landed);
    for name in ["asurso_access=", "asurso_refresh="] {
        assert!(
            cookies
                .iter()
                .any(|c| c.starts_with(name) && c.contains("HttpOnly")),
            "{name} {cookies:?}"
        );
    }

    let session: serde_json::Value = browser
        .get(format!("{}/auth/session", stack.gateway))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(session["role"], "parent");
    assert_eq!(session["person_id"], parent.as_str());
    let home = browser
        .get(format!("{}/", stack.gateway))
        .send()
        .await?
        .text()
        .await?;
    assert!(home.contains("Вы вошли"), "{home}");

    let renewed = browser
        .post(format!("{}/auth/refresh", stack.gateway))
        .header("origin", &stack.gateway)
        .send()
        .await?;
    assert_eq!(renewed.status(), StatusCode::NO_CONTENT);

    let out = browser
        .post(format!("{}/auth/logout", stack.gateway))
        .header("origin", &stack.gateway)
        .send()
        .await?;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    // The session came through ESIA: the browser goes on to end it there,
    // and ESIA sends it back to the region's front page.
    let at_esia = location(&out)?;
    assert!(
        at_esia
            .as_str()
            .starts_with(&format!("{}idp/ext/Logout?", stack.esia.issuer())),
        "{at_esia}"
    );
    let query: std::collections::HashMap<String, String> =
        at_esia.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("redirect_url"),
        Some(&format!("{}/", stack.gateway))
    );
    let home_again = browser.get(at_esia).send().await?;
    assert_eq!(
        location(&home_again)?.as_str(),
        format!("{}/", stack.gateway)
    );
    let after = browser
        .get(format!("{}/auth/session", stack.gateway))
        .send()
        .await?;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    stack.stop().await
}

#[tokio::test]
async fn a_callback_carried_to_another_browser_does_not_log_it_in() -> anyhow::Result<()> {
    let mut stack = Stack::start(|_| {}).await?;
    register_parent(&mut stack, CONFIRMED_PARENT.1).await?;
    let victim = browser()?;
    let started = victim
        .get(format!("{}/auth/esia/start", stack.gateway))
        .send()
        .await?;
    let back = pick_person(&victim, &location(&started)?, CONFIRMED_PARENT.0).await?;

    let other = browser()?;
    let refused = other.get(back.clone()).send().await?;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await?.contains("другом браузере"));
    let session = other
        .get(format!("{}/auth/session", stack.gateway))
        .send()
        .await?;
    assert_eq!(session.status(), StatusCode::UNAUTHORIZED);

    // The browser that started it still finishes it.
    let landed = victim.get(back).send().await?;
    assert_eq!(landed.status(), StatusCode::SEE_OTHER);
    stack.stop().await
}

#[tokio::test]
async fn an_unconfirmed_account_is_told_how_to_confirm_it() -> anyhow::Result<()> {
    let mut stack = Stack::start(|_| {}).await?;
    let unconfirmed = ("1000000002", "456-789-123 44");
    register_parent(&mut stack, unconfirmed.1).await?;
    let browser = browser()?;
    let started = browser
        .get(format!("{}/auth/esia/start", stack.gateway))
        .send()
        .await?;
    let back = pick_person(&browser, &location(&started)?, unconfirmed.0).await?;
    let page = browser.get(back).send().await?;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    let text = page.text().await?;
    assert!(text.contains("not confirmed"), "{text}");
    stack.stop().await
}
