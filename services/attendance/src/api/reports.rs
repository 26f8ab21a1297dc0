//! A class's month sheet and the summaries of a school, a municipality or
//! the region.

use std::collections::{BTreeMap, HashMap};

use asurso_directory::access as directory;
use asurso_proto::{attendance as pb, identity::Role};
use asurso_runtime::{
    auth::Caller,
    convert::civil_date,
    edge::{Edge, date_field, optional_uuid, uuid_field},
    errors::ServiceError,
    rights::right,
};
use time::{Date, Month};
use uuid::Uuid;

use super::{State, lessons::ATTENDANCE};
use crate::{
    access,
    domain::Code,
    storage::{self, CountRow},
};

/// The longest period a summary covers.
const MAX_SUMMARY_DAYS: i64 = 400;

fn month_of(year: i32, month: i32) -> Result<(Date, Date), ServiceError> {
    if !(asurso_runtime::convert::EARLIEST_YEAR..=asurso_runtime::convert::LATEST_YEAR)
        .contains(&year)
    {
        return Err(ServiceError::invalid("year", "is not a year of a school"));
    }
    let month = u8::try_from(month)
        .ok()
        .and_then(|month| Month::try_from(month).ok())
        .ok_or_else(|| ServiceError::invalid("month", "must be 1 to 12"))?;
    let first = Date::from_calendar_date(year, month, 1)
        .map_err(|_| ServiceError::invalid("month", "is not a month"))?;
    let last = Date::from_calendar_date(year, month, time::util::days_in_month(month, year))
        .map_err(|_| ServiceError::invalid("month", "is not a month"))?;
    Ok((first, last))
}

pub(super) async fn get_class_sheet(
    state: &State,
    caller: &Caller,
    request: pb::GetClassSheetRequest,
) -> Result<pb::GetClassSheetResponse, ServiceError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let (from, to) = month_of(request.year, request.month)?;
    let subject = optional_uuid(&request.subject_id, "subject_id")?;
    let mut transaction = state.begin().await?;
    let class = storage::class(&mut transaction, class_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("class_id", format_args!("class {class_id}")))?;
    let school = access::school(&mut transaction, class.school_id, "class_id").await?;
    directory::authorize(
        &mut transaction,
        caller,
        right::ATTENDANCE_READ_CLASS,
        &school,
    )
    .await?;
    // A teacher who is not the class teacher sees the lessons they teach.
    let only_teacher = match caller.role {
        Role::Teacher | Role::ClassTeacher if class.class_teacher_id != Some(caller.person_id) => {
            if !storage::teaches_class(&mut transaction, caller.person_id, class.id).await? {
                return Err(ServiceError::denied(format!(
                    "you neither teach {} nor are its class teacher",
                    class.name
                )));
            }
            Some(caller.person_id)
        }
        _ => None,
    };
    let lessons =
        storage::class_lessons(&mut transaction, class.id, from, to, subject, only_teacher).await?;
    let students = storage::class_students(&mut transaction, class.id, from, to).await?;
    let taken: Vec<Uuid> = lessons
        .iter()
        .filter(|lesson| lesson.taken)
        .map(|lesson| lesson.id)
        .collect();
    let present = storage::presence_pairs(&mut transaction, &taken).await?;
    let absences = storage::absences_at(&mut transaction, &taken).await?;
    let codes: HashMap<String, Code> = storage::codes(&mut transaction, school.region_id)
        .await?
        .into_iter()
        .map(|code| (code.code.clone(), code))
        .collect();
    for (student, _) in &students {
        ATTENDANCE
            .report_read(
                &mut transaction,
                caller,
                &school,
                *student,
                "attendance sheet",
            )
            .await?;
    }
    state.commit(transaction).await?;

    let mut totals: BTreeMap<Uuid, pb::SheetStudent> = students
        .iter()
        .map(|(id, name)| {
            (
                *id,
                pb::SheetStudent {
                    student_id: id.to_string(),
                    name: name.clone(),
                    ..Default::default()
                },
            )
        })
        .collect();
    for (student, _) in &present {
        if let Some(total) = totals.get_mut(student) {
            total.lessons += 1;
        }
    }
    let mut marks = Vec::new();
    for (student, lesson, code, minutes_late) in absences {
        if let Some(total) = totals.get_mut(&student) {
            match codes.get(&code) {
                Some(known) if known.late => total.times_late += 1,
                Some(known) if known.valid_reason => {
                    total.missed += 1;
                    total.missed_with_valid_reason += 1;
                }
                _ => total.missed += 1,
            }
        }
        marks.push(pb::SheetMark {
            student_id: student.to_string(),
            lesson_id: lesson.to_string(),
            code,
            minutes_late,
        });
    }
    Ok(pb::GetClassSheetResponse {
        students: students
            .iter()
            .filter_map(|(id, _)| totals.remove(id))
            .collect(),
        lessons: lessons
            .into_iter()
            .map(|lesson| pb::SheetLesson {
                lesson_id: lesson.id.to_string(),
                date: Some(civil_date(lesson.date)),
                period: lesson.period,
                subject_id: lesson.subject_id.to_string(),
                subject_name: lesson.subject_name.unwrap_or_default(),
                subgroup_id: lesson
                    .subgroup_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                taken: lesson.taken,
            })
            .collect(),
        marks,
    })
}

