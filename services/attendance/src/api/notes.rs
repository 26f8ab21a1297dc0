//! Guardians' notes for days their child missed, and the class teacher's
//! decision on them.

use asurso_proto::{attendance as pb, events};
use asurso_runtime::{
    auth::Caller,
    convert::{civil_date, timestamp},
    edge::{Edge, Idempotent, date_field, optional_text, text_of, uuid_field},
    errors::ServiceError,
};
use time::Duration;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Shared, State,
    lessons::{ATTENDANCE, corrected},
};
use crate::{
    access,
    domain::{self, Change, MAX_SCAN_BYTES, Mark},
    storage::{self, NewChange, NewNote, NoteRow},
};

pub struct NotesApi(pub Shared);

/// The longest span one note covers.
const MAX_NOTE_DAYS: i64 = 90;
/// How far ahead a note may be given (a planned absence).
const AHEAD_DAYS: i64 = 30;
const MAX_TEXT: usize = 2000;
/// The code absences without a valid reason are recorded under.
const WITHOUT_REASON: &str = "НП";

fn status(row: &NoteRow) -> pb::NoteStatus {
    match row.status.as_str() {
        "submitted" => pb::NoteStatus::Submitted,
        "accepted" => pb::NoteStatus::Accepted,
        "declined" => pb::NoteStatus::Declined,
        _ => pb::NoteStatus::Unspecified,
    }
}

fn note(row: &NoteRow) -> pb::Note {
    pb::Note {
        id: row.id.to_string(),
        student_id: row.student_id.to_string(),
        submitted_by: row.submitted_by.to_string(),
        from_date: Some(civil_date(row.from_date)),
        to_date: Some(civil_date(row.to_date)),
        code: row.code.clone(),
        text: row.text.clone(),
        scan_type: row.scan_type.clone(),
        scan_bytes: row.scan_bytes,
        status: status(row).into(),
        decided_by: text_of(row.decided_by),
        submitted_at: Some(timestamp(row.submitted_at)),
        decided_at: row.decided_at.map(timestamp),
        decision_comment: row.decision_comment.clone(),
        absences_changed: row.absences_changed,
    }
}

async fn submit_note(
    state: &State,
    caller: &Caller,
    request: pb::SubmitNoteRequest,
) -> Result<pb::SubmitNoteResponse, ServiceError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let from = date_field(request.from_date.as_ref(), "from_date")?;
    let to = date_field(request.to_date.as_ref(), "to_date")?;
    let text = optional_text(&request.text, "text", MAX_TEXT)?;
    if to < from {
        return Err(ServiceError::invalid("to_date", "is before from_date"));
    }
    if (to - from).whole_days() >= MAX_NOTE_DAYS {
        return Err(ServiceError::invalid(
            "to_date",
            format!("a note covers at most {MAX_NOTE_DAYS} days"),
        ));
    }
    let scan = if request.scan.is_empty() {
        None
    } else if request.scan.len() > MAX_SCAN_BYTES {
        return Err(ServiceError::invalid(
            "scan",
            format!("is larger than {} MiB", MAX_SCAN_BYTES / 1024 / 1024),
        ));
    } else {
        let kind = domain::scan_type(&request.scan)
            .ok_or_else(|| ServiceError::invalid("scan", "is not a PDF, JPEG or PNG file"))?;
        Some((request.scan.as_slice(), kind))
    };
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    if caller.role != asurso_proto::identity::Role::Parent
        || !access::is_family(&state.memory, &mut transaction, caller, student).await?
    {
        return Err(ServiceError::denied(
            "only a guardian of the student submits a note for them",
        ));
    }
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let (_, school_id) = storage::class_of_student_between(&mut transaction, student, from, to)
        .await?
        .ok_or_else(|| {
            ServiceError::invalid("from_date", "the student is in no class on these days")
        })?;
    let school = access::school(&mut transaction, school_id, "student_id").await?;
    let today = storage::today_in(&mut transaction, &school.time_zone).await?;
    if to > today + Duration::days(AHEAD_DAYS) {
        return Err(ServiceError::invalid(
            "to_date",
            format!("is more than {AHEAD_DAYS} days ahead"),
        ));
    }
    let codes = storage::codes(&mut transaction, school.region_id).await?;
    let code = request.code.trim();
    if !codes
        .iter()
        .any(|known| known.code == code && known.valid_reason && !known.late)
    {
        let valid: Vec<&str> = codes
            .iter()
            .filter(|known| known.valid_reason && !known.late)
            .map(|known| known.code.as_str())
            .collect();
        return Err(ServiceError::invalid(
            "code",
            format!("must be a valid reason: {}", valid.join(", ")),
        ));
    }
    let id = Uuid::now_v7();
    storage::insert_note(
        &mut transaction,
        NewNote {
            id,
            student,
            school: school.id,
            by: caller.person_id,
            from,
            to,
            code,
            text: &text,
            scan,
        },
    )
    .await?;
    ATTENDANCE
        .publish(
            &mut transaction,
            &school,
            ("note", id),
            "submitted",
            &events::NoteSubmitted {
                note_id: id.to_string(),
                student_id: student.to_string(),
                submitted_by: caller.person_id.to_string(),
                from_date: Some(civil_date(from)),
                to_date: Some(civil_date(to)),
                code: code.to_owned(),
            },
        )
        .await?;
    let row = storage::note(&mut transaction, id, false)
        .await?
        .ok_or_else(|| ServiceError::Internal("a note vanished".into()))?;
    let answer = pb::SubmitNoteResponse {
        note: Some(note(&row)),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(note_id = %id, "note submitted");
    Ok(answer)
}

