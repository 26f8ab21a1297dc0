//! The demo's mail and board: announcements of the region, the
//! municipality, each school and its first class; in Школа № 1 a letter to
//! the staff, one to 5А's parents, and a student's question to her class
//! teacher with the answer in the thread.
//!
//! Letters and announcements are looked up first (the sender's sent folder,
//! the poster's board), so seeding again posts and sends nothing new.

use anyhow::anyhow;
use asurso_proto::messaging as msg;
use tonic::Code;

use super::{
    DEMO_PASSWORD, REGION_ADMIN, School,
    clients::{Actor, Channels, patiently},
};

/// Someone of the demo, logged in just now: a run of the end-to-end tests
/// issues tokens that live seconds, so none is kept from one step to the
/// next.
async fn as_person(channels: &Channels, login: &str) -> anyhow::Result<Actor> {
    let password = if login == REGION_ADMIN.0 {
        REGION_ADMIN.1
    } else {
        DEMO_PASSWORD
    };
    channels.actor(&channels.login(login, password).await?)
}

fn to_unit(unit: &str, title: &str, text: &str, pinned: bool) -> msg::PublishAnnouncementRequest {
    msg::PublishAnnouncementRequest {
        audience: Some(msg::Audience {
            org_unit_id: unit.to_owned(),
            ..Default::default()
        }),
        title: title.to_owned(),
        text: text.to_owned(),
        pinned,
        ..Default::default()
    }
}

fn group(kind: msg::GroupKind, school: &str, class: &str, student: &str) -> msg::Address {
    msg::Address {
        target: Some(msg::address::Target::Group(msg::Group {
            kind: kind.into(),
            school_id: school.to_owned(),
            class_id: class.to_owned(),
            student_id: student.to_owned(),
        })),
    }
}

/// Posts unless the poster's board already shows an announcement so named.
/// Messaging learns of schools, people and classes from the other
/// services' events a moment after they answered: it waits for that.
async fn announce(
    channels: &Channels,
    login: &str,
    request: msg::PublishAnnouncementRequest,
) -> anyhow::Result<()> {
    let poster = as_person(channels, login).await?;
    let mut board = poster.board.clone();
    let posted = board
        .list_announcements(msg::ListAnnouncementsRequest {
            page: Some(asurso_proto::common::PageRequest {
                page_size: 500,
                page_token: String::new(),
            }),
        })
        .await?
        .into_inner()
        .announcements;
    if posted.iter().any(|a| a.title == request.title) {
        return Ok(());
    }
    patiently("an announcement", &[], || {
        let mut board = poster.board.clone();
        let request = request.clone();
        async move { board.publish_announcement(request).await }
    })
    .await?;
    Ok(())
}

/// Sends unless the sender's sent folder holds a letter of that subject;
/// the letter as sent (or as found).
async fn send(
    channels: &Channels,
    login: &str,
    request: msg::SendMessageRequest,
) -> anyhow::Result<String> {
    let sender = as_person(channels, login).await?;
    let mut mail = sender.mail.clone();
    let subject = request.subject.clone();
    let sent = mail
        .list_messages(msg::ListMessagesRequest {
            folder: msg::Folder::Sent.into(),
            page: Some(asurso_proto::common::PageRequest {
                page_size: 500,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await?
        .into_inner()
        .messages;
    if let Some(found) = sent.iter().find(|m| m.subject == subject) {
        return Ok(found.id.clone());
    }
    let sent = patiently("a letter", &[Code::InvalidArgument], || {
        let mut mail = sender.mail.clone();
        let request = request.clone();
        async move { mail.send_message(request).await }
    })
    .await?
    .into_inner();
    sent.message
        .map(|m| m.id)
        .ok_or_else(|| anyhow!("no letter in the answer"))
}

pub(super) async fn seed_messaging(
    channels: &Channels,
    municipality_id: &str,
    region_id: &str,
    schools: &[School],
) -> anyhow::Result<()> {
    announce(
        channels,
        REGION_ADMIN.0,
        to_unit(
            region_id,
            "Зимние каникулы",
            "Зимние каникулы во всех школах области — с 29 декабря по 11 января.",
            true,
        ),
    )
    .await?;
    announce(
        channels,
        REGION_ADMIN.0,
        to_unit(
            municipality_id,
            "Муниципальный этап олимпиады",
            "Муниципальный этап всероссийской олимпиады школьников пройдёт в декабре.",
            false,
        ),
    )
    .await?;
    for school in schools {
        announce(
            channels,
            &school.director,
            to_unit(
                &school.id,
                &format!("День открытых дверей — {}", school.name),
                "Приглашаем родителей в субботу к 10:00.",
                false,
            ),
        )
        .await?;
        if let Some(class) = school.classes.first() {
            announce(
                channels,
                &school.director,
                msg::PublishAnnouncementRequest {
                    audience: Some(msg::Audience {
                        class_id: class.id.clone(),
                        ..Default::default()
                    }),
                    ..to_unit(
                        "",
                        &format!("Экскурсия {}", class.name),
                        "В пятницу класс едет в краеведческий музей; сбор в 9:00 у школы.",
                        false,
                    )
                },
            )
            .await?;
        }
    }

    let Some(school) = schools.first() else {
        return Ok(());
    };
    send(
        channels,
        &school.director,
        msg::SendMessageRequest {
            to: vec![group(msg::GroupKind::SchoolStaff, &school.id, "", "")],
            subject: "Педсовет в пятницу".to_owned(),
            text: "Коллеги, педсовет в пятницу в 15:00 в актовом зале.".to_owned(),
            ..Default::default()
        },
    )
    .await?;
    let (Some(class), Some(class_teacher)) = (school.classes.first(), school.teachers.first())
    else {
        return Ok(());
    };
    send(
        channels,
        &class_teacher.login,
        msg::SendMessageRequest {
            to: vec![group(msg::GroupKind::ClassParents, "", &class.id, "")],
            subject: format!("Родительское собрание {}", class.name),
            text: "Уважаемые родители! Собрание в четверг в 18:00, кабинет 12.".to_owned(),
            ..Default::default()
        },
    )
    .await?;
    let Some((student_id, _)) = class.students.first() else {
        return Ok(());
    };
    let question = send(
        channels,
        "student1",
        msg::SendMessageRequest {
            to: vec![group(msg::GroupKind::ClassTeacherOf, "", "", student_id)],
            subject: "Вопрос о контрольной".to_owned(),
            text: "Здравствуйте! Можно написать контрольную в понедельник?".to_owned(),
            ..Default::default()
        },
    )
    .await?;
    send(
        channels,
        &class_teacher.login,
        msg::SendMessageRequest {
            reply_to_message_id: question,
            subject: "Re: Вопрос о контрольной".to_owned(),
            text: "Да, в понедельник после уроков.".to_owned(),
            ..Default::default()
        },
    )
    .await?;
    Ok(())
}
