//! E-mail: an address is confirmed by a code before anything else goes
//! to it; quiet hours hold mail back; a refusing address is switched off;
//! operators see what failed.

use std::time::Duration;

use asurso_proto::{common::TimeOfDay, identity as pb, notifications as nf};
use tonic::Code;

use crate::support::{Person, School, feed_of, school_day, violated_fields};

/// Waits for the mail to `address` until there are `count`; them.
async fn mail_to(
    school: &School,
    address: &str,
    count: usize,
) -> anyhow::Result<Vec<asurso_testkit::smtp::Mail>> {
    let smtp = school
        .smtp
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no SMTP server"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let mail = smtp.messages_to(address)?;
        if mail.len() >= count {
            return Ok(mail);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{address} has {} letters, not {count}",
            mail.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The six digits in a confirmation letter.
fn code_in(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap_or_default()
        .to_owned()
}

/// Marks to the feed and e-mail, for `person`.
async fn marks_by_email(person: &mut Person) -> anyhow::Result<()> {
    person
        .n
        .preferences
        .set_channels(nf::SetChannelsRequest {
            kinds: vec![nf::KindChannels {
                kind: nf::Kind::Mark as i32,
                channels: vec![nf::Channel::Feed as i32, nf::Channel::Email as i32],
            }],
        })
        .await?;
    Ok(())
}

async fn confirm(school: &mut School, address: &str) -> anyhow::Result<()> {
    school
        .ivanovs
        .parent
        .n
        .preferences
        .set_email(nf::SetEmailRequest {
            email: address.to_owned(),
        })
        .await?;
    let letters = mail_to(school, address, 1).await?;
    let code = code_in(&letters[0].body);
    school
        .ivanovs
        .parent
        .n
        .preferences
        .confirm_email(nf::ConfirmEmailRequest { code })
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_unconfirmed_address_gets_nothing_but_its_code() -> anyhow::Result<()> {
    let mut school = School::start("nf-email", true).await?;
    let address = "ivanova@example.org";
    marks_by_email(&mut school.ivanovs.parent).await?;
    let set = school
        .ivanovs
        .parent
        .n
        .preferences
        .set_email(nf::SetEmailRequest {
            email: address.to_owned(),
        })
        .await?
        .into_inner();
    assert!(set.code_expires_at.is_some());
    let preferences = set.preferences.unwrap_or_default();
    assert_eq!(preferences.email, address);
    assert!(!preferences.email_confirmed);

    // A mark while the address is unconfirmed: the feed has it, the
    // address only its code.
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 1).await?;
    let child = school.ivanovs.student.id;
    school.marks(&lesson, &[(child, 5)]).await?;
    feed_of(&mut school.ivanovs.parent, 1).await?;
    let letters = mail_to(&school, address, 1).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let letters_now = mail_to(&school, address, 1).await?;
    assert_eq!(letters_now.len(), 1, "only the code: {letters_now:?}");
    let code = code_in(&letters[0].body);
    assert_eq!(code.len(), 6, "{}", letters[0].body);
    assert_eq!(letters[0].subject, "Подтверждение адреса");

    // A wrong code is refused on its field; the right one confirms.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = school
        .ivanovs
        .parent
        .n
        .preferences
        .confirm_email(nf::ConfirmEmailRequest {
            code: wrong.to_owned(),
        })
        .await
        .expect_err("a wrong code");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), vec!["code".to_owned()]);
    let confirmed = school
        .ivanovs
        .parent
        .n
        .preferences
        .confirm_email(nf::ConfirmEmailRequest { code })
        .await?
        .into_inner();
    assert!(confirmed.email_confirmed);

    // Now a mark arrives by e-mail too, its Message-ID the notification's,
    // saying what happened and nothing more (the region allows no details).
    school.marks(&lesson, &[(child, 4)]).await?;
    let entries = feed_of(&mut school.ivanovs.parent, 2).await?;
    let letters = mail_to(&school, address, 2).await?;
    let letter = &letters[1];
    assert_eq!(
        letter.message_id,
        format!("<{}@asurso.local>", entries[0].id)
    );
    assert_eq!(letter.subject, "Новая оценка");
    assert!(
        letter.body.contains("В дневнике новая оценка"),
        "{}",
        letter.body
    );
    assert!(
        !letter.body.contains("Математика"),
        "details left the system: {}",
        letter.body
    );
    assert!(
        !letter.body.contains(" 4 "),
        "the mark left the system: {}",
        letter.body
    );
    assert!(
        letter.body.contains(&format!("/diary?student={child}")),
        "{}",
        letter.body
    );

    // The student chose nothing: marks do not reach them by e-mail, and
    // an address that is not an address is refused on its field.
    let bad = school
        .ivanovs
        .student
        .n
        .preferences
        .set_email(nf::SetEmailRequest {
            email: "not an address".into(),
        })
        .await
        .expect_err("not an address");
    assert_eq!(violated_fields(&bad), vec!["email".to_owned()]);
    Ok(())
}

