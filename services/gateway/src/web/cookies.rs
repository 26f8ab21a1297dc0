//! The browser's cookies: their names, where each is sent and for how long,
//! and reading them back. All are HttpOnly, so no script on the page ever
//! holds a token; the refresh token and the login's binding go only to the
//! paths that need them.

use asurso_proto::identity as pb;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, header};

use super::encoding::{local_path, percent_decode, percent_encode};
use crate::GatewayError;

/// The access token, for every path of the site.
pub const SESSION_COOKIE: &str = "asurso_access";
/// The refresh token, sent only to `/auth`.
pub const REFRESH_COOKIE: &str = "asurso_refresh";
/// The binding of a login in progress, sent only to `/auth/esia`.
pub const LOGIN_COOKIE: &str = "asurso_login";
/// Where to go after the login.
const RETURN_COOKIE: &str = "asurso_return";

/// Where the gateway is reached and how its cookies are set.
#[derive(Debug, Clone)]
pub struct Site {
    /// `https://dnevnik.example.ru`: what browsers send as `Origin`.
    origin: String,
    secure: bool,
}

impl Site {
    pub fn new(settings: &crate::WebSettings) -> Result<Self, GatewayError> {
        let url = settings.public_url.trim_end_matches('/');
        let invalid = |why: &str| GatewayError::Settings(format!("web.public_url: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid("not an http(s) URL"))?;
        if scheme != "http" && scheme != "https" {
            return Err(invalid("not an http(s) URL"));
        }
        if rest.is_empty() || rest.contains('/') {
            return Err(invalid(
                "give the origin only, e.g. https://dnevnik.example.ru",
            ));
        }
        Ok(Self {
            origin: url.to_owned(),
            secure: settings.secure_cookies,
        })
    }

    /// Refuses a browser request another site made.
    pub fn same_origin(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(unreadable)");
            if origin != self.origin {
                return Err(GatewayError::CrossSite(origin.to_owned()));
            }
        }
        if headers
            .get("sec-fetch-site")
            .is_some_and(|site| site == "cross-site")
        {
            return Err(GatewayError::CrossSite("another site".to_owned()));
        }
        Ok(())
    }

    /// `https://dnevnik.example.ru`: where people reach this site.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn cookie(
        &self,
        name: &str,
        value: &str,
        path: &str,
        same_site: &str,
        max_age: i64,
    ) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite={same_site}{secure}",
            max_age.max(0)
        )
    }
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The access token of a browser session.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The refresh token of a browser session.
pub(super) fn refresh_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, REFRESH_COOKIE)
}

/// The binding of the login this browser started.
pub(super) fn login_binding(headers: &HeaderMap) -> Option<String> {
    cookie(headers, LOGIN_COOKIE)
}

/// Where the login started was asked to return; the home page when that is
/// missing or not a path of this site.
pub(super) fn return_path(headers: &HeaderMap) -> String {
    cookie(headers, RETURN_COOKIE)
        .map(|path| percent_decode(&path))
        .filter(|path| local_path(path).is_some())
        .unwrap_or_else(|| "/".to_owned())
}

fn seconds_until(at: Option<&prost_types::Timestamp>) -> i64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    at.map_or(0, |at| at.seconds - now)
}

/// The cookies of a login in progress, for as long as identity keeps it.
pub(super) fn login_cookies(
    web: &Site,
    binding: &str,
    return_to: &str,
    expires_at: Option<&prost_types::Timestamp>,
) -> Vec<String> {
    let lifetime = seconds_until(expires_at);
    vec![
        web.cookie(LOGIN_COOKIE, binding, "/auth/esia", "Lax", lifetime),
        web.cookie(
            RETURN_COOKIE,
            &percent_encode(return_to),
            "/auth/esia",
            "Lax",
            lifetime,
        ),
    ]
}

/// Clears the cookies of a login in progress, however it ended.
pub(super) fn login_ended(web: &Site) -> Vec<String> {
    vec![
        web.cookie(LOGIN_COOKIE, "", "/auth/esia", "Lax", 0),
        web.cookie(RETURN_COOKIE, "", "/auth/esia", "Lax", 0),
    ]
}

/// The cookies of an open session.
pub(super) fn session_cookies(web: &Site, tokens: &pb::Tokens) -> Vec<String> {
    vec![
        web.cookie(
            SESSION_COOKIE,
            &tokens.access_token,
            "/",
            "Lax",
            seconds_until(tokens.access_expires_at.as_ref()),
        ),
        web.cookie(
            REFRESH_COOKIE,
            &tokens.refresh_token,
            "/auth",
            "Strict",
            seconds_until(tokens.refresh_expires_at.as_ref()),
        ),
    ]
}

/// Clears the cookies of a session.
pub(super) fn cleared(web: &Site) -> Vec<String> {
    vec![
        web.cookie(SESSION_COOKIE, "", "/", "Lax", 0),
        web.cookie(REFRESH_COOKIE, "", "/auth", "Strict", 0),
    ]
}

pub(crate) fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(url: &str) -> Result<Site, GatewayError> {
        Site::new(&crate::WebSettings {
            public_url: url.to_owned(),
            secure_cookies: true,
        })
    }

    #[test]
    fn requests_from_another_origin_are_refused() -> Result<(), GatewayError> {
        let web = web("https://dnevnik.example.ru/")?;
        let mut headers = HeaderMap::new();
        assert!(web.same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://dnevnik.example.ru"),
        );
        assert!(web.same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(matches!(
            web.same_origin(&headers),
            Err(GatewayError::CrossSite(_))
        ));
        Ok(())
    }

    #[test]
    fn a_public_url_with_a_path_is_refused() {
        let error = web("https://dnevnik.example.ru/app")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("web.public_url"), "{error}");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; asurso_access=tok.en; b="),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("tok.en"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_secure_when_asked() -> Result<(), GatewayError> {
        let cookie = web("https://dnevnik.example.ru")?.cookie("n", "v", "/", "Lax", 60);
        assert_eq!(
            cookie,
            "n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        Ok(())
    }
}
