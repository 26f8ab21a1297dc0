use asurso_proto::attendance as pb;
use tonic::Code;
use uuid::Uuid;

use crate::support::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-a-scanned-note";

fn note(
    student: Uuid,
    lesson: &asurso_proto::gradebook::Lesson,
    code: &str,
) -> pb::SubmitNoteRequest {
    pb::SubmitNoteRequest {
        student_id: student.to_string(),
        from_date: lesson.date,
        to_date: lesson.date,
        code: code.into(),
        text: "Был у врача".into(),
        scan: PNG.to_vec(),
        idempotency_key: String::new(),
    }
}

fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Option<Code> {
    result.err().map(|status| status.code())
}

#[tokio::test]
async fn a_parents_note_accepted_by_the_class_teacher_turns_the_days_absences_valid()
-> anyhow::Result<()> {
    let mut c = Class5::new("notes").await?;
    let s0 = c.students[0];
    for lesson in [c.recent.id.clone(), c.old.id.clone()] {
        c.teacher
            .at
            .attendance
            .take_lesson(pb::TakeLessonRequest {
                lesson_id: lesson,
                absences: vec![pb::Absence {
                    student_id: s0.to_string(),
                    code: "НП".into(),
                    minutes_late: 0,
                }],
                reason: String::new(),
                idempotency_key: String::new(),
            })
            .await?;
    }

    // What is refused, by field or by who asks.
    let parent = &mut c.parent.at.notes;
    let mut wrong = note(s0, &c.recent, "Б");
    wrong.scan = b"GIF89a not a scan we take".to_vec();
    let refused = parent.submit_note(wrong).await.err();
    assert_eq!(
        refused.as_ref().map(violated_fields),
        Some(vec!["scan".to_owned()])
    );
    let refused = parent.submit_note(note(s0, &c.recent, "НП")).await.err();
    assert_eq!(
        refused.as_ref().map(violated_fields),
        Some(vec!["code".to_owned()])
    );
    let mut backwards = note(s0, &c.recent, "Б");
    backwards.from_date = c.ahead.date;
    let refused = parent.submit_note(backwards).await.err();
    assert_eq!(
        refused.as_ref().map(violated_fields),
        Some(vec!["to_date".to_owned()])
    );
    let refused = c
        .other_parent
        .at
        .notes
        .submit_note(note(s0, &c.recent, "Б"))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    let refused = c
        .teacher
        .at
        .notes
        .submit_note(note(s0, &c.recent, "Б"))
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));

    // The parent's note for the recent day, with a scan.
    let submitted = parent
        .submit_note(note(s0, &c.recent, "Б"))
        .await?
        .into_inner()
        .note
        .ok_or_else(|| anyhow::anyhow!("no note"))?;
    assert_eq!(submitted.status, i32::from(pb::NoteStatus::Submitted));
    assert_eq!(submitted.scan_type, "image/png");
    let scan = parent
        .get_note_scan(pb::GetNoteScanRequest {
            note_id: submitted.id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(scan.scan, PNG);
    let refused = c
        .other_parent
        .at
        .notes
        .get_note_scan(pb::GetNoteScanRequest {
            note_id: submitted.id.clone(),
        })
        .await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));

    // Another teacher may not decide it; a decline needs a word to the
    // family; the class teacher accepts it.
    let decide = |accept: bool, comment: &str| pb::DecideNoteRequest {
        note_id: submitted.id.clone(),
        accept,
        comment: comment.into(),
        idempotency_key: String::new(),
    };
    let refused = c.other_teacher.at.notes.decide_note(decide(true, "")).await;
    assert_eq!(code_of(refused), Some(Code::PermissionDenied));
    let refused = c
        .class_teacher
        .at
        .notes
        .decide_note(decide(false, ""))
        .await
        .err();
    assert_eq!(
        refused.as_ref().map(violated_fields),
        Some(vec!["comment".to_owned()])
    );
    let accepted = c
        .class_teacher
        .at
        .notes
        .decide_note(decide(true, "Выздоравливайте"))
        .await?
        .into_inner()
        .note
        .ok_or_else(|| anyhow::anyhow!("no note"))?;
    assert_eq!(accepted.status, i32::from(pb::NoteStatus::Accepted));
    assert_eq!(accepted.absences_changed, 1, "only the note's day");
    let refused = c
        .class_teacher
        .at
        .notes
        .decide_note(decide(false, "нет"))
        .await;
    assert_eq!(code_of(refused), Some(Code::FailedPrecondition));

    // The parent sees the decision, and the day's absence as Б; the day
    // outside the note stays НП.
    let notes = parent
        .list_notes(pb::ListNotesRequest {
            student_id: s0.to_string(),
        })
        .await?
        .into_inner()
        .notes;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].status, i32::from(pb::NoteStatus::Accepted));
    assert_eq!(notes[0].decided_by, c.class_teacher.id.to_string());
    assert_eq!(notes[0].decision_comment, "Выздоравливайте");
    let today = time::OffsetDateTime::now_utc().date();
    let seen = c
        .parent
        .at
        .attendance
        .get_student_attendance(pb::GetStudentAttendanceRequest {
            student_id: s0.to_string(),
            from_date: civil(today - time::Duration::days(30)),
            to_date: civil(today),
        })
        .await?
        .into_inner();
    let by_lesson = |lesson: &str| {
        seen.absences
            .iter()
            .find(|absence| absence.lesson_id == lesson)
            .map(|absence| absence.code.clone())
    };
    assert_eq!(by_lesson(&c.recent.id).as_deref(), Some("Б"));
    assert_eq!(by_lesson(&c.old.id).as_deref(), Some("НП"));
    let history = c
        .class_teacher
        .at
        .attendance
        .get_lesson_history(pb::GetLessonHistoryRequest {
            lesson_id: c.recent.id.clone(),
        })
        .await?
        .into_inner()
        .changes;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].reason, format!("note {}", submitted.id));
    c.stack.stop().await
}
