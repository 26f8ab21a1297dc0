//! The apps' login at /webapi over real HTTP: an app password made on the
//! site's page after an ESIA login (shown once, refused from another
//! site's form, revoked there) opens a session (header `at` or cookie `NSSESSIONID`); a
//! wrong password and a reused salt are refused with the words the apps
//! sort by; a revoked app password ends the session within seconds; a
//! flood of logins is throttled.

use std::time::Duration;

use asurso_esia_dev::browser::{pick_person, redirect_target};
use asurso_identity::harness::person;
use asurso_proto::identity as pb;
use asurso_testkit::{database::TestDatabase, eventually};
use md5::{Digest, Md5};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{CONFIRMED_PARENT, Stack, browser};

struct AppPassword {
    login: String,
    password: String,
}

fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// `auth/getdata`: the salt and the fields to send back.
async fn get_data(http: &reqwest::Client, base: &str) -> anyhow::Result<reqwest::Response> {
    Ok(http
        .post(format!("{base}/webapi/auth/getdata"))
        .send()
        .await?)
}

/// `login` as the apps post it, with the salt of `meta`.
async fn post_login(
    http: &reqwest::Client,
    base: &str,
    meta: &Value,
    school: i64,
    login: &str,
    password: &str,
    agent: &str,
) -> anyhow::Result<reqwest::Response> {
    let salt = meta["salt"].as_str().unwrap_or_default();
    let pw2 = md5_hex(format!("{salt}{}", md5_hex(password.as_bytes())).as_bytes());
    let pw = pw2.chars().take(password.len()).collect::<String>();
    let form = [
        ("loginType", "1".to_owned()),
        ("scid", school.to_string()),
        ("un", login.to_owned()),
        ("pw", pw),
        ("pw2", pw2),
        ("lt", meta["lt"].as_str().unwrap_or_default().to_owned()),
        ("ver", meta["ver"].as_str().unwrap_or_default().to_owned()),
    ];
    Ok(http
        .post(format!("{base}/webapi/login"))
        .header("user-agent", agent)
        .form(&form)
        .send()
        .await?)
}

async fn json(response: reqwest::Response) -> anyhow::Result<(StatusCode, Value)> {
    let status = response.status();
    Ok((status, response.json().await?))
}