/// Counts of one group from its rows.
fn counts(rows: &[&CountRow], codes: &HashMap<String, Code>) -> pb::AttendanceCounts {
    let mut counts = pb::AttendanceCounts {
        student_lessons: rows.first().map_or(0, |row| row.student_lessons),
        ..Default::default()
    };
    for row in rows {
        let Some(code) = &row.code else {
            continue;
        };
        match codes.get(code) {
            Some(known) if known.late => counts.late += row.absences,
            Some(known) if known.valid_reason => {
                counts.missed += row.absences;
                counts.missed_with_valid_reason += row.absences;
            }
            _ => counts.missed += row.absences,
        }
        *counts.by_code.entry(code.clone()).or_default() += row.absences;
    }
    counts.missed_share = share(counts.missed, counts.student_lessons);
    counts
}

fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Counts of a region fit f64's integers many times over.
        part as f64 / whole as f64
    }
}

fn add(total: &mut pb::AttendanceCounts, more: &pb::AttendanceCounts) {
    total.student_lessons += more.student_lessons;
    total.missed += more.missed;
    total.missed_with_valid_reason += more.missed_with_valid_reason;
    total.late += more.late;
    for (code, n) in &more.by_code {
        *total.by_code.entry(code.clone()).or_default() += n;
    }
    total.missed_share = share(total.missed, total.student_lessons);
}

pub(super) async fn get_attendance_summary(
    state: &State,
    caller: &Caller,
    request: pb::GetAttendanceSummaryRequest,
) -> Result<pb::GetAttendanceSummaryResponse, ServiceError> {
    let unit = uuid_field(&request.org_unit_id, "org_unit_id")?;
    let from = date_field(request.from_date.as_ref(), "from_date")?;
    let to = date_field(request.to_date.as_ref(), "to_date")?;
    if to < from {
        return Err(ServiceError::invalid("to_date", "is before from_date"));
    }
    if (to - from).whole_days() > MAX_SUMMARY_DAYS {
        return Err(ServiceError::invalid(
            "to_date",
            format!("the period is longer than {MAX_SUMMARY_DAYS} days"),
        ));
    }
    let mut connection = state.pool.acquire().await?;
    let (kind, _) = asurso_directory::storage::org_unit(&mut connection, unit)
        .await?
        .ok_or_else(|| ServiceError::not_found("org_unit_id", format_args!("org unit {unit}")))?;
    let (groups, schools, region, by_class) = if kind == "school" {
        let school = access::school(&mut connection, unit, "org_unit_id").await?;
        directory::authorize(&mut connection, caller, right::REPORTS_SCHOOL, &school).await?;
        let classes = storage::classes_of_school(&mut connection, school.id).await?;
        (classes, vec![school.id], school.region_id, true)
    } else {
        directory::read_aggregates(&mut connection, caller, unit).await?;
        let schools = storage::schools_under(&mut connection, unit).await?;
        let ids = schools.iter().map(|(id, _)| *id).collect();
        let region = if kind == "region" {
            Some(unit)
        } else {
            asurso_directory::storage::org_unit(&mut connection, unit)
                .await?
                .and_then(|(_, parent)| parent)
        };
        (schools, ids, region, false)
    };
    let rows = storage::counts(&mut connection, &schools, from, to, by_class).await?;
    let codes: HashMap<String, Code> = storage::codes(&mut connection, region)
        .await?
        .into_iter()
        .map(|code| (code.code.clone(), code))
        .collect();
    let mut total = pb::AttendanceCounts::default();
    let mut summary = Vec::new();
    for (id, name) in groups {
        let own: Vec<&CountRow> = rows.iter().filter(|row| row.group_id == id).collect();
        let counts = counts(&own, &codes);
        add(&mut total, &counts);
        summary.push(pb::SummaryRow {
            id: id.to_string(),
            name,
            counts: Some(counts),
        });
    }
    Ok(pb::GetAttendanceSummaryResponse {
        total: Some(total),
        rows: summary,
    })
}