async fn decide_note(
    state: &State,
    caller: &Caller,
    request: pb::DecideNoteRequest,
) -> Result<pb::DecideNoteResponse, ServiceError> {
    let id = uuid_field(&request.note_id, "note_id")?;
    let comment = optional_text(&request.comment, "comment", MAX_TEXT)?;
    if !request.accept && comment.is_empty() {
        return Err(ServiceError::invalid(
            "comment",
            "is required when declining: say why to the family",
        ));
    }
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    let row = storage::note(&mut transaction, id, true)
        .await?
        .ok_or_else(|| ServiceError::not_found("note_id", format_args!("note {id}")))?;
    let school = access::school(&mut transaction, row.school_id, "note_id").await?;
    if !access::decides_for(&mut transaction, caller, row.student_id, &school).await? {
        return Err(ServiceError::denied(
            "the student's class teacher or the school's administration decides a note",
        ));
    }
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    if row.status != "submitted" {
        return Err(ServiceError::FailedPrecondition(format!(
            "note_id: the note was already {}",
            row.status
        )));
    }
    let mut changed = 0;
    if request.accept {
        let reason = format!("note {id}");
        let absences = storage::absences_between(
            &mut transaction,
            row.student_id,
            row.from_date,
            row.to_date,
            WITHOUT_REASON,
        )
        .await?;
        let today = storage::today_in(&mut transaction, &school.time_zone).await?;
        for (lesson, old) in absences {
            // A closed term's attendance stands.
            if storage::term_end(&mut transaction, &lesson)
                .await?
                .is_some_and(|end| end < today)
            {
                continue;
            }
            let change = Change {
                student: row.student_id,
                old: Some(old),
                new: Some(Mark {
                    code: row.code.clone(),
                    minutes_late: 0,
                }),
            };
            storage::set_absence(
                &mut transaction,
                lesson.id,
                row.student_id,
                change.new.as_ref(),
            )
            .await?;
            storage::record_change(
                &mut transaction,
                NewChange {
                    lesson: lesson.id,
                    student: row.student_id,
                    old: change.old.as_ref(),
                    new: change.new.as_ref(),
                    by: caller.person_id,
                    reason: &reason,
                },
            )
            .await?;
            // The note's school, unless the student moved during its days.
            let other;
            let lesson_school = if lesson.school_id == school.id {
                &school
            } else {
                other = access::school(&mut transaction, lesson.school_id, "note_id").await?;
                &other
            };
            corrected(
                &mut transaction,
                lesson_school,
                &lesson,
                &change,
                caller,
                &reason,
            )
            .await?;
            changed += 1;
        }
    }
    storage::decide_note(
        &mut transaction,
        id,
        request.accept,
        caller.person_id,
        &comment,
        changed,
    )
    .await?;
    ATTENDANCE
        .publish(
            &mut transaction,
            &school,
            ("note", id),
            "decided",
            &events::NoteDecided {
                note_id: id.to_string(),
                student_id: row.student_id.to_string(),
                submitted_by: row.submitted_by.to_string(),
                accepted: request.accept,
                code: row.code.clone(),
                decided_by: caller.person_id.to_string(),
                comment: comment.clone(),
                absences_changed: changed,
            },
        )
        .await?;
    let row = storage::note(&mut transaction, id, false)
        .await?
        .ok_or_else(|| ServiceError::Internal("a note vanished".into()))?;
    let answer = pb::DecideNoteResponse {
        note: Some(note(&row)),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(note_id = %id, accepted = request.accept, changed, "note decided");
    Ok(answer)
}

/// Refuses unless the caller is the student's family or decides notes
/// about them at the school.
async fn read_notes(
    state: &State,
    connection: &mut sqlx::PgConnection,
    caller: &Caller,
    student: Uuid,
    school: Option<Uuid>,
) -> Result<(), ServiceError> {
    if access::is_family(&state.memory, connection, caller, student).await? {
        return Ok(());
    }
    let schools = match school {
        Some(school) => vec![school],
        None => storage::schools_of_student(connection, student).await?,
    };
    for school in schools {
        let school = access::school(connection, school, "student_id").await?;
        if access::decides_for(connection, caller, student, &school).await? {
            return Ok(());
        }
    }
    Err(ServiceError::denied(
        "a student's notes are read by their family, their class teacher and the school's administration",
    ))
}

async fn list_notes(
    state: &State,
    caller: &Caller,
    request: pb::ListNotesRequest,
) -> Result<pb::ListNotesResponse, ServiceError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let mut connection = state.pool.acquire().await?;
    read_notes(state, &mut connection, caller, student, None).await?;
    let notes = storage::notes_of(&mut connection, student).await?;
    Ok(pb::ListNotesResponse {
        notes: notes.iter().map(note).collect(),
    })
}

