//! The announcement board: who posts where, and who reads what.

use asurso_proto::{identity::Role, messaging as msg};
use tonic::Code;
use uuid::Uuid;

use crate::support::{Person, Region, violated_fields};

fn to_unit(unit: Uuid, title: &str) -> msg::PublishAnnouncementRequest {
    msg::PublishAnnouncementRequest {
        audience: Some(msg::Audience {
            org_unit_id: unit.to_string(),
            ..Default::default()
        }),
        title: title.into(),
        text: format!("{title}: подробности."),
        ..Default::default()
    }
}

fn to_class(class: &str, title: &str) -> msg::PublishAnnouncementRequest {
    msg::PublishAnnouncementRequest {
        audience: Some(msg::Audience {
            class_id: class.into(),
            ..Default::default()
        }),
        title: title.into(),
        text: format!("{title}: подробности."),
        ..Default::default()
    }
}

async fn board(person: &mut Person) -> anyhow::Result<Vec<String>> {
    Ok(person
        .msg
        .board
        .list_announcements(msg::ListAnnouncementsRequest::default())
        .await?
        .into_inner()
        .announcements
        .into_iter()
        .map(|a| a.title)
        .collect())
}

#[tokio::test]
async fn an_announcement_to_5a_is_read_by_5as_families_and_not_by_5bs() -> anyhow::Result<()> {
    let mut region = Region::new("class-board").await?;
    let class = region.class_5a.id.clone();
    let posted = region
        .director
        .msg
        .board
        .publish_announcement(to_class(&class, "Экскурсия 5А"))
        .await?
        .into_inner()
        .announcement
        .unwrap_or_default();
    assert_eq!(posted.audience_name, "5А (Школа № 1)");
    assert_eq!(board(&mut region.ivanovs.parent).await?, ["Экскурсия 5А"]);
    assert_eq!(board(&mut region.ivanovs.student).await?, ["Экскурсия 5А"]);
    assert_eq!(board(&mut region.class_teacher).await?, ["Экскурсия 5А"]);
    assert!(board(&mut region.kuznetsovs.parent).await?.is_empty());
    assert!(board(&mut region.teacher_5b).await?.is_empty());
    // The director is not in 5А's audience, but sees what they posted.
    assert_eq!(board(&mut region.director).await?, ["Экскурсия 5А"]);
    let hidden = region
        .kuznetsovs
        .parent
        .msg
        .board
        .get_announcement(msg::GetAnnouncementRequest {
            announcement_id: posted.id.clone(),
        })
        .await;
    assert_eq!(hidden.err().map(|s| s.code()), Some(Code::NotFound));

    // The class teacher of 5А may not post to the school; a teacher of 5Б
    // may not post to 5А; a parent may not post at all; another school's
    // director may not post to this one.
    let school_a = region.school_a();
    let refused = region
        .class_teacher
        .msg
        .board
        .publish_announcement(to_unit(school_a, "Всем"))
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    let refused = region
        .teacher_5b
        .msg
        .board
        .publish_announcement(to_class(&class, "Чужой класс"))
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    let refused = region
        .ivanovs
        .parent
        .msg
        .board
        .publish_announcement(to_class(&class, "От родителей"))
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    let refused = region
        .director_b
        .msg
        .board
        .publish_announcement(to_unit(school_a, "Соседям"))
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );

    // Taken down, it leaves every board.
    region
        .director
        .msg
        .board
        .withdraw_announcement(msg::WithdrawAnnouncementRequest {
            announcement_id: posted.id,
        })
        .await?;
    assert!(board(&mut region.ivanovs.parent).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_municipal_announcement_reaches_all_its_schools_and_no_other_municipality()
-> anyhow::Result<()> {
    let mut region = Region::new("municipal-board").await?;
    let municipality = region.stack.world.municipality;
    let posted = region
        .municipal
        .msg
        .board
        .publish_announcement(to_unit(municipality, "Каникулы в Тольятти"))
        .await?
        .into_inner()
        .announcement
        .unwrap_or_default();
    assert_eq!(posted.audience_name, "Тольятти");
    assert_eq!(
        board(&mut region.ivanovs.parent).await?,
        ["Каникулы в Тольятти"]
    );
    assert_eq!(
        board(&mut region.family_b.parent).await?,
        ["Каникулы в Тольятти"]
    );
    assert_eq!(
        board(&mut region.director_b).await?,
        ["Каникулы в Тольятти"]
    );
    assert!(board(&mut region.family_c.parent).await?.is_empty());

    // Another municipality is not theirs to post to.
    let elsewhere = region
        .municipal
        .msg
        .board
        .publish_announcement(to_unit(region.municipality_c, "Чужим"))
        .await;
    assert_eq!(
        elsewhere.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );

    // The region's announcement reaches everyone; one for teachers only
    // reaches no parent; the region's is pinned and comes first.
    let whole = region.stack.world.region;
    region
        .region_admin
        .msg
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            pinned: true,
            ..to_unit(whole, "Приказ министерства")
        })
        .await?;
    region
        .director
        .msg
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            audience: Some(msg::Audience {
                org_unit_id: region.school_a().to_string(),
                class_id: String::new(),
                roles: vec![Role::Teacher.into(), Role::ClassTeacher.into()],
            }),
            ..to_unit(region.school_a(), "Педсовет")
        })
        .await?;
    assert_eq!(
        board(&mut region.family_c.parent).await?,
        ["Приказ министерства"]
    );
    assert_eq!(
        board(&mut region.ivanovs.parent).await?,
        ["Приказ министерства", "Каникулы в Тольятти"]
    );
    assert_eq!(
        board(&mut region.maths).await?,
        ["Приказ министерства", "Педсовет", "Каникулы в Тольятти"]
    );

    // One announcement row for the whole region, and an event for each post.
    let pool = region.stack.messaging.db.pool.clone();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM announcements")
        .fetch_one(&pool)
        .await?;
    assert_eq!(rows, 3);
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE subject LIKE 'messaging.announcement.published.%'",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(events, 3);
    Ok(())
}