#[tokio::test]
async fn quiet_hours_hold_mail_back_and_then_deliver_it() -> anyhow::Result<()> {
    let mut school = School::start("nf-quiet", true).await?;
    let address = "quiet@example.org";
    marks_by_email(&mut school.ivanovs.parent).await?;
    confirm(&mut school, address).await?;

    // Quiet from an hour ago to an hour ahead, in the parent's own zone.
    let parent = school.ivanovs.parent.id;
    let (hours, minutes): (i32, i32) = sqlx::query_as(
        "SELECT extract(hour FROM t)::int, extract(minute FROM t)::int \
         FROM (SELECT (now() AT TIME ZONE person_zone($1))::time AS t) AS local",
    )
    .bind(parent)
    .fetch_one(&school.notifications.db.pool)
    .await?;
    let shift = |by: i32| TimeOfDay {
        hours: (hours + by).rem_euclid(24),
        minutes,
    };
    let quiet = |enabled| nf::SetQuietHoursRequest {
        quiet_hours: Some(nf::QuietHours {
            enabled,
            start: Some(shift(-1)),
            end: Some(shift(1)),
        }),
    };
    let preferences = school
        .ivanovs
        .parent
        .n
        .preferences
        .set_quiet_hours(quiet(true))
        .await?
        .into_inner();
    assert_eq!(preferences.time_zone, "Europe/Samara");

    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 2).await?;
    let child = school.ivanovs.student.id;
    school.marks(&lesson, &[(child, 5)]).await?;
    // The feed is never held back.
    feed_of(&mut school.ivanovs.parent, 1).await?;
    let pool = school.notifications.db.pool.clone();
    asurso_testkit::eventually(Duration::from_secs(15), || {
        let pool = pool.clone();
        async move {
            Ok(sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM deliveries WHERE person_id = $1 AND held \
                 AND state = 'pending' AND due_at > now() + interval '30 minutes')",
            )
            .bind(parent)
            .fetch_one(&pool)
            .await?)
        }
    })
    .await?;
    assert_eq!(
        mail_to(&school, address, 1).await?.len(),
        1,
        "only the code so far"
    );

    // The quiet hours end (the parent turns them off): the mail goes.
    school
        .ivanovs
        .parent
        .n
        .preferences
        .set_quiet_hours(quiet(false))
        .await?;
    let letters = mail_to(&school, address, 2).await?;
    assert_eq!(letters[1].subject, "Новая оценка");
    Ok(())
}

