//! A student's attendance over a period.

use std::collections::BTreeMap;

use asurso_proto::attendance as pb;
use asurso_runtime::{
    auth::Caller,
    convert::civil_date,
    edge::{Edge, date_field, uuid_field},
    errors::ServiceError,
};
use uuid::Uuid;

use super::{State, lessons::ATTENDANCE};
use crate::access::{self, StudentReader};

/// The longest period read at once: a school year and then some.
const MAX_DAYS: i64 = 400;

pub(super) async fn get_student_attendance(
    state: &State,
    caller: &Caller,
    request: pb::GetStudentAttendanceRequest,
) -> Result<pb::GetStudentAttendanceResponse, ServiceError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let from = date_field(request.from_date.as_ref(), "from_date")?;
    let to = date_field(request.to_date.as_ref(), "to_date")?;
    if to < from {
        return Err(ServiceError::invalid("to_date", "is before from_date"));
    }
    if (to - from).whole_days() > MAX_DAYS {
        return Err(ServiceError::invalid(
            "to_date",
            format!("the period is longer than {MAX_DAYS} days"),
        ));
    }
    let mut transaction = state.begin().await?;
    let reader = access::read_student(&state.memory, &mut transaction, caller, student).await?;
    let schools = match &reader {
        StudentReader::Family => None,
        StudentReader::Staff(school) => Some(vec![school.id]),
    };
    let lessons =
        crate::storage::student_lessons(&mut transaction, student, from, to, schools.as_deref())
            .await?;
    if let StudentReader::Staff(school) = &reader {
        ATTENDANCE
            .report_read(&mut transaction, caller, school, student, "attendance")
            .await?;
    }
    state.commit(transaction).await?;

    let mut subjects: BTreeMap<Uuid, pb::SubjectAttendance> = BTreeMap::new();
    let mut absences = Vec::new();
    for lesson in lessons {
        let subject_name = lesson.subject_name.clone().unwrap_or_default();
        let totals = subjects
            .entry(lesson.subject_id)
            .or_insert_with(|| pb::SubjectAttendance {
                subject_id: lesson.subject_id.to_string(),
                subject_name: subject_name.clone(),
                ..Default::default()
            });
        totals.lessons += 1;
        let Some(code) = lesson.code else {
            continue;
        };
        if lesson.late == Some(true) {
            totals.times_late += 1;
            totals.minutes_late += lesson.minutes_late.unwrap_or(0);
        } else {
            totals.missed += 1;
            if lesson.valid_reason == Some(true) {
                totals.missed_with_valid_reason += 1;
            }
        }
        absences.push(pb::StudentAbsence {
            lesson_id: lesson.lesson_id.to_string(),
            date: Some(civil_date(lesson.date)),
            period: lesson.period,
            subject_id: lesson.subject_id.to_string(),
            subject_name,
            code,
            minutes_late: lesson.minutes_late.unwrap_or(0),
        });
    }
    let mut subjects: Vec<pb::SubjectAttendance> = subjects.into_values().collect();
    subjects.sort_by(|a, b| a.subject_name.cmp(&b.subject_name));
    Ok(pb::GetStudentAttendanceResponse { absences, subjects })
}
