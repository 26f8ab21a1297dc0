//! Mail: who may write to whom (both sides of every rule), threads,
//! bcc, folders, drafts, search, attachments, limits, events.

use asurso_proto::messaging as msg;
use tonic::Code;

use crate::support::{Region, folder, letter, to_group, to_person, violated_fields};

#[tokio::test]
async fn a_parent_writes_to_her_childs_class_teacher_who_replies_in_the_thread()
-> anyhow::Result<()> {
    let mut region = Region::new("thread").await?;
    let child = region.ivanovs.student.id;
    let sent = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_group(
                msg::GroupKind::ClassTeacherOf,
                None,
                None,
                Some(child),
            )],
            "Пропуск в пятницу",
            "Сын будет у врача в пятницу.",
        ))
        .await?
        .into_inner();
    assert_eq!(sent.delivered_to, 1);
    let sent = sent.message.unwrap_or_default();

    let inbox = folder(&mut region.class_teacher, msg::Folder::Inbox).await?;
    assert_eq!(inbox.len(), 1);
    assert!(!inbox[0].read);
    assert_eq!(inbox[0].subject, "Пропуск в пятницу");
    assert_eq!(
        region
            .class_teacher
            .msg
            .mail
            .get_unread_count(msg::GetUnreadCountRequest {})
            .await?
            .into_inner()
            .unread,
        1
    );
    let read = region
        .class_teacher
        .msg
        .mail
        .get_message(msg::GetMessageRequest {
            message_id: sent.id.clone(),
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert_eq!(read.text, "Сын будет у врача в пятницу.");
    assert!(read.read);

    // The reply needs no address: it goes back to the sender, in the thread.
    let reply = region
        .class_teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            text: "Хорошо, спасибо, что предупредили.".into(),
            reply_to_message_id: sent.id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert_eq!(reply.subject, "Re: Пропуск в пятницу");
    assert_eq!(reply.thread_id, sent.thread_id);

    let parents_inbox = folder(&mut region.ivanovs.parent, msg::Folder::Inbox).await?;
    assert_eq!(parents_inbox.len(), 1);
    assert_eq!(parents_inbox[0].id, reply.id);
    let thread = region
        .ivanovs
        .parent
        .msg
        .mail
        .get_thread(msg::GetThreadRequest {
            thread_id: sent.thread_id.clone(),
        })
        .await?
        .into_inner()
        .messages;
    let texts: Vec<&str> = thread.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Сын будет у врача в пятницу.",
            "Хорошо, спасибо, что предупредили."
        ]
    );

    // Correspondence is its people's only: the director reads neither.
    let director = region
        .director
        .msg
        .mail
        .get_message(msg::GetMessageRequest {
            message_id: sent.id.clone(),
        })
        .await;
    assert_eq!(director.err().map(|s| s.code()), Some(Code::NotFound));
    let director_thread = region
        .director
        .msg
        .mail
        .get_thread(msg::GetThreadRequest {
            thread_id: sent.thread_id,
        })
        .await;
    assert_eq!(
        director_thread.err().map(|s| s.code()),
        Some(Code::NotFound)
    );
    Ok(())
}

