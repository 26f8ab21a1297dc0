//! A person's browser at the development ESIA, for tests (feature
//! `browser`): open the login page, pick a demo person, follow the provider
//! back to the relying party's redirect URI.

use anyhow::{Context, anyhow};
use reqwest::{Client, Response, Url};

/// Where a redirect sends the browser, resolved against the page that sent
/// it.
pub fn redirect_target(response: &Response) -> anyhow::Result<Url> {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .ok_or_else(|| anyhow!("no redirect: {}", response.status()))?
        .to_str()
        .context("an unreadable Location")?;
    Ok(response.url().join(location)?)
}

/// Opens the authorization URL and picks the demo person `oid`, as a person
/// does on the login page; returns where the provider sends the browser
/// back (the redirect URI with `code` and `state`, or with `error`). A
/// request the provider refuses at once comes back the same way. `browser`
/// must not follow redirects.
pub async fn pick_person(browser: &Client, url: &Url, oid: &str) -> anyhow::Result<Url> {
    let page = browser.get(url.clone()).send().await?;
    if page.status().is_redirection() {
        return redirect_target(&page);
    }
    anyhow::ensure!(
        page.status().is_success(),
        "the login page answered {}",
        page.status()
    );
    let html = page.text().await?;
    let marker = "name=\"request\" value=\"";
    let start = html
        .find(marker)
        .ok_or_else(|| anyhow!("no login form on the page: {html}"))?
        + marker.len();
    let request = html[start..].split('"').next().unwrap_or_default();
    let mut action = url.clone();
    action.set_query(None);
    let chosen = browser
        .post(action)
        .form(&[("request", request), ("oid", oid)])
        .send()
        .await?;
    redirect_target(&chosen)
}