#[tokio::test]
async fn an_app_logs_in_with_an_app_password_until_it_is_revoked() -> anyhow::Result<()> {
    let database = TestDatabase::create(&[]).await?;
    let url = database.url.clone();
    let mut stack = Stack::start(move |settings| {
        settings.database.url = Some(url.into());
        // Room for the test's own logins, then a flood.
        settings.limits.login_burst = 16;
        settings.limits.login_per_minute = 1;
    })
    .await?;
    let base = stack.gateway.clone();
    let world = &mut stack.world;
    world
        .admin_a
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: world.school_a.to_string(),
            person: Some(person(
                "Иванова",
                "Мария",
                CONFIRMED_PARENT.1,
                (1985, 3, 14),
            )),
            role: pb::Role::Parent.into(),
            idempotency_key: String::new(),
        })
        .await?;

    // The parent logs in through ESIA and makes an app password.
    let browser = browser()?;
    let started = browser
        .get(format!("{base}/auth/esia/start"))
        .send()
        .await?;
    let back = pick_person(&browser, &redirect_target(&started)?, CONFIRMED_PARENT.0).await?;
    let landed = browser.get(back).send().await?;
    anyhow::ensure!(landed.status().is_redirection(), "{}", landed.status());

    // The parent makes an app password on the site's page; it is shown
    // once, with the login to type into the app.
    let page = browser
        .get(format!("{base}/apps"))
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains("Паролей приложений пока нет"), "{page}");
    let made = browser
        .post(format!("{base}/apps"))
        .form(&[("name", "Бот в мессенджере")])
        .send()
        .await?;
    assert_eq!(made.status(), StatusCode::OK);
    let made = made.text().await?;
    let shown: Vec<&str> = made
        .split("<code>")
        .skip(1)
        .filter_map(|part| part.split("</code>").next())
        .collect();
    let (login, password) = match shown.as_slice() {
        [_site, login, password] => ((*login).to_owned(), (*password).to_owned()),
        _ => anyhow::bail!("the page does not show the address, login and password: {made}"),
    };
    assert!(login.starts_with("app-"), "{login}");
    assert_eq!(password.len(), 21, "{password}");
    // Another site's form is refused and makes nothing.
    let forged = browser
        .post(format!("{base}/apps"))
        .header("origin", "https://evil.example")
        .form(&[("name", "чужой")])
        .send()
        .await?;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let page = browser
        .get(format!("{base}/apps"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        page.contains("Бот в мессенджере") && !page.contains("чужой"),
        "{page}"
    );
    let revoke_path = page
        .split("action=\"")
        .filter_map(|part| part.split('"').next())
        .find(|path| path.ends_with("/revoke"))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no revoke button: {page}"))?;
    let app = AppPassword { login, password };

    // The app: the login page's settings and cookie, a salt, the login.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let (status, settings) =
        json(http.get(format!("{base}/webapi/logindata")).send().await?).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["schoolLogin"], true);
    // The school is picked from the public list, by its short name.
    let (status, schools) = json(
        http.get(format!("{base}/webapi/schools/search"))
            .send()
            .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let school = schools
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["shortName"] == "Школа № 1")
        .and_then(|s| s["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("Школа № 1 is not listed: {schools}"))?;
    let (_, meta) = json(get_data(&http, &base).await?).await?;
    let (status, opened) = json(
        post_login(
            &http,
            &base,
            &meta,
            school,
            &app.login,
            &app.password,
            "some-app/1.0",
        )
        .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let at = opened["at"].as_str().unwrap_or_default().to_owned();
    assert_eq!(at.len(), 64, "an opaque key, not identity's token: {at}");
    let context = |at: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let answer = http
                .get(format!("{base}/webapi/context"))
                .header("at", at)
                .send()
                .await?;
            anyhow::Ok(answer.status())
        }
    };
    assert_eq!(context(at.clone()).await?, StatusCode::OK);
    // The cookie alone is a session too; nothing at all is not.
    let by_cookie = http
        .get(format!("{base}/webapi/context"))
        .header("cookie", format!("NSSESSIONID={at}"))
        .send()
        .await?;
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let (status, refusal) = json(http.get(format!("{base}/webapi/context")).send().await?).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        refusal["message"]
            .as_str()
            .is_some_and(|m| m.contains("войдите"))
    );

    // The salt is used once: the same answer again is refused.
    let (status, reused) = json(
        post_login(
            &http,
            &base,
            &meta,
            school,
            &app.login,
            &app.password,
            "some-app/1.0",
        )
        .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        reused["message"]
            .as_str()
            .is_some_and(|m| m.contains("устарел")),
        "{reused}"
    );

    // A wrong password: 409 with the words apps sort by; netschoolapi, which
    // cannot read a 409's body, gets them in a 200 without a session.
    let (_, meta) = json(get_data(&http, &base).await?).await?;
    let (status, wrong) = json(
        post_login(
            &http,
            &base,
            &meta,
            school,
            &app.login,
            "not-it",
            "some-app/1.0",
        )
        .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        wrong["message"]
            .as_str()
            .is_some_and(|m| m.contains("Неверный логин или пароль")),
        "{wrong}"
    );
    let (_, meta) = json(get_data(&http, &base).await?).await?;
    let (status, wrong) = json(
        post_login(
            &http,
            &base,
            &meta,
            school,
            &app.login,
            "not-it",
            "NetSchoolAPI/5.0.3",
        )
        .await?,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(wrong.get("at").is_none(), "{wrong}");
    assert!(
        wrong["message"]
            .as_str()
            .is_some_and(|m| m.contains("парол"))
    );

    // Revoked: the session ends within the seconds identity is trusted for.
    let revoked = browser.post(format!("{base}{revoke_path}")).send().await?;
    assert!(revoked.status().is_redirection(), "{}", revoked.status());
    eventually(Duration::from_secs(15), || {
        let at = at.clone();
        let context = &context;
        async move { Ok(context(at).await? == StatusCode::UNAUTHORIZED) }
    })
    .await?;

    // A flood of logins from one address is refused, in the apps' words.
    let mut throttled = None;
    for _ in 0..20 {
        let (status, answer) = json(get_data(&http, &base).await?).await?;
        if status == StatusCode::CONFLICT {
            throttled = answer["message"].as_str().map(str::to_owned);
            break;
        }
    }
    assert!(
        throttled
            .as_deref()
            .is_some_and(|m| m.contains("Слишком много")),
        "{throttled:?}"
    );
    stack.stop().await?;
    drop(database);
    Ok(())
}
