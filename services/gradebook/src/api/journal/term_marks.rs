//! Term, half-year, year, exam and final marks of a class's subject: the
//! sheet a teacher sets them from (each student's weighted average and the
//! mark it suggests) and setting them.

use std::collections::{HashMap, HashSet};

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use sqlx::PgConnection;
use uuid::Uuid;

use super::marks::{check_entries, fact, mark_value, outsiders, stored_value};
use crate::{
    access::{self, Reach},
    api::{Edge, Idempotent, State, civil_date, uuid_field},
    domain::{
        GradebookError,
        calendar::{Days, TermKind},
        mark_changes::term_mark_changes,
        marks::{MarkUse, Period, rounded, suggested_grade, weighted_average},
    },
    events::{publish, report_read},
    storage::{self, classes::ClassRow, directory::School, journal::TermMarkRow},
};

/// A class's subject for term marks: the class, its school and year.
struct Sheet {
    class: ClassRow,
    school: School,
    year_id: Uuid,
    period: Period,
    days: Days,
}

impl Sheet {
    /// The class's students some day of the period (of these groups only,
    /// when given).
    async fn students(
        &self,
        connection: &mut PgConnection,
        groups: Option<&[Uuid]>,
    ) -> Result<HashSet<Uuid>, GradebookError> {
        Ok(storage::reports::students_between(
            connection,
            self.class.id,
            groups,
            self.days.start,
            self.days.end,
        )
        .await?
        .into_iter()
        .map(|row| row.student_id)
        .collect())
    }

    /// The period's marks of a subject set so far, by student.
    async fn marks_set(
        &self,
        connection: &mut PgConnection,
        subject: Uuid,
        students: &[Uuid],
        lock: bool,
    ) -> Result<HashMap<Uuid, TermMarkRow>, GradebookError> {
        let period = (self.period.as_str(), self.period.number());
        Ok(storage::journal::term_marks(
            connection,
            self.year_id,
            students,
            Some(subject),
            Some(period),
            lock,
        )
        .await?
        .into_iter()
        .map(|row| (row.student_id, row))
        .collect())
    }
}

async fn sheet_of(
    connection: &mut PgConnection,
    class_id: &str,
    subject_id: &str,
    period: Option<&pb::MarkPeriod>,
) -> Result<(Sheet, Uuid), GradebookError> {
    let class_id = uuid_field(class_id, "class_id")?;
    let subject_id = uuid_field(subject_id, "subject_id")?;
    let period = period.ok_or_else(|| GradebookError::invalid("period", "is required"))?;
    let kind = match pb::PeriodKind::try_from(period.kind).unwrap_or(pb::PeriodKind::Unspecified) {
        pb::PeriodKind::Unspecified => "",
        pb::PeriodKind::Term => "term",
        pb::PeriodKind::HalfYear => "half_year",
        pb::PeriodKind::Year => "year",
        pb::PeriodKind::Exam => "exam",
        pb::PeriodKind::Final => "final",
    };
    let parsed = Period::requested(kind, period.number, "period")?;
    let (class, school) = access::class(connection, class_id, "class_id").await?;
    let subject = storage::curriculum::subject(connection, subject_id)
        .await?
        .filter(|subject| subject.school_id == school.id)
        .ok_or_else(|| {
            GradebookError::not_found(
                "subject_id",
                format_args!("subject {subject_id} in {}", school.name),
            )
        })?;
    let year = storage::calendar::get(connection, class.school_year_id)
        .await?
        .ok_or_else(|| GradebookError::Internal("a class's school year vanished".into()))?;
    let terms: Vec<Days> = year
        .terms
        .iter()
        .map(|term| Days {
            start: term.start_date,
            end: term.end_date,
        })
        .collect();
    let kind = TermKind::parse(&year.year.term_kind).unwrap_or(TermKind::Quarters);
    let days = parsed.days(
        Days {
            start: year.year.start_date,
            end: year.year.end_date,
        },
        kind,
        &terms,
        "period",
    )?;
    Ok((
        Sheet {
            class,
            school,
            year_id: year.year.id,
            period: parsed,
            days,
        },
        subject.id,
    ))
}

/// The sheet's rows: the class's students in the period within `reach`
/// (their ids, and rows with their weighted averages and the marks set).
async fn sheet_rows(
    connection: &mut PgConnection,
    sheet: &Sheet,
    subject: Uuid,
    reach: &Reach,
) -> Result<(Vec<Uuid>, Vec<pb::TermMarkRow>), GradebookError> {
    let students = storage::reports::students_between(
        connection,
        sheet.class.id,
        reach.groups(),
        sheet.days.start,
        sheet.days.end,
    )
    .await?;
    let ids: Vec<Uuid> = students.iter().map(|s| s.student_id).collect();
    let mut grades = HashMap::<Uuid, Vec<(i32, i32)>>::new();
    for (student, grade, weight) in
        storage::journal::grades_in(connection, subject, &ids, sheet.days.start, sheet.days.end)
            .await?
    {
        grades.entry(student).or_default().push((grade, weight));
    }
    let set = sheet.marks_set(connection, subject, &ids, false).await?;
    let rows = students
        .iter()
        .map(|student| {
            let marks = grades.remove(&student.student_id).unwrap_or_default();
            let count = i32::try_from(marks.len()).unwrap_or(i32::MAX);
            let average = weighted_average(marks);
            pb::TermMarkRow {
                student_id: student.student_id.to_string(),
                student_name: student.student_name.clone(),
                average: average.map(rounded).unwrap_or(0.0),
                marks_count: count,
                suggested_grade: average.map(suggested_grade).unwrap_or(0),
                mark: set
                    .get(&student.student_id)
                    .map(|row| stored_value(&row.kind, row.grade)),
            }
        })
        .collect();
    Ok((ids, rows))
}