#[tokio::test]
async fn the_publish_window_paging_and_files_of_the_board() -> anyhow::Result<()> {
    let mut region = Region::new("window-board").await?;
    let school = region.school_a();
    let now = time::OffsetDateTime::now_utc();
    let later = prost_types::Timestamp {
        seconds: (now + time::Duration::days(2)).unix_timestamp(),
        nanos: 0,
    };
    region
        .director
        .msg
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            visible_from: Some(later),
            ..to_unit(school, "Послезавтра")
        })
        .await?;
    for n in 0..5 {
        region
            .director
            .msg
            .board
            .publish_announcement(to_unit(school, &format!("Новость {n}")))
            .await?;
    }
    let with_file = region
        .director
        .msg
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            attachments: vec![msg::NewAttachment {
                file_name: "меню.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.7 menu".to_vec(),
            }],
            ..to_unit(school, "Меню")
        })
        .await?
        .into_inner()
        .announcement
        .unwrap_or_default();

    let mut titles = Vec::new();
    let mut token = String::new();
    loop {
        let page = region
            .ivanovs
            .parent
            .msg
            .board
            .list_announcements(msg::ListAnnouncementsRequest {
                page: Some(asurso_proto::common::PageRequest {
                    page_size: 4,
                    page_token: token,
                }),
            })
            .await?
            .into_inner();
        titles.extend(page.announcements.into_iter().map(|a| a.title));
        token = page.page.unwrap_or_default().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(
        titles,
        [
            "Меню",
            "Новость 4",
            "Новость 3",
            "Новость 2",
            "Новость 1",
            "Новость 0"
        ],
        "newest first, nothing before its window"
    );
    let file = region
        .ivanovs
        .parent
        .msg
        .board
        .get_announcement_attachment(msg::GetAnnouncementAttachmentRequest {
            announcement_id: with_file.id.clone(),
            attachment_id: with_file.attachments[0].id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(file.content, b"%PDF-1.7 menu");

    let refused = region
        .director
        .msg
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            visible_until: Some(prost_types::Timestamp {
                seconds: now.unix_timestamp() - 60,
                nanos: 0,
            }),
            ..to_unit(school, "Вчерашнее")
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an announcement that ended before it began"))?;
    assert_eq!(violated_fields(&refused), ["visible_until"]);
    let refused = region
        .director
        .msg
        .board
        .publish_announcement(msg::PublishAnnouncementRequest {
            audience: Some(msg::Audience::default()),
            ..to_unit(school, "Никому")
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an announcement to nobody"))?;
    assert_eq!(violated_fields(&refused), ["audience"]);
    Ok(())
}