async fn get_note_scan(
    state: &State,
    caller: &Caller,
    request: pb::GetNoteScanRequest,
) -> Result<pb::GetNoteScanResponse, ServiceError> {
    let id = uuid_field(&request.note_id, "note_id")?;
    let mut connection = state.pool.acquire().await?;
    let row = storage::note(&mut connection, id, false)
        .await?
        .ok_or_else(|| ServiceError::not_found("note_id", format_args!("note {id}")))?;
    read_notes(
        state,
        &mut connection,
        caller,
        row.student_id,
        Some(row.school_id),
    )
    .await?;
    let (scan_type, scan) = storage::note_scan(&mut connection, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("note_id: the note {id} has no scan")))?;
    Ok(pb::GetNoteScanResponse { scan_type, scan })
}

#[tonic::async_trait]
impl pb::absence_note_service_server::AbsenceNoteService for NotesApi {
    async fn submit_note(
        &self,
        request: Request<pb::SubmitNoteRequest>,
    ) -> Result<Response<pb::SubmitNoteResponse>, Status> {
        asurso_runtime::handle!(self.0, request, submit_note)
    }

    async fn decide_note(
        &self,
        request: Request<pb::DecideNoteRequest>,
    ) -> Result<Response<pb::DecideNoteResponse>, Status> {
        asurso_runtime::handle!(self.0, request, decide_note)
    }

    async fn list_notes(
        &self,
        request: Request<pb::ListNotesRequest>,
    ) -> Result<Response<pb::ListNotesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_notes)
    }

    async fn get_note_scan(
        &self,
        request: Request<pb::GetNoteScanRequest>,
    ) -> Result<Response<pb::GetNoteScanResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_note_scan)
    }
}