#[tokio::test]
async fn nobody_writes_to_another_family_unless_the_region_allows_it() -> anyhow::Result<()> {
    let mut region = Region::new("families").await?;
    let other_parent = region.smirnovs.parent.id;
    let refused = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_person(region.maths.id), to_person(other_parent)],
            "Поездка",
            "Поедете с нами?",
        ))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a parent wrote to another family"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("to[1].person_id"),
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains(&other_parent.to_string()),
        "{}",
        refused.message()
    );
    assert!(
        !refused.message().contains("Петров"),
        "{}",
        refused.message()
    );
    // Nothing was written: not even to the teacher the letter also named.
    assert!(
        folder(&mut region.maths, msg::Folder::Inbox)
            .await?
            .is_empty()
    );
    assert!(
        folder(&mut region.ivanovs.parent, msg::Folder::Sent)
            .await?
            .is_empty()
    );

    // A class's parents are a group for staff only.
    let class = region.class_5a.id.clone();
    let group = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_group(
                msg::GroupKind::ClassParents,
                None,
                Some(&class),
                None,
            )],
            "Всем",
            "Собираем на подарок.",
        ))
        .await;
    assert_eq!(group.err().map(|s| s.code()), Some(Code::PermissionDenied));

    // The region allows families of a class to write to each other: the
    // Smirnovs (5А) now, the Kuznetsovs (5Б) still not.
    region
        .rules(|rules| rules.families_write_to_families = true)
        .await?;
    // A class's parents stay a group for staff, whatever the rules.
    let group = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_group(
                msg::GroupKind::ClassParents,
                None,
                Some(&class),
                None,
            )],
            "Всем",
            "Собираем на подарок.",
        ))
        .await;
    assert_eq!(group.err().map(|s| s.code()), Some(Code::PermissionDenied));
    region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_person(other_parent)],
            "Поездка",
            "Поедете с нами?",
        ))
        .await?;
    assert_eq!(
        folder(&mut region.smirnovs.parent, msg::Folder::Inbox)
            .await?
            .len(),
        1
    );
    let other_class = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_person(region.kuznetsovs.parent.id)],
            "Поездка",
            "Поедете с нами?",
        ))
        .await;
    assert_eq!(
        other_class.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );
    Ok(())
}