pub(super) async fn get_term_mark_sheet(
    state: &State,
    caller: &Caller,
    request: pb::GetTermMarkSheetRequest,
) -> Result<pb::GetTermMarkSheetResponse, GradebookError> {
    let mut transaction = state.begin().await?;
    let (sheet, subject) = sheet_of(
        &mut transaction,
        &request.class_id,
        &request.subject_id,
        request.period.as_ref(),
    )
    .await?;
    // A group's teacher gets their groups' students.
    let reach = access::read_journal(
        &mut transaction,
        caller,
        &sheet.class,
        &sheet.school,
        subject,
        None,
    )
    .await?;
    let (students, rows) = sheet_rows(&mut transaction, &sheet, subject, &reach).await?;
    for student in students {
        report_read(
            &mut transaction,
            caller,
            &sheet.school,
            student,
            "term marks",
        )
        .await?;
    }
    state.commit(transaction).await?;
    Ok(pb::GetTermMarkSheetResponse {
        from_date: Some(civil_date(sheet.days.start)),
        to_date: Some(civil_date(sheet.days.end)),
        rows,
    })
}

pub(super) async fn set_term_marks(
    state: &State,
    caller: &Caller,
    request: pb::SetTermMarksRequest,
) -> Result<pb::SetTermMarksResponse, GradebookError> {
    let entries = check_entries(
        &request.marks,
        |entry| &entry.student_id,
        |entry, field| {
            entry
                .value
                .as_ref()
                .map(|value| mark_value(value, MarkUse::Period, &format!("{field}.value")))
                .transpose()
        },
    )?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let (sheet, subject) = sheet_of(
        &mut transaction,
        &request.class_id,
        &request.subject_id,
        request.period.as_ref(),
    )
    .await?;
    let reach = access::keep_journal(
        &mut transaction,
        caller,
        &sheet.school,
        sheet.class.id,
        subject,
    )
    .await?;
    storage::journal::lock_term_marks(&mut transaction, sheet.class.id, subject).await?;
    let in_class = sheet.students(&mut transaction, None).await?;
    let reached = match reach.groups() {
        None => in_class.clone(),
        Some(groups) => sheet.students(&mut transaction, Some(groups)).await?,
    };
    // Nothing is written when an entry is refused. A student outside the
    // class is a mistake in the request; one of the class outside the
    // caller's groups is not theirs to mark, and each such entry is
    // named.
    outsiders(&entries, &in_class, |student| {
        format!("{student} was not in {} in that period", sheet.class.name)
    })?;
    let beyond_reach: Vec<String> = entries
        .iter()
        .enumerate()
        .filter(|(_, (student, _))| !reached.contains(student))
        .map(|(index, (student, _))| {
            format!(
                "marks[{index}].student_id: {student} is not in the groups of {} you teach \
                 this subject to",
                sheet.class.name
            )
        })
        .collect();
    if !beyond_reach.is_empty() {
        return Err(GradebookError::denied(beyond_reach.join("; ")));
    }
    let ids: Vec<Uuid> = entries.iter().map(|(student, _)| *student).collect();
    let existing = sheet
        .marks_set(&mut transaction, subject, &ids, true)
        .await?;
    for (student, value) in entries {
        let before = existing.get(&student);
        if !term_mark_changes(before.map(|row| (row.kind.as_str(), row.grade)), value) {
            continue;
        }
        storage::journal::put_term_mark(
            &mut transaction,
            before,
            sheet.year_id,
            sheet.class.id,
            subject,
            student,
            (sheet.period.as_str(), sheet.period.number()),
            value.map(|value| (value.kind(), value.grade())),
            caller.person_id,
        )
        .await?;
        publish(
            &mut transaction,
            &sheet.school,
            ("student", student),
            "term_mark_set",
            &events::TermMarkSet {
                student_id: student.to_string(),
                class_id: sheet.class.id.to_string(),
                subject_id: subject.to_string(),
                school_year_id: sheet.year_id.to_string(),
                period: sheet.period.as_str().to_owned(),
                number: sheet.period.number(),
                value: value.map(|value| fact(value.kind(), value.grade())),
                teacher_id: caller.person_id.to_string(),
            },
        )
        .await?;
    }
    let answer = pb::SetTermMarksResponse {
        rows: sheet_rows(&mut transaction, &sheet, subject, &reach)
            .await?
            .1,
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(class_id = %sheet.class.id, subject_id = %subject, period = sheet.period.as_str(), "term marks set");
    Ok(answer)
}