#[tokio::test]
async fn a_refusing_address_is_switched_off_and_failures_are_listed() -> anyhow::Result<()> {
    let mut school = School::start("nf-refuse", true).await?;
    // The server refuses this mailbox (550): even the code cannot go.
    let set = school
        .ivanovs
        .parent
        .n
        .preferences
        .set_email(nf::SetEmailRequest {
            email: "refuse.ivanova@example.org".into(),
        })
        .await?;
    assert!(set.into_inner().code_expires_at.is_some());
    let notices = feed_of(&mut school.ivanovs.parent, 1).await?;
    assert_eq!(notices[0].kind, nf::Kind::System as i32);
    assert_eq!(notices[0].title, "Уведомления по почте отключены");
    assert!(notices[0].body.contains("refuse.ivanova@example.org"));
    let preferences = school
        .ivanovs
        .parent
        .n
        .preferences
        .get_preferences(nf::GetPreferencesRequest {})
        .await?
        .into_inner();
    assert!(
        preferences.email_disabled_reason.contains("550"),
        "{}",
        preferences.email_disabled_reason
    );

    // This one is deferred (451) every time: tried, then given up.
    school
        .petrovs
        .parent
        .n
        .preferences
        .set_email(nf::SetEmailRequest {
            email: "defer.petrova@example.org".into(),
        })
        .await?;

    // The region's operator sees both, without their words; a parent may
    // not look.
    let region = school.world.region;
    let mut operator = school
        .newcomer(region, pb::Role::RegionAdmin, "nf-refuse.operator")
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed = operator
            .n
            .admin
            .list_failed_deliveries(nf::ListFailedDeliveriesRequest { page: None })
            .await?
            .into_inner()
            .deliveries;
        if listed.iter().any(|d| d.state == "failed") && listed.iter().any(|d| d.state == "refused")
        {
            break listed;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "listed: {listed:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let failed = listed
        .iter()
        .find(|d| d.state == "failed")
        .ok_or_else(|| anyhow::anyhow!("no failed delivery"))?;
    assert_eq!(failed.person_id, school.petrovs.parent.id.to_string());
    assert_eq!(failed.attempts, 3);
    assert!(failed.last_error.contains("451"), "{}", failed.last_error);
    let refused = listed
        .iter()
        .find(|d| d.state == "refused")
        .ok_or_else(|| anyhow::anyhow!("no refused delivery"))?;
    assert_eq!(refused.person_id, school.ivanovs.parent.id.to_string());
    assert_eq!(refused.channel, nf::Channel::Email as i32);
    let denied = school
        .ivanovs
        .parent
        .n
        .admin
        .list_failed_deliveries(nf::ListFailedDeliveriesRequest { page: None })
        .await
        .expect_err("a parent is no operator");
    assert_eq!(denied.code(), Code::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn the_region_decides_whether_mail_names_marks_and_subjects() -> anyhow::Result<()> {
    let mut school = School::start("nf-policy", true).await?;
    let region = school.world.region;
    let mut operator = school
        .newcomer(region, pb::Role::RegionAdmin, "nf-policy.operator")
        .await?;
    let policy = operator
        .n
        .admin
        .get_region_policy(nf::GetRegionPolicyRequest {})
        .await?
        .into_inner();
    assert!(!policy.details_outside, "off by default");
    operator
        .n
        .admin
        .set_region_policy(nf::RegionPolicy {
            details_outside: true,
        })
        .await?;
    let address = "details@example.org";
    marks_by_email(&mut school.ivanovs.parent).await?;
    confirm(&mut school, address).await?;
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 3).await?;
    let child = school.ivanovs.student.id;
    school.marks(&lesson, &[(child, 5)]).await?;
    let letters = mail_to(&school, address, 2).await?;
    assert!(
        letters[1].body.contains("5 по предмету «Математика»"),
        "{}",
        letters[1].body
    );
    Ok(())
}

#[tokio::test]
async fn a_digest_replaces_single_mails_with_one_a_day() -> anyhow::Result<()> {
    let mut school = School::start("nf-digest", true).await?;
    let address = "digest@example.org";
    marks_by_email(&mut school.ivanovs.parent).await?;
    confirm(&mut school, address).await?;
    let digest = |hours, minutes| nf::SetDigestRequest {
        digest: Some(nf::Digest {
            enabled: true,
            at: Some(TimeOfDay { hours, minutes }),
        }),
    };
    // Due at the day's last minute: nothing goes yet.
    school
        .ivanovs
        .parent
        .n
        .preferences
        .set_digest(digest(23, 59))
        .await?;
    let class = school.class_5a.clone();
    let lesson = school.lesson(&class, school_day(), 4).await?;
    let child = school.ivanovs.student.id;
    school.marks(&lesson, &[(child, 5)]).await?;
    school.marks(&lesson, &[(child, 4)]).await?;
    feed_of(&mut school.ivanovs.parent, 2).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        mail_to(&school, address, 1).await?.len(),
        1,
        "only the code: no single mails"
    );

    // The digest's time comes (set to the day's first minute): one letter
    // with both marks, once.
    school
        .ivanovs
        .parent
        .n
        .preferences
        .set_digest(digest(0, 0))
        .await?;
    let letters = mail_to(&school, address, 2).await?;
    let summary = &letters[1];
    assert!(
        summary.subject.starts_with("Сводка за "),
        "{}",
        summary.subject
    );
    assert!(
        summary.subject.ends_with(": 2 уведомл."),
        "{}",
        summary.subject
    );
    assert_eq!(
        summary.body.matches("Новая оценка").count(),
        2,
        "{}",
        summary.body
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        mail_to(&school, address, 2).await?.len(),
        2,
        "one digest a day"
    );
    Ok(())
}

#[tokio::test]
async fn mail_goes_over_starttls_when_the_relay_requires_it() -> anyhow::Result<()> {
    let smtp = asurso_testkit::SmtpServer::start_tls().await?;
    let mut school = School::start_on("nf-tls", Some(smtp)).await?;
    let address = "tls@example.org";
    confirm(&mut school, address).await?;
    let letters = mail_to(&school, address, 1).await?;
    assert!(letters[0].tls, "the code went in the clear");
    let preferences = school
        .ivanovs
        .parent
        .n
        .preferences
        .get_preferences(nf::GetPreferencesRequest {})
        .await?
        .into_inner();
    assert!(preferences.email_confirmed);
    Ok(())
}
