//! Mail and the board end to end, through the gateway only: a mother
//! logged in through the development ESIA in a browser writes to her
//! child's class teacher (named by the group, not by her), the teacher
//! replies, and she reads the reply in the thread; the director posts an
//! announcement to the school and she reads it; she cannot write to
//! another family.

use asurso_e2e::{System, browser_login, login};
use asurso_proto::messaging as msg;
use tonic::Code;

/// The development ESIA's parent of two children in two schools.
const KUZNETSOVA: &str = "1000000003";
/// A parent of one child in the first school, and nothing else.
const OTHER_FAMILY: &str = "1000000001";

#[tokio::test]
async fn a_parent_writes_to_the_class_teacher_reads_the_reply_and_the_board() -> anyhow::Result<()>
{
    let system = System::start(300).await?;
    let demo = system.demo.clone();
    let kuznetsova = demo
        .families
        .iter()
        .find(|family| family.oid == KUZNETSOVA)
        .ok_or_else(|| anyhow::anyhow!("no demo family {KUZNETSOVA}"))?;
    let child = kuznetsova.children[0].clone();
    let school = demo
        .schools
        .iter()
        .find(|school| {
            school
                .classes
                .iter()
                .any(|class| class.students.iter().any(|(id, _)| *id == child))
        })
        .ok_or_else(|| anyhow::anyhow!("her first child is in no demo school"))?;

    let parent = browser_login(&system, KUZNETSOVA).await?;
    let mut as_parent =
        msg::mail_service_client::MailServiceClient::new(system.as_caller(&parent).await?);
    let sent = as_parent
        .send_message(msg::SendMessageRequest {
            to: vec![msg::Address {
                target: Some(msg::address::Target::Group(msg::Group {
                    kind: msg::GroupKind::ClassTeacherOf.into(),
                    student_id: child.clone(),
                    ..Default::default()
                })),
            }],
            subject: "Справка после болезни".into(),
            text: "Здравствуйте! Справку принесём в понедельник.".into(),
            idempotency_key: "e2e-letter".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .message
        .ok_or_else(|| anyhow::anyhow!("no letter in the answer"))?;
    let teacher_id = sent
        .recipients
        .first()
        .and_then(|recipient| recipient.person.as_ref())
        .map(|person| person.id.clone())
        .ok_or_else(|| anyhow::anyhow!("the letter went to nobody"))?;
    let teacher = school
        .teachers
        .iter()
        .find(|teacher| teacher.person_id == teacher_id)
        .ok_or_else(|| {
            anyhow::anyhow!("the letter went to {teacher_id}, no teacher of the school")
        })?;

    // The class teacher finds it in the inbox and replies.
    let teacher_token = login(&system, &teacher.login).await?.0;
    let mut as_teacher =
        msg::mail_service_client::MailServiceClient::new(system.as_caller(&teacher_token).await?);
    let inbox = as_teacher
        .list_messages(msg::ListMessagesRequest {
            folder: msg::Folder::Inbox.into(),
            query: "справка".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .messages;
    let letter = inbox
        .iter()
        .find(|letter| letter.id == sent.id)
        .ok_or_else(|| anyhow::anyhow!("the letter is not in the class teacher's inbox"))?;
    assert!(!letter.read);
    as_teacher
        .send_message(msg::SendMessageRequest {
            reply_to_message_id: sent.id.clone(),
            text: "Спасибо, ждём.".into(),
            ..Default::default()
        })
        .await?;

    // The mother reads the reply, in the thread of her letter.
    let replies = as_parent
        .list_messages(msg::ListMessagesRequest {
            folder: msg::Folder::Inbox.into(),
            unread_only: true,
            ..Default::default()
        })
        .await?
        .into_inner()
        .messages;
    let reply = replies
        .iter()
        .find(|reply| reply.thread_id == sent.thread_id)
        .ok_or_else(|| anyhow::anyhow!("no reply in her inbox"))?;
    assert_eq!(reply.subject, "Re: Справка после болезни");
    let read = as_parent
        .get_message(msg::GetMessageRequest {
            message_id: reply.id.clone(),
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert_eq!(read.text, "Спасибо, ждём.");

    // She may not write to another family.
    let other_parent = demo
        .families
        .iter()
        .find(|family| family.oid == OTHER_FAMILY)
        .ok_or_else(|| anyhow::anyhow!("no demo family {OTHER_FAMILY}"))?;
    let refused = as_parent
        .send_message(msg::SendMessageRequest {
            to: vec![msg::Address {
                target: Some(msg::address::Target::PersonId(
                    other_parent.person_id.clone(),
                )),
            }],
            subject: "Привет".into(),
            text: "Как дела?".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );

    // The director posts to the school; she reads it on her board.
    let director = login(&system, &school.director).await?.0;
    msg::announcement_service_client::AnnouncementServiceClient::new(
        system.as_caller(&director).await?,
    )
    .publish_announcement(msg::PublishAnnouncementRequest {
        audience: Some(msg::Audience {
            org_unit_id: school.id.clone(),
            ..Default::default()
        }),
        title: "Субботник".into(),
        text: "В субботу убираем пришкольный участок.".into(),
        ..Default::default()
    })
    .await?;
    let board = msg::announcement_service_client::AnnouncementServiceClient::new(
        system.as_caller(&parent).await?,
    )
    .list_announcements(msg::ListAnnouncementsRequest::default())
    .await?
    .into_inner()
    .announcements;
    let titles: Vec<&str> = board.iter().map(|a| a.title.as_str()).collect();
    assert!(titles.contains(&"Субботник"), "{titles:?}");
    // The region's pinned announcement of the demo comes first.
    assert_eq!(titles.first(), Some(&"Зимние каникулы"), "{titles:?}");
    system.stop().await
}
