//! The same federation code against an OpenID Provider nobody here wrote
//! (the certified npm `oidc-provider`, started by this test as its own
//! process), with ESIA's extras switched off by settings: so the relying
//! party is not tuned to our own development provider.

use std::{collections::HashMap, path::PathBuf, process::Stdio, time::Duration};

use asurso_identity::federation::FederationSettings;
use asurso_proto::identity as pb;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;

use crate::{
    esia_support::{
        REDIRECT_URI, assert_refused, browser, complete, location_query, register, start, token_of,
        with_param,
    },
    support::{Service, World},
};

const CLIENT_SECRET: &str = "a-test-client-secret-of-enough-length";

struct NodeProvider {
    issuer: String,
    _child: tokio::process::Child,
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider")
}

/// `oidc-provider` on a free port, with the accounts given.
async fn node_provider(accounts: serde_json::Value) -> anyhow::Result<NodeProvider> {
    let dir = provider_dir();
    anyhow::ensure!(
        dir.join("node_modules/oidc-provider").exists(),
        "oidc-provider is not installed in {}: run `make deps` (it runs `npm ci` there)",
        dir.display()
    );
    let port = asurso_testkit::servers::free_port()?;
    let config = json!({
        "client_id": "asurso-test",
        "client_secret": CLIENT_SECRET,
        "redirect_uri": REDIRECT_URI,
        "accounts": accounts,
    });
    let mut child = tokio::process::Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("OIDC_CONFIG", config.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            anyhow::anyhow!("starting node (is Node.js installed? make deps): {error}")
        })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let issuer = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(issuer) = line.strip_prefix("ready ") {
                return Ok::<_, anyhow::Error>(issuer.to_owned());
            }
        }
        anyhow::bail!("oidc-provider exited before it was ready")
    })
    .await
    .map_err(|_| anyhow::anyhow!("oidc-provider did not start within 30 s"))??;
    // Keep reading so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(NodeProvider {
        issuer,
        _child: child,
    })
}

fn oidc_settings(issuer: &str) -> FederationSettings {
    FederationSettings {
        provider: "region-idp".to_owned(),
        issuer_url: issuer.to_owned(),
        client_id: "asurso-test".to_owned(),
        client_secret: Some(CLIENT_SECRET.to_owned().into()),
        redirect_uri: REDIRECT_URI.to_owned(),
        scopes: vec!["profile".to_owned(), "snils".to_owned()],
        esia: false,
        endpoints: None,
        token_certificate_file: None,
        logout_url: None,
        post_logout_redirect_url: None,
        person_data_url: None,
        signer: None,
        login_ttl_seconds: 600,
        http_timeout_seconds: 5,
        metadata_ttl_seconds: 3600,
    }
}

/// Goes through the provider's pages as `account`; returns the query it
/// redirects back with.
async fn log_in_as(
    authorization_url: &str,
    account: &str,
) -> anyhow::Result<HashMap<String, String>> {
    let browser = browser()?;
    let mut response = browser.get(authorization_url).send().await?;
    for _ in 0..10 {
        let (location, query) = location_query(&response)?;
        if location.starts_with(REDIRECT_URI) {
            return Ok(query);
        }
        let url = if location.contains("/interaction/") {
            format!("{location}/login?account={account}")
        } else {
            location
        };
        response = browser.get(&url).send().await?;
    }
    anyhow::bail!("the provider never sent the browser back")
}

#[tokio::test]
async fn the_same_login_works_through_an_independent_openid_provider() -> anyhow::Result<()> {
    let provider = node_provider(json!({
        "parent-1": {
            "family_name": "Иванова", "given_name": "Мария",
            "snils": "345-678-912 26", "trusted": true
        },
        "unconfirmed-1": {
            "family_name": "Сидоров", "given_name": "Алексей",
            "snils": "456-789-123 44", "trusted": false
        },
    }))
    .await?;
    let federation = oidc_settings(&provider.issuer);
    let mut world = World::new_with(move |settings| settings.federation = Some(federation)).await?;
    let parent = register(&mut world, "Иванова", "345-678-912 26", pb::Role::Parent).await?;
    register(&mut world, "Сидоров", "456-789-123 44", pb::Role::Parent).await?;
    let mut anonymous = world.identity.clients(None).await?;

    // A standard request: no ESIA extras.
    let started = start(&mut anonymous).await?;
    assert!(
        !started
            .authorization_url
            .contains("client_certificate_hash")
    );
    let back = log_in_as(&started.authorization_url, "parent-1").await?;
    let login = complete(&mut anonymous, &started.browser_binding, &back).await?;
    assert!(login.linked_now);
    assert_eq!(
        login
            .active_grant
            .clone()
            .map(|g| g.person_id)
            .unwrap_or_default(),
        parent
    );
    let mut family = world.identity.clients(Some(&token_of(&login))).await?;
    let link = family
        .federation
        .get_link(pb::GetLinkRequest::default())
        .await?
        .into_inner();
    assert_eq!(link.provider, "region-idp");

    // A second login goes by the account and links nothing new.
    let started = start(&mut anonymous).await?;
    let back = log_in_as(&started.authorization_url, "parent-1").await?;
    let again = complete(&mut anonymous, &started.browser_binding, &back).await?;
    assert!(!again.linked_now);

    // The spent code presented under a new login: this provider refuses it.
    let another = start(&mut anonymous).await?;
    let mut replayed = back.clone();
    replayed.insert("state".to_owned(), another.state.clone());
    assert_refused(
        complete(&mut anonymous, &another.browser_binding, &replayed).await,
        Code::Unauthenticated,
        "invalid_grant",
    );

    // A tampered nonce: the provider signs what it was given; we refuse it.
    let started = start(&mut anonymous).await?;
    let tampered = with_param(&started.authorization_url, "nonce", "attacker-nonce")?;
    let back = log_in_as(&tampered, "parent-1").await?;
    let refused = complete(&mut anonymous, &started.browser_binding, &back)
        .await
        .err();
    assert_eq!(
        refused.as_ref().map(tonic::Status::code),
        Some(Code::Unauthenticated)
    );
    assert!(refused.is_some_and(|s| s.message().to_lowercase().contains("nonce")));

    // An account the provider does not vouch for.
    let started = start(&mut anonymous).await?;
    let back = log_in_as(&started.authorization_url, "unconfirmed-1").await?;
    let refused = complete(&mut anonymous, &started.browser_binding, &back)
        .await
        .err();
    assert_eq!(refused.map(|s| s.code()), Some(Code::FailedPrecondition));
    Ok(())
}