#[tokio::test]
async fn students_write_to_their_own_teachers_and_staff_to_anyone_of_their_school()
-> anyhow::Result<()> {
    let mut region = Region::new("students").await?;
    let (maths, teacher_5b, director) = (region.maths.id, region.teacher_5b.id, region.director.id);
    let student = &mut region.ivanovs.student;
    for allowed in [maths, region.class_teacher.id, director] {
        student
            .msg
            .mail
            .send_message(letter(
                vec![to_person(allowed)],
                "Вопрос",
                "Можно пересдать?",
            ))
            .await?;
    }
    for refused in [teacher_5b, region.smirnovs.parent.id, region.director_b.id] {
        let answer = student
            .msg
            .mail
            .send_message(letter(
                vec![to_person(refused)],
                "Вопрос",
                "Можно пересдать?",
            ))
            .await;
        assert_eq!(
            answer.err().map(|s| s.code()),
            Some(Code::PermissionDenied),
            "{refused}"
        );
    }
    // A parent writes to the staff of her child's school, not another's.
    region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(vec![to_person(teacher_5b)], "Кружок", "Есть места?"))
        .await?;
    let other_school = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(letter(
            vec![to_person(region.director_b.id)],
            "Перевод",
            "Есть места?",
        ))
        .await;
    assert_eq!(
        other_school.err().map(|s| s.code()),
        Some(Code::PermissionDenied)
    );

    // Staff write to a whole class's parents; each gets their own copy
    // and the relay has one delivery event for each.
    let class = region.class_5a.id.clone();
    let sent = region
        .class_teacher
        .msg
        .mail
        .send_message(letter(
            vec![to_group(
                msg::GroupKind::ClassParents,
                None,
                Some(&class),
                None,
            )],
            "Собрание",
            "Родительское собрание в четверг в 18:00.",
        ))
        .await?
        .into_inner();
    assert_eq!(sent.delivered_to, 2);
    let sent = sent.message.unwrap_or_default();
    assert_eq!(sent.groups, ["Родители 5А"]);
    assert_eq!(
        sent.recipients.len(),
        2,
        "the sender sees whom the group reached"
    );
    // A family sees the group's name and itself, not the other families.
    let as_ivanova = region
        .ivanovs
        .parent
        .msg
        .mail
        .get_message(msg::GetMessageRequest {
            message_id: sent.id.clone(),
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert_eq!(as_ivanova.groups, ["Родители 5А"]);
    let shown: Vec<String> = as_ivanova
        .recipients
        .iter()
        .filter_map(|r| r.person.as_ref().map(|p| p.id.clone()))
        .collect();
    assert_eq!(shown, [region.ivanovs.parent.id.to_string()]);
    // Reply-all goes to the teacher alone, not to the other families.
    let reply = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            reply_to_message_id: sent.id.clone(),
            reply_all: true,
            text: "Придём.".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(reply.delivered_to, 1);
    // Named in bcc and also in the group: hidden from the other families.
    let both = region
        .class_teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            bcc: vec![to_person(region.ivanovs.parent.id)],
            ..letter(
                vec![to_group(
                    msg::GroupKind::ClassParents,
                    None,
                    Some(&class),
                    None,
                )],
                "Дежурство",
                "График дежурств.",
            )
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    let as_smirnova = region
        .smirnovs
        .parent
        .msg
        .mail
        .get_message(msg::GetMessageRequest {
            message_id: both.id.clone(),
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    let shown: Vec<String> = as_smirnova
        .recipients
        .iter()
        .filter_map(|r| r.person.as_ref().map(|p| p.id.clone()))
        .collect();
    assert_eq!(shown, [region.smirnovs.parent.id.to_string()]);
    assert_eq!(
        folder(&mut region.ivanovs.parent, msg::Folder::Inbox)
            .await?
            .len(),
        2
    );
    assert_eq!(
        folder(&mut region.smirnovs.parent, msg::Folder::Inbox)
            .await?
            .len(),
        2
    );
    assert!(
        folder(&mut region.kuznetsovs.parent, msg::Folder::Inbox)
            .await?
            .is_empty()
    );
    let message_id = sent.id.clone();
    let events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE subject LIKE 'messaging.message.delivered.%' \
         AND aggregate_id = $1",
    )
    .bind(&message_id)
    .fetch_one(&region.stack.messaging.db.pool)
    .await?;
    assert_eq!(events, 2);

    // A teacher of another school's class is refused as a group too.
    let school_b = region.stack.world.school_b;
    let staff_b = region
        .maths
        .msg
        .mail
        .send_message(letter(
            vec![to_group(
                msg::GroupKind::SchoolStaff,
                Some(school_b),
                None,
                None,
            )],
            "Обмен опытом",
            "Коллеги, добрый день.",
        ))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a teacher wrote to another school's staff"))?;
    assert_eq!(staff_b.code(), Code::PermissionDenied);
    assert!(
        staff_b.message().contains("to[0].group"),
        "{}",
        staff_b.message()
    );
    Ok(())
}

#[tokio::test]
async fn bcc_is_never_shown_to_the_other_recipients_and_reply_all_leaves_it_out()
-> anyhow::Result<()> {
    let mut region = Region::new("bcc").await?;
    let (parent, director, class_teacher) = (
        region.ivanovs.parent.id,
        region.director.id,
        region.class_teacher.id,
    );
    let sent = region
        .maths
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            to: vec![to_person(parent)],
            cc: vec![to_person(class_teacher)],
            bcc: vec![to_person(director)],
            subject: "Контрольная".into(),
            text: "Контрольная работа перенесена на вторник.".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    let kinds = |message: &msg::Message| {
        let mut kinds: Vec<(String, i32)> = message
            .recipients
            .iter()
            .map(|r| (r.person.clone().unwrap_or_default().id, r.kind))
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(sent.recipients.len(), 3, "the sender sees bcc");

    let as_parent = region
        .ivanovs
        .parent
        .msg
        .mail
        .get_message(msg::GetMessageRequest {
            message_id: sent.id.clone(),
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    let mut expected = vec![
        (parent.to_string(), i32::from(msg::RecipientKind::To)),
        (class_teacher.to_string(), i32::from(msg::RecipientKind::Cc)),
    ];
    expected.sort();
    assert_eq!(kinds(&as_parent), expected);

    let as_director = region
        .director
        .msg
        .mail
        .get_message(msg::GetMessageRequest {
            message_id: sent.id.clone(),
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert!(
        as_director
            .recipients
            .iter()
            .any(|r| r.kind == i32::from(msg::RecipientKind::Bcc)
                && r.person
                    .as_ref()
                    .is_some_and(|p| p.id == director.to_string())),
        "a bcc recipient sees themself"
    );

    // Reply-all from the parent: the sender and cc, never the bcc.
    let reply = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            text: "Спасибо!".into(),
            reply_to_message_id: sent.id.clone(),
            reply_all: true,
            ..Default::default()
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    let mut to: Vec<String> = reply
        .recipients
        .iter()
        .filter_map(|r| r.person.as_ref().map(|p| p.id.clone()))
        .collect();
    to.sort();
    let mut expected = vec![region.maths.id.to_string(), class_teacher.to_string()];
    expected.sort();
    assert_eq!(to, expected);
    assert_eq!(
        folder(&mut region.director, msg::Folder::Inbox)
            .await?
            .len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn folders_drafts_search_paging_and_deletion_as_a_mailbox_should() -> anyhow::Result<()> {
    let mut region = Region::new("folders").await?;
    let parent = region.ivanovs.parent.id;
    let teacher = &mut region.class_teacher;
    for (n, subject) in [
        "Собрание родителей",
        "Экскурсия в музей",
        "Оценки за четверть",
        "Дежурство",
        "Школьная форма",
    ]
    .into_iter()
    .enumerate()
    {
        teacher
            .msg
            .mail
            .send_message(msg::SendMessageRequest {
                idempotency_key: format!("letter-{n}"),
                ..letter(
                    vec![to_person(parent)],
                    subject,
                    &format!("Письмо номер {n}."),
                )
            })
            .await?;
    }
    // A retry with the same key sends nothing new.
    teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            idempotency_key: "letter-0".into(),
            ..letter(
                vec![to_person(parent)],
                "Собрание родителей",
                "Письмо номер 0.",
            )
        })
        .await?;
    let mother = &mut region.ivanovs.parent;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = mother
            .msg
            .mail
            .list_messages(msg::ListMessagesRequest {
                folder: msg::Folder::Inbox.into(),
                page: Some(asurso_proto::common::PageRequest {
                    page_size: 2,
                    page_token: token.clone(),
                }),
                ..Default::default()
            })
            .await?
            .into_inner();
        assert!(page.messages.len() <= 2);
        seen.extend(page.messages.into_iter().map(|m| m.subject));
        token = page.page.unwrap_or_default().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            "Школьная форма",
            "Дежурство",
            "Оценки за четверть",
            "Экскурсия в музей",
            "Собрание родителей"
        ]
    );
    let bad_token = mother
        .msg
        .mail
        .list_messages(msg::ListMessagesRequest {
            page: Some(asurso_proto::common::PageRequest {
                page_size: 2,
                page_token: "nonsense".into(),
            }),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a made-up page token was taken"))?;
    assert_eq!(violated_fields(&bad_token), ["page.page_token"]);

    // Russian full-text search finds other forms of a word.
    let found = mother
        .msg
        .mail
        .list_messages(msg::ListMessagesRequest {
            query: "собрания".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .messages;
    assert_eq!(
        found.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(),
        ["Собрание родителей"]
    );

    // Unread, read, deleted, restored.
    let first = found[0].id.clone();
    mother
        .msg
        .mail
        .mark_read(msg::MarkReadRequest {
            message_ids: vec![first.clone()],
            read: true,
        })
        .await?;
    let unread = mother
        .msg
        .mail
        .list_messages(msg::ListMessagesRequest {
            unread_only: true,
            ..Default::default()
        })
        .await?
        .into_inner()
        .messages;
    assert_eq!(unread.len(), 4);
    mother
        .msg
        .mail
        .delete_messages(msg::DeleteMessagesRequest {
            message_ids: vec![first.clone()],
        })
        .await?;
    assert_eq!(folder(mother, msg::Folder::Inbox).await?.len(), 4);
    let deleted = folder(mother, msg::Folder::Deleted).await?;
    assert_eq!(
        deleted.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [first.as_str()]
    );
    mother
        .msg
        .mail
        .restore_messages(msg::RestoreMessagesRequest {
            message_ids: vec![first.clone()],
        })
        .await?;
    assert_eq!(folder(mother, msg::Folder::Inbox).await?.len(), 5);

    // Deleted mail past the region's days is emptied by the housekeeping.
    mother
        .msg
        .mail
        .delete_messages(msg::DeleteMessagesRequest {
            message_ids: vec![first.clone()],
        })
        .await?;
    let pool = region.stack.messaging.db.pool.clone();
    sqlx::query(
        "UPDATE mailbox SET deleted_at = now() - interval '31 days' \
         WHERE owner_id = $1 AND deleted_at IS NOT NULL",
    )
    .bind(parent)
    .execute(&pool)
    .await?;
    let emptied = asurso_messaging::storage::mail::purge(pool.clone()).await?;
    assert_eq!(emptied, 1);
    assert!(
        folder(&mut region.ivanovs.parent, msg::Folder::Deleted)
            .await?
            .is_empty()
    );
    // The sender keeps their copy.
    assert_eq!(
        folder(&mut region.class_teacher, msg::Folder::Sent)
            .await?
            .len(),
        5
    );

    // A draft: saved, listed, sent (with its file), gone from drafts.
    let teacher = &mut region.class_teacher;
    let draft = teacher
        .msg
        .mail
        .save_draft(msg::SaveDraftRequest {
            to: vec![to_person(parent)],
            subject: "Расписание".into(),
            text: "Черновик".into(),
            attachments: vec![msg::NewAttachment {
                file_name: "расписание.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.7 timetable".to_vec(),
            }],
            ..Default::default()
        })
        .await?
        .into_inner()
        .draft
        .unwrap_or_default();
    assert_eq!(draft.draft_to.len(), 1);
    assert_eq!(folder(teacher, msg::Folder::Drafts).await?.len(), 1);
    let sent = teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            draft_id: draft.id.clone(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    // Sent as saved: its addresses, subject, text and file.
    assert_eq!(sent.attachments.len(), 1);
    assert_eq!(sent.subject, "Расписание");
    assert_eq!(sent.text, "Черновик");
    assert_eq!(sent.recipients.len(), 1);
    // Sent once: the draft is gone.
    let again = teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            draft_id: draft.id.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(again.err().map(|s| s.code()), Some(Code::NotFound));
    // A draft holds at most ten files, however many calls bring them.
    let pdf = |n: usize| msg::NewAttachment {
        file_name: format!("лист{n}.pdf"),
        content_type: "application/pdf".into(),
        content: format!("%PDF-1.7 page {n}").into_bytes(),
    };
    let full = teacher
        .msg
        .mail
        .save_draft(msg::SaveDraftRequest {
            subject: "Много файлов".into(),
            attachments: (0..10).map(pdf).collect(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .draft
        .unwrap_or_default();
    let eleventh = teacher
        .msg
        .mail
        .save_draft(msg::SaveDraftRequest {
            draft_id: full.id.clone(),
            subject: "Много файлов".into(),
            attachments: vec![pdf(10)],
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an eleventh file joined the draft"))?;
    assert_eq!(violated_fields(&eleventh), ["attachments"]);
    let drafts = folder(teacher, msg::Folder::Drafts).await?;
    assert_eq!(
        drafts
            .iter()
            .map(|d| d.subject.as_str())
            .collect::<Vec<_>>(),
        ["Много файлов"]
    );
    let file = region
        .ivanovs
        .parent
        .msg
        .mail
        .get_message_attachment(msg::GetMessageAttachmentRequest {
            message_id: sent.id.clone(),
            attachment_id: sent.attachments[0].id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(file.content, b"%PDF-1.7 timetable");
    Ok(())
}

#[tokio::test]
async fn attachments_are_checked_stored_once_and_forwarded_without_copies() -> anyhow::Result<()> {
    let mut region = Region::new("files").await?;
    let class = region.class_5a.id.clone();
    let bad = region
        .class_teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            attachments: vec![msg::NewAttachment {
                file_name: "program.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"MZ\x90\x00".to_vec(),
            }],
            ..letter(
                vec![to_group(
                    msg::GroupKind::ClassParents,
                    None,
                    Some(&class),
                    None,
                )],
                "Файл",
                "Смотрите вложение.",
            )
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an executable passed as a PDF"))?;
    assert_eq!(violated_fields(&bad), ["attachments[0].content"]);

    let sent = region
        .class_teacher
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            attachments: vec![msg::NewAttachment {
                file_name: "план.pdf".into(),
                content_type: "application/pdf".into(),
                content: b"%PDF-1.7 plan".to_vec(),
            }],
            format: msg::TextFormat::Html.into(),
            ..letter(
                vec![to_group(
                    msg::GroupKind::ClassParents,
                    None,
                    Some(&class),
                    None,
                )],
                "План",
                "<p>План <b>экскурсии</b></p><script>steal()</script>",
            )
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert!(!sent.text.contains("script"), "{}", sent.text);
    assert!(sent.text.contains("<b>экскурсии</b>"), "{}", sent.text);
    let pool = region.stack.messaging.db.pool.clone();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&pool)
        .await?;
    assert_eq!(stored, 1, "one file for two recipients");

    // The mother forwards it to the maths teacher: the same thread, the
    // same stored file.
    let forwarded = region
        .ivanovs
        .parent
        .msg
        .mail
        .send_message(msg::SendMessageRequest {
            to: vec![to_person(region.maths.id)],
            forward_of_message_id: sent.id.clone(),
            text: "Посмотрите, пожалуйста.".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .message
        .unwrap_or_default();
    assert_eq!(forwarded.subject, "Fwd: План");
    assert_eq!(forwarded.thread_id, sent.thread_id);
    assert_eq!(forwarded.attachments.len(), 1);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM attachments")
        .fetch_one(&pool)
        .await?;
    assert_eq!(stored, 1);
    // Only a holder of the letter reads its file.
    let stranger = region
        .kuznetsovs
        .parent
        .msg
        .mail
        .get_message_attachment(msg::GetMessageAttachmentRequest {
            message_id: sent.id.clone(),
            attachment_id: sent.attachments[0].id.clone(),
        })
        .await;
    assert_eq!(stranger.err().map(|s| s.code()), Some(Code::NotFound));
    Ok(())
}

#[tokio::test]
async fn senders_are_limited_per_hour_and_bad_letters_name_their_field() -> anyhow::Result<()> {
    let mut region = Region::new("limits").await?;
    region
        .rules(|rules| rules.parent_messages_per_hour = 2)
        .await?;
    let maths = region.maths.id;
    let parent = &mut region.ivanovs.parent;
    for _ in 0..2 {
        parent
            .msg
            .mail
            .send_message(letter(
                vec![to_person(maths)],
                "Вопрос",
                "Когда контрольная?",
            ))
            .await?;
    }
    let third = parent
        .msg
        .mail
        .send_message(letter(
            vec![to_person(maths)],
            "Вопрос",
            "Когда контрольная?",
        ))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("the third letter in an hour went"))?;
    assert_eq!(third.code(), Code::ResourceExhausted);
    // Staff are not held to a parent's limit.
    let teacher = &mut region.maths;
    for _ in 0..3 {
        teacher
            .msg
            .mail
            .send_message(letter(
                vec![to_person(region.ivanovs.parent.id)],
                "Ответ",
                "В среду.",
            ))
            .await?;
    }

    for (request, field) in [
        (
            letter(vec![to_person(region.ivanovs.parent.id)], "", "текст"),
            "subject",
        ),
        (
            letter(
                vec![to_person(region.ivanovs.parent.id)],
                &"т".repeat(201),
                "текст",
            ),
            "subject",
        ),
        (letter(vec![], "Тема", "текст"), "to"),
        (
            letter(vec![msg::Address { target: None }], "Тема", "текст"),
            "to[0]",
        ),
        (
            letter(
                vec![msg::Address {
                    target: Some(msg::address::Target::PersonId("nobody".into())),
                }],
                "Тема",
                "текст",
            ),
            "to[0].person_id",
        ),
        (
            letter(
                vec![to_group(msg::GroupKind::Unspecified, None, None, None)],
                "Тема",
                "текст",
            ),
            "to[0].group.kind",
        ),
        (
            msg::SendMessageRequest {
                format: 7,
                ..letter(vec![to_person(maths)], "Тема", "т")
            },
            "format",
        ),
    ] {
        let refused = teacher
            .msg
            .mail
            .send_message(request)
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a bad letter about {field} went"))?;
        assert_eq!(
            refused.code(),
            Code::InvalidArgument,
            "{field}: {}",
            refused.message()
        );
        assert_eq!(violated_fields(&refused), [field]);
    }
    Ok(())
}
