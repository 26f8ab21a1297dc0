//! The daily digest: for a person who takes one, the e-mails of a day go
//! out as one letter at the time they chose, in their own time zone. It
//! holds what would have been e-mailed since the last digest, in the words
//! e-mails may carry.

use sqlx::PgPool;
use time::Date;
use uuid::Uuid;

use crate::{
    domain::{Channel, Draft, Kind, channels_among},
    feed, preferences,
};

/// Lines of one digest at most; the rest is counted.
const MAX_LINES: usize = 100;

/// Makes the digests that are due; how many it made. Safe on every
/// replica at once: a person's row is taken with SKIP LOCKED and the day
/// recorded in the same transaction.
pub async fn run(pool: PgPool) -> Result<u64, sqlx::Error> {
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT person_id FROM preferences \
         WHERE digest_enabled AND email <> '' AND email_confirmed AND email_disabled_reason = '' \
           AND (now() AT TIME ZONE person_zone(person_id))::time >= digest_at \
           AND (digest_day IS NULL OR digest_day < (now() AT TIME ZONE person_zone(person_id))::date) \
         LIMIT 1000",
    )
    .fetch_all(&pool)
    .await?;
    let mut made = 0;
    for person in due {
        if digest_of(&pool, person).await? {
            made += 1;
        }
    }
    Ok(made)
}

async fn digest_of(pool: &PgPool, person: Uuid) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let claimed: Option<(i64, String, Date)> = sqlx::query_as(
        "SELECT digest_after_cursor, email, (now() AT TIME ZONE person_zone(person_id))::date \
         FROM preferences WHERE person_id = $1 AND digest_enabled AND email_confirmed \
           AND (digest_day IS NULL OR digest_day < (now() AT TIME ZONE person_zone(person_id))::date) \
         FOR UPDATE SKIP LOCKED",
    )
    .bind(person)
    .fetch_optional(&mut *transaction)
    .await?;
    let Some((after, address, today)) = claimed else {
        return Ok(false);
    };
    let entries: Vec<(i64, String, String, String)> = sqlx::query_as(
        "SELECT cursor, kind, outside_title, outside_body FROM notifications \
         WHERE person_id = $1 AND cursor > $2 AND kind <> 'system' ORDER BY cursor",
    )
    .bind(person)
    .bind(after)
    .fetch_all(&mut *transaction)
    .await?;
    let last = entries.last().map_or(after, |(cursor, ..)| *cursor);
    let chosen = preferences::choices(&mut transaction, person).await?;
    let by_email = |kind: &str| {
        Kind::parse(kind)
            .is_some_and(|kind| channels_among(kind, &chosen).contains(&Channel::Email))
    };
    let lines: Vec<String> = entries
        .iter()
        .filter(|(_, kind, ..)| by_email(kind))
        .map(|(_, _, title, body)| format!("• {title}. {body}"))
        .collect();
    sqlx::query(
        "UPDATE preferences SET digest_day = $2, digest_after_cursor = $3 WHERE person_id = $1",
    )
    .bind(person)
    .bind(today)
    .bind(last)
    .execute(&mut *transaction)
    .await?;
    if lines.is_empty() {
        transaction.commit().await?;
        return Ok(false);
    }
    let mut body = lines
        .iter()
        .take(MAX_LINES)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > MAX_LINES {
        body.push_str(&format!("\n… и ещё {}", lines.len() - MAX_LINES));
    }
    let title = format!(
        "Сводка за {:02}.{:02}.{}: {} уведомл.",
        today.day(),
        u8::from(today.month()),
        today.year(),
        lines.len()
    );
    let draft = Draft {
        kind: Kind::System,
        title: title.clone(),
        body: body.clone(),
        plain_title: title,
        plain_body: body,
        link: "/notifications".to_owned(),
        student: None,
        school: None,
    };
    let id = feed::outside_only(&mut transaction, person, &draft).await?;
    sqlx::query(
        "INSERT INTO deliveries (notification_id, channel, target, person_id) VALUES ($1, 'email', $2, $3)",
    )
    .bind(id)
    .bind(&address)
    .bind(person)
    .execute(&mut *transaction)
    .await?;
    feed::wake(&mut transaction, &[], true).await?;
    transaction.commit().await?;
    Ok(true)
}
