//! Web push against a push endpoint of the test's own: it checks the VAPID
//! token against the server's key and decrypts each message with the
//! subscription's private key, as a browser's push service and browser do.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use aes_gcm::{Aes128Gcm, KeyInit, aead::Aead};
use asurso_proto::notifications as nf;
use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use p256::{PublicKey, SecretKey, elliptic_curve::sec1::ToEncodedPoint};
use sha2::Sha256;

use crate::support::{School, feed_of, school_day, violated_fields};

/// What the endpoint received, decrypted.
#[derive(Debug, Clone)]
struct Received {
    payload: serde_json::Value,
    topic: String,
    ttl: String,
}

struct Device {
    secret: SecretKey,
    auth: [u8; 16],
    server_key: String,
    answer: Mutex<StatusCode>,
    received: Mutex<Vec<Received>>,
    refused: Mutex<Vec<String>>,
}

impl Device {
    fn p256dh(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.public_key().to_encoded_point(false).as_bytes())
    }

    fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .map(|got| got.clone())
            .unwrap_or_default()
    }

    /// Checks the request as a push service would, then decrypts it as the
    /// browser would.
    fn take(&self, headers: &HeaderMap, body: &[u8], audience: &str) -> Result<Received, String> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let authorization = header("authorization");
        let rest = authorization
            .strip_prefix("vapid t=")
            .ok_or("no vapid authorization")?;
        let (token, key) = rest.split_once(", k=").ok_or("no k=")?;
        if key != self.server_key {
            return Err(format!("signed with another key: {key}"));
        }
        let point = URL_SAFE_NO_PAD.decode(key).map_err(|e| e.to_string())?;
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..65]),
        )
        .map_err(|e| e.to_string())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .map_err(|e| format!("VAPID token: {e}"))?;
        if header("content-encoding") != "aes128gcm" {
            return Err("not aes128gcm".into());
        }
        let plain = decrypt(body, &self.secret, &self.auth)?;
        let payload = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        Ok(Received {
            payload,
            topic: header("topic"),
            ttl: header("ttl"),
        })
    }
}

/// RFC 8291 from the receiving side.
fn decrypt(body: &[u8], secret: &SecretKey, auth: &[u8]) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("too short".into());
    }
    let salt = &body[..16];
    let id_len = usize::from(body[20]);
    let sender = body.get(21..21 + id_len).ok_or("no key id")?;
    let sealed = &body[21 + id_len..];
    let sender = PublicKey::from_sec1_bytes(sender).map_err(|_| "key id is no key")?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), sender.as_affine());
    let ua_public = secret.public_key().to_encoded_point(false);
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(ua_public.as_bytes());
    info.extend_from_slice(sender.to_encoded_point(false).as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&info, &mut ikm)
        .map_err(|_| "hkdf")?;
    let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    content
        .expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .map_err(|_| "hkdf")?;
    content
        .expand(b"Content-Encoding: nonce\0", &mut nonce)
        .map_err(|_| "hkdf")?;
    let mut plain = Aes128Gcm::new_from_slice(&cek)
        .map_err(|_| "key")?
        .decrypt(&nonce.into(), sealed)
        .map_err(|_| "does not decrypt with the subscription's keys")?;
    // Strip the padding down to the delimiter.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    if plain.pop() != Some(2) {
        return Err("no last-record delimiter".into());
    }
    Ok(plain)
}

