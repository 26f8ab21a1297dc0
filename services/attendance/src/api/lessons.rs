//! Taking a lesson, correcting it, reading it and its history.

use std::collections::BTreeMap;

use asurso_directory::{School, events::Publisher};
use asurso_proto::{attendance as pb, events};
use asurso_runtime::{
    auth::Caller,
    convert::{civil_date, timestamp},
    edge::{Edge, Idempotent, optional_text, text_of, uuid_field},
    errors::ServiceError,
    events::streams,
};
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, State};
use crate::{
    access::{self, Keeper},
    domain::{self, Mark, Requested},
    storage::{self, LessonRow, NewChange},
};

/// Attendance's events go to its stream, under its name.
pub const ATTENDANCE: Publisher = Publisher {
    producer: "attendance",
    stream: streams::ATTENDANCE,
};

pub struct LessonsApi(pub Shared);

/// The longest reason of a correction kept.
const MAX_REASON: usize = 500;

async fn take_lesson(
    state: &State,
    caller: &Caller,
    request: pb::TakeLessonRequest,
) -> Result<pb::TakeLessonResponse, ServiceError> {
    let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
    let reason = optional_text(&request.reason, "reason", MAX_REASON)?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    let (lesson, school) = access::lesson(&mut transaction, lesson_id, true, "lesson_id").await?;
    let keeper = access::keeper(&mut transaction, caller, &lesson, &school).await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    match lesson.status.as_str() {
        "cancelled" => {
            return Err(ServiceError::FailedPrecondition(
                "lesson_id: the lesson was cancelled: there is no attendance to take".to_owned(),
            ));
        }
        "removed" => {
            return Err(ServiceError::FailedPrecondition(
                "lesson_id: the lesson was removed from the timetable".to_owned(),
            ));
        }
        _ => {}
    }
    let today = storage::today_in(&mut transaction, &school.time_zone).await?;
    if lesson.date > today {
        return Err(ServiceError::FailedPrecondition(format!(
            "lesson_id: the lesson is on {}, after today ({today} in {}): take it on its day",
            lesson.date, school.time_zone
        )));
    }
    let students = storage::students_of(&mut transaction, &lesson).await?;
    let codes = storage::codes(&mut transaction, school.region_id).await?;
    let minutes = storage::lesson_minutes(&mut transaction, &lesson).await?;
    let requested: Vec<Requested<'_>> = request
        .absences
        .iter()
        .map(|absence| Requested {
            student: &absence.student_id,
            code: &absence.code,
            minutes_late: absence.minutes_late,
        })
        .collect();
    let marks = domain::absences(&requested, &students, &codes, minutes)?;
    let before = storage::taken(&mut transaction, lesson.id).await?;
    let correcting = before.is_some() || keeper == Keeper::Corrector;
    if correcting {
        let days = storage::teacher_correction_days(&mut transaction, school.region_id).await?;
        let teachers_days =
            keeper == Keeper::Teacher && (today - lesson.date).whole_days() <= i64::from(days);
        let needs_reason = !teachers_days;
        if needs_reason
            && keeper == Keeper::Teacher
            && !access::corrects(&mut transaction, caller, &lesson, &school).await?
        {
            return Err(ServiceError::denied(format!(
                "lesson_id: its teacher corrects a lesson for {days} days after it; \
                 ask the class teacher or the school's administration"
            )));
        }
        if before.is_some()
            && needs_reason
            && storage::term_end(&mut transaction, &lesson)
                .await?
                .is_some_and(|end| end < today)
        {
            return Err(ServiceError::FailedPrecondition(
                "lesson_id: its term is closed: its attendance stands as it was".to_owned(),
            ));
        }
        if needs_reason && reason.is_empty() {
            return Err(ServiceError::invalid(
                "reason",
                "is required to correct a lesson after its teacher's days or for another teacher",
            ));
        }
    }
    let old = storage::absences_of(&mut transaction, lesson.id).await?;
    let changes = domain::changes(&old, &marks);
    storage::mark_taken(&mut transaction, lesson.id, caller.person_id).await?;
    for change in &changes {
        storage::set_absence(
            &mut transaction,
            lesson.id,
            change.student,
            change.new.as_ref(),
        )
        .await?;
        if before.is_some() {
            storage::record_change(
                &mut transaction,
                NewChange {
                    lesson: lesson.id,
                    student: change.student,
                    old: change.old.as_ref(),
                    new: change.new.as_ref(),
                    by: caller.person_id,
                    reason: &reason,
                },
            )
            .await?;
            corrected(&mut transaction, &school, &lesson, change, caller, &reason).await?;
        } else if let Some(mark) = &change.new {
            recorded(
                &mut transaction,
                &school,
                &lesson,
                change.student,
                mark,
                caller,
            )
            .await?;
        }
    }
    let answer = pb::TakeLessonResponse {
        attendance: Some(lesson_attendance(&mut transaction, &lesson).await?),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(
        lesson_id = %lesson.id,
        absences = marks.len(),
        changed = changes.len(),
        correction = before.is_some(),
        "lesson taken"
    );
    Ok(answer)
}

async fn recorded(
    transaction: &mut PgConnection,
    school: &School,
    lesson: &LessonRow,
    student: Uuid,
    mark: &Mark,
    caller: &Caller,
) -> Result<(), ServiceError> {
    ATTENDANCE
        .publish(
            transaction,
            school,
            ("absence", lesson.id),
            "recorded",
            &events::AbsenceRecorded {
                lesson_id: lesson.id.to_string(),
                student_id: student.to_string(),
                class_id: lesson.class_id.to_string(),
                subject_id: lesson.subject_id.to_string(),
                date: Some(civil_date(lesson.date)),
                period: lesson.period,
                code: mark.code.clone(),
                minutes_late: mark.minutes_late,
                recorded_by: caller.person_id.to_string(),
            },
        )
        .await
}

pub(super) async fn corrected(
    transaction: &mut PgConnection,
    school: &School,
    lesson: &LessonRow,
    change: &domain::Change,
    caller: &Caller,
    reason: &str,
) -> Result<(), ServiceError> {
    let code = |mark: &Option<Mark>| mark.as_ref().map(|m| m.code.clone()).unwrap_or_default();
    let minutes = |mark: &Option<Mark>| mark.as_ref().map_or(0, |m| m.minutes_late);
    ATTENDANCE
        .publish(
            transaction,
            school,
            ("absence", lesson.id),
            "corrected",
            &events::AbsenceCorrected {
                lesson_id: lesson.id.to_string(),
                student_id: change.student.to_string(),
                class_id: lesson.class_id.to_string(),
                subject_id: lesson.subject_id.to_string(),
                date: Some(civil_date(lesson.date)),
                period: lesson.period,
                old_code: code(&change.old),
                old_minutes_late: minutes(&change.old),
                new_code: code(&change.new),
                new_minutes_late: minutes(&change.new),
                corrected_by: caller.person_id.to_string(),
                reason: reason.to_owned(),
            },
        )
        .await
}

/// The lesson as attendance shows it: every student of it that day (and
/// anyone recorded absent who has left since), in name order.
async fn lesson_attendance(
    connection: &mut PgConnection,
    lesson: &LessonRow,
) -> Result<pb::LessonAttendance, ServiceError> {
    let taken = storage::taken(connection, lesson.id).await?;
    let absences: BTreeMap<Uuid, Mark> = storage::absences_of(connection, lesson.id).await?;
    let mut students = storage::students_of(connection, lesson).await?;
    students.extend(absences.keys().copied());
    let students = storage::in_name_order(connection, &students)
        .await?
        .into_iter()
        .map(|student| {
            let mark = absences.get(&student);
            pb::StudentPresence {
                student_id: student.to_string(),
                code: mark.map(|mark| mark.code.clone()).unwrap_or_default(),
                minutes_late: mark.map_or(0, |mark| mark.minutes_late),
            }
        })
        .collect();
    Ok(pb::LessonAttendance {
        lesson_id: lesson.id.to_string(),
        class_id: lesson.class_id.to_string(),
        subgroup_id: text_of(lesson.subgroup_id),
        subject_id: lesson.subject_id.to_string(),
        teacher_id: lesson.teacher_id.to_string(),
        date: Some(civil_date(lesson.date)),
        period: lesson.period,
        taken: taken.is_some(),
        taken_by: taken
            .as_ref()
            .map(|taken| taken.taken_by.to_string())
            .unwrap_or_default(),
        taken_at: taken.map(|taken| timestamp(taken.taken_at)),
        students,
    })
}

async fn get_lesson_attendance(
    state: &State,
    caller: &Caller,
    request: pb::GetLessonAttendanceRequest,
) -> Result<pb::GetLessonAttendanceResponse, ServiceError> {
    let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
    let mut connection = state.pool.acquire().await?;
    let (lesson, school) = access::lesson(&mut connection, lesson_id, false, "lesson_id").await?;
    access::keeper(&mut connection, caller, &lesson, &school).await?;
    Ok(pb::GetLessonAttendanceResponse {
        attendance: Some(lesson_attendance(&mut connection, &lesson).await?),
    })
}

async fn get_lesson_history(
    state: &State,
    caller: &Caller,
    request: pb::GetLessonHistoryRequest,
) -> Result<pb::GetLessonHistoryResponse, ServiceError> {
    let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
    let mut connection = state.pool.acquire().await?;
    let (lesson, school) = access::lesson(&mut connection, lesson_id, false, "lesson_id").await?;
    access::keeper(&mut connection, caller, &lesson, &school).await?;
    let changes = storage::history(&mut connection, lesson.id)
        .await?
        .into_iter()
        .map(|row| pb::AttendanceChange {
            student_id: row.student_id.to_string(),
            old_code: row.old_code,
            old_minutes_late: row.old_minutes_late,
            new_code: row.new_code,
            new_minutes_late: row.new_minutes_late,
            changed_by: row.changed_by.to_string(),
            changed_at: Some(timestamp(row.changed_at)),
            reason: row.reason,
        })
        .collect();
    Ok(pb::GetLessonHistoryResponse { changes })
}

#[tonic::async_trait]
impl pb::attendance_service_server::AttendanceService for LessonsApi {
    async fn take_lesson(
        &self,
        request: Request<pb::TakeLessonRequest>,
    ) -> Result<Response<pb::TakeLessonResponse>, Status> {
        asurso_runtime::handle!(self.0, request, take_lesson)
    }

    async fn get_lesson_attendance(
        &self,
        request: Request<pb::GetLessonAttendanceRequest>,
    ) -> Result<Response<pb::GetLessonAttendanceResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_lesson_attendance)
    }

    async fn get_lesson_history(
        &self,
        request: Request<pb::GetLessonHistoryRequest>,
    ) -> Result<Response<pb::GetLessonHistoryResponse>, Status> {
        asurso_runtime::handle!(self.0, request, get_lesson_history)
    }

    async fn get_student_attendance(
        &self,
        request: Request<pb::GetStudentAttendanceRequest>,
    ) -> Result<Response<pb::GetStudentAttendanceResponse>, Status> {
        asurso_runtime::handle!(self.0, request, super::students::get_student_attendance)
    }

    async fn get_class_sheet(
        &self,
        request: Request<pb::GetClassSheetRequest>,
    ) -> Result<Response<pb::GetClassSheetResponse>, Status> {
        asurso_runtime::handle!(self.0, request, super::reports::get_class_sheet)
    }

    async fn get_attendance_summary(
        &self,
        request: Request<pb::GetAttendanceSummaryRequest>,
    ) -> Result<Response<pb::GetAttendanceSummaryResponse>, Status> {
        asurso_runtime::handle!(self.0, request, super::reports::get_attendance_summary)
    }
}