async fn endpoint(
    State((device, audience)): State<(Arc<Device>, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    match device.take(&headers, &body, &audience) {
        Ok(received) => {
            if let Ok(mut all) = device.received.lock() {
                all.push(received);
            }
            device
                .answer
                .lock()
                .map(|answer| *answer)
                .unwrap_or(StatusCode::CREATED)
        }
        Err(why) => {
            if let Ok(mut all) = device.refused.lock() {
                all.push(why);
            }
            StatusCode::BAD_REQUEST
        }
    }
}

/// A device of the test, subscribed at its own endpoint.
async fn device(server_key: String) -> anyhow::Result<(Arc<Device>, String)> {
    let mut scalar = [0u8; 32];
    rand::fill(&mut scalar);
    let mut auth = [0u8; 16];
    rand::fill(&mut auth);
    let device = Arc::new(Device {
        secret: SecretKey::from_slice(&scalar)?,
        auth,
        server_key,
        answer: Mutex::new(StatusCode::CREATED),
        received: Mutex::new(Vec::new()),
        refused: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    let audience = format!("http://{address}");
    let app = Router::new()
        .route("/push/{id}", post(endpoint))
        .with_state((Arc::clone(&device), audience.clone()));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((device, format!("{audience}/push/device-1")))
}

async fn received(device: &Device, count: usize) -> anyhow::Result<Vec<Received>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = device.received();
        if got.len() >= count {
            return Ok(got);
        }
        let refused = device.refused.lock().map(|r| r.clone()).unwrap_or_default();
        anyhow::ensure!(refused.is_empty(), "the endpoint refused: {refused:?}");
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} pushes, not {count}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_mark_is_pushed_encrypted_and_signed_and_a_gone_device_is_switched_off()
-> anyhow::Result<()> {
    let mut school = School::start("nf-push", false).await?;
    let key = school
        .ivanovs
        .parent
        .n
        .preferences
        .get_push_key(nf::GetPushKeyRequest {})
        .await?
        .into_inner()
        .application_server_key;
    assert_eq!(URL_SAFE_NO_PAD.decode(&key)?.len(), 65);
    let (device, endpoint) = device(key).await?;

    // Keys that are not keys are refused, each on its field.
    let bad = school
        .ivanovs
        .parent
        .n
        .preferences
        .add_push_subscription(nf::AddPushSubscriptionRequest {
            endpoint: "ftp://example.org/x".into(),
            p256dh: "AAAA".into(),
            auth: URL_SAFE_NO_PAD.encode(device.auth),
        })
        .await
        .expect_err("bad subscription");
    assert_eq!(
        violated_fields(&bad),
        vec!["endpoint".to_owned(), "p256dh".to_owned()]
    );
    let preferences = school
        .ivanovs
        .parent
        .n
        .preferences
        .add_push_subscription(nf::AddPushSubscriptionRequest {
            endpoint: endpoint.clone(),
            p256dh: device.p256dh(),
            auth: URL_SAFE_NO_PAD.encode(device.auth),
        })
        .await?
        .into_inner();
    assert_eq!(preferences.push_subscriptions.len(), 1);

    // Marks go to the phone by default.
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 1).await?;
    let child = school.ivanovs.student.id;
    school.marks(&lesson, &[(child, 5)]).await?;
    let entries = feed_of(&mut school.ivanovs.parent, 1).await?;
    let pushes = received(&device, 1).await?;
    let push = &pushes[0];
    assert_eq!(push.payload["id"], entries[0].id.as_str());
    assert_eq!(push.payload["title"], "Новая оценка");
    assert_eq!(push.topic, entries[0].id.replace('-', ""));
    assert_eq!(push.ttl, "86400");
    let body = push.payload["body"].as_str().unwrap_or_default();
    assert!(
        !body.contains("Математика"),
        "details left the system: {body}"
    );
    assert!(
        push.payload["url"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("/diary?student={child}"))
    );

    // The device unsubscribed: the push service answers 410 Gone. The
    // subscription is switched off and the parent told in the feed.
    if let Ok(mut answer) = device.answer.lock() {
        *answer = StatusCode::GONE;
    }
    school.marks(&lesson, &[(child, 4)]).await?;
    received(&device, 2).await?;
    let entries = feed_of(&mut school.ivanovs.parent, 3).await?;
    assert_eq!(entries[0].title, "Уведомления на устройство отключены");
    let preferences = school
        .ivanovs
        .parent
        .n
        .preferences
        .get_preferences(nf::GetPreferencesRequest {})
        .await?
        .into_inner();
    assert!(preferences.push_subscriptions.is_empty());
    school.marks(&lesson, &[(child, 3)]).await?;
    feed_of(&mut school.ivanovs.parent, 4).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(device.received().len(), 2, "nothing goes to a gone device");
    Ok(())
}
