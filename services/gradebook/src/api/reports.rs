//! Grade reports: a student's marks, a class journal page, final marks,
//! and summaries from a class up to the region.

use std::collections::HashMap;

use asurso_proto::gradebook as pb;
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Shared, civil_date, date_field, journal::stored_value, optional_uuid, uuid_field};
use crate::api::State;
use crate::{
    access::{self, Reach},
    domain::{
        GradebookError,
        calendar::Days,
        marks::{Period, report_span, rounded, weighted_average},
    },
    events::report_read,
    storage::{
        self,
        reports::{SummaryBy, SummaryRow},
    },
};

pub struct ReportApi(pub Shared);

fn span(
    from: Option<&asurso_proto::common::CivilDate>,
    to: Option<&asurso_proto::common::CivilDate>,
) -> Result<Days, GradebookError> {
    report_span(date_field(from, "from_date")?, date_field(to, "to_date")?)
}

fn summary(students: i64, average: f64, quality: f64, success: f64) -> pb::Summary {
    pb::Summary {
        students: i32::try_from(students).unwrap_or(i32::MAX),
        average: rounded(average),
        quality: rounded(quality),
        success: rounded(success),
    }
}

/// Summary rows with the names of what they are grouped by.
fn named(rows: Vec<SummaryRow>, names: &HashMap<Uuid, String>) -> Vec<pb::NamedSummary> {
    let mut named: Vec<pb::NamedSummary> = rows
        .into_iter()
        .map(
            |(id, students, average, quality, success)| pb::NamedSummary {
                id: id.to_string(),
                name: names.get(&id).cloned().unwrap_or_default(),
                summary: Some(summary(students, average, quality, success)),
            },
        )
        .collect();
    named.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    named
}

async fn names_of(
    connection: &mut PgConnection,
    classes: bool,
    rows: &[SummaryRow],
) -> Result<HashMap<Uuid, String>, GradebookError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
    Ok(storage::reports::names(connection, classes, &ids)
        .await?
        .into_iter()
        .collect())
}

/// The total and the rows by group of a summary over `days`.
async fn summarise(
    connection: &mut PgConnection,
    schools: &[Uuid],
    class: Option<Uuid>,
    days: Days,
    by: SummaryBy,
) -> Result<(pb::Summary, Vec<SummaryRow>), GradebookError> {
    let (rows, total) =
        storage::reports::summaries(connection, schools, class, days.start, days.end, by).await?;
    let total = total
        .map(|(_, students, average, quality, success)| {
            summary(students, average, quality, success)
        })
        .unwrap_or_default();
    Ok((total, rows))
}

fn period_message(period: Period) -> pb::MarkPeriod {
    pb::MarkPeriod {
        kind: match period {
            Period::Term(_) => pb::PeriodKind::Term,
            Period::HalfYear(_) => pb::PeriodKind::HalfYear,
            Period::Year => pb::PeriodKind::Year,
            Period::Exam => pb::PeriodKind::Exam,
            Period::Final => pb::PeriodKind::Final,
        }
        .into(),
        number: period.number(),
    }
}

async fn get_student_report(
    state: &State,
    caller: &Caller,
    request: pb::GetStudentReportRequest,
) -> Result<pb::GetStudentReportResponse, GradebookError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let days = span(request.from_date.as_ref(), request.to_date.as_ref())?;
    // The family's rights are checked in memory and its marks read in one
    // statement (a snapshot of its own): no transaction, nothing to audit.
    let mut connection = state.pool().acquire().await?;
    let rows = if access::family_reads(&state.memory, &mut connection, caller, student).await? {
        storage::reports::marks_of_student(&mut connection, student, days.start, days.end, None)
            .await?
    } else {
        drop(connection);
        // Staff read their school's part, audited, in one transaction.
        let mut transaction = state.begin().await?;
        let only_school =
            super::diary::reader(state, &mut transaction, caller, student, "marks report").await?;
        let rows = storage::reports::marks_of_student(
            &mut transaction,
            student,
            days.start,
            days.end,
            only_school,
        )
        .await?;
        state.commit(transaction).await?;
        rows
    };
    let mut subjects: Vec<pb::SubjectMarks> = Vec::new();
    let mut grades: Vec<Vec<(i32, i32)>> = Vec::new();
    for row in rows {
        if subjects
            .last()
            .is_none_or(|last| last.subject_id != row.subject_id.to_string())
        {
            subjects.push(pb::SubjectMarks {
                subject_id: row.subject_id.to_string(),
                subject_name: row.subject_name.clone(),
                ..Default::default()
            });
            grades.push(Vec::new());
        }
        if let (Some(subject), Some(grades)) = (subjects.last_mut(), grades.last_mut()) {
            if let Some(grade) = row.grade {
                grades.push((grade, row.weight));
            }
            subject.marks.push(pb::ReportMark {
                assignment_id: row.assignment_id.to_string(),
                date: Some(civil_date(row.lesson_date)),
                value: Some(stored_value(&row.kind, row.grade)),
                type_abbreviation: row.type_abbreviation,
                weight: row.weight,
                comment: row.comment,
            });
        }
    }
    for (subject, grades) in subjects.iter_mut().zip(grades) {
        subject.average = weighted_average(grades).map(rounded).unwrap_or(0.0);
    }
    Ok(pb::GetStudentReportResponse {
        student_id: student.to_string(),
        subjects,
    })
}

async fn get_class_journal(
    state: &State,
    caller: &Caller,
    request: pb::GetClassJournalRequest,
) -> Result<pb::GetClassJournalResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let subject = uuid_field(&request.subject_id, "subject_id")?;
    let subgroup = optional_uuid(&request.subgroup_id, "subgroup_id")?;
    let days = span(request.from_date.as_ref(), request.to_date.as_ref())?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    // Without a group named, a group's teacher gets their groups' page.
    let reach =
        access::read_journal(&mut transaction, caller, &class, &school, subject, subgroup).await?;
    let columns = storage::reports::journal_columns(
        &mut transaction,
        class_id,
        subject,
        reach.groups(),
        days.start,
        days.end,
    )
    .await?;
    let students = storage::reports::students_between(
        &mut transaction,
        class_id,
        reach.groups(),
        days.start,
        days.end,
    )
    .await?;
    let ids: Vec<Uuid> = columns.iter().map(|column| column.assignment_id).collect();
    let marks: HashMap<(Uuid, Uuid), (String, Option<i32>, String)> =
        storage::reports::marks_for(&mut transaction, &ids)
            .await?
            .into_iter()
            .map(|(assignment, student, kind, grade, comment)| {
                ((assignment, student), (kind, grade, comment))
            })
            .collect();
    for student in &students {
        report_read(
            &mut transaction,
            caller,
            &school,
            student.student_id,
            "class journal",
        )
        .await?;
    }
    state.commit(transaction).await?;
    let rows = students
        .iter()
        .map(|student| {
            let mut grades = Vec::new();
            let cells = columns
                .iter()
                .map(|column| {
                    let Some((kind, grade, comment)) =
                        marks.get(&(column.assignment_id, student.student_id))
                    else {
                        return pb::JournalCell::default();
                    };
                    if let Some(grade) = grade {
                        grades.push((*grade, column.weight));
                    }
                    pb::JournalCell {
                        value: Some(stored_value(kind, *grade)),
                        comment: comment.clone(),
                    }
                })
                .collect();
            pb::JournalRow {
                student_id: student.student_id.to_string(),
                student_name: student.student_name.clone(),
                cells,
                average: weighted_average(grades).map(rounded).unwrap_or(0.0),
            }
        })
        .collect();
    Ok(pb::GetClassJournalResponse {
        columns: columns
            .into_iter()
            .map(|column| pb::JournalColumn {
                lesson_id: column.lesson_id.to_string(),
                date: Some(civil_date(column.date)),
                period: column.period,
                assignment_id: column.assignment_id.to_string(),
                type_abbreviation: column.type_abbreviation,
                weight: column.weight,
                title: column.title,
            })
            .collect(),
        rows,
    })
}

async fn get_final_marks(
    state: &State,
    caller: &Caller,
    request: pb::GetFinalMarksRequest,
) -> Result<pb::GetFinalMarksResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    // The whole class for its class teacher and the administration; a
    // subject teacher sees the subjects they teach there, of the
    // students they teach them to (a group's teacher, their groups').
    let only_taught: Option<HashMap<Uuid, Reach>> =
        if access::reads_whole_class(&mut transaction, caller, &class, &school).await? {
            None
        } else {
            access::authorize(&mut transaction, caller, access::JOURNAL_WRITE, &school).await?;
            let mut groups = HashMap::<Uuid, Vec<Option<Uuid>>>::new();
            for load in storage::curriculum::load_of_class(&mut transaction, class_id).await? {
                if load.teacher_id == caller.person_id {
                    groups
                        .entry(load.subject_id)
                        .or_default()
                        .push(load.subgroup_id);
                }
            }
            let taught: HashMap<Uuid, Reach> = groups
                .into_iter()
                .filter_map(|(subject, groups)| Some((subject, Reach::of_load(groups)?)))
                .collect();
            if taught.is_empty() || caller.org_unit_id != school.id {
                return Err(GradebookError::denied(format!(
                    "the final marks of {} are read by its class teacher, the administration \
                     and its teachers",
                    class.name
                )));
            }
            Some(taught)
        };
    let subgroups = match only_taught {
        Some(_) => storage::classes::subgroups(&mut transaction, &[class_id]).await?,
        None => Vec::new(),
    };
    let reached = |student: Uuid, subject: Option<Uuid>| {
        only_taught.as_ref().is_none_or(|taught| {
            taught
                .iter()
                .filter(|(taught, _)| subject.is_none_or(|subject| subject == **taught))
                .any(|(_, reach)| reach.covers(student, &subgroups))
        })
    };
    let year = storage::calendar::get(&mut transaction, class.school_year_id)
        .await?
        .ok_or_else(|| GradebookError::Internal("a class's school year vanished".into()))?;
    let students = storage::reports::students_between(
        &mut transaction,
        class_id,
        None,
        year.year.start_date,
        year.year.end_date,
    )
    .await?
    .into_iter()
    .filter(|student| reached(student.student_id, None))
    .collect::<Vec<_>>();
    let ids: Vec<Uuid> = students.iter().map(|s| s.student_id).collect();
    let marks =
        storage::journal::term_marks(&mut transaction, year.year.id, &ids, None, None, false)
            .await?;
    let subject_names: HashMap<Uuid, String> =
        storage::curriculum::subjects(&mut transaction, school.id)
            .await?
            .into_iter()
            .map(|subject| (subject.id, subject.name))
            .collect();
    for student in &ids {
        report_read(&mut transaction, caller, &school, *student, "final marks").await?;
    }
    state.commit(transaction).await?;
    let mut by_student = HashMap::<Uuid, Vec<pb::FinalMark>>::new();
    for mark in marks {
        if !reached(mark.student_id, Some(mark.subject_id)) {
            continue;
        }
        let Some(period) = Period::parse(&mark.period, mark.number) else {
            continue;
        };
        by_student
            .entry(mark.student_id)
            .or_default()
            .push(pb::FinalMark {
                subject_id: mark.subject_id.to_string(),
                subject_name: subject_names
                    .get(&mark.subject_id)
                    .cloned()
                    .unwrap_or_default(),
                period: Some(period_message(period)),
                value: Some(stored_value(&mark.kind, mark.grade)),
            });
    }
    Ok(pb::GetFinalMarksResponse {
        students: students
            .iter()
            .map(|student| {
                let mut marks = by_student.remove(&student.student_id).unwrap_or_default();
                marks.sort_by(|a, b| a.subject_name.cmp(&b.subject_name));
                pb::StudentFinalMarks {
                    student_id: student.student_id.to_string(),
                    student_name: student.student_name.clone(),
                    marks,
                }
            })
            .collect(),
    })
}

async fn get_class_summary(
    state: &State,
    caller: &Caller,
    request: pb::GetClassSummaryRequest,
) -> Result<pb::GetClassSummaryResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let days = span(request.from_date.as_ref(), request.to_date.as_ref())?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::read_class_reports(&mut transaction, caller, &class, &school).await?;
    let schools = [school.id];
    let (total, rows) = summarise(
        &mut transaction,
        &schools,
        Some(class_id),
        days,
        SummaryBy::Subject,
    )
    .await?;
    let names = names_of(&mut transaction, false, &rows).await?;
    let subjects = named(rows, &names);
    transaction.commit().await?;
    Ok(pb::GetClassSummaryResponse {
        total: Some(total),
        subjects,
    })
}

async fn get_school_summary(
    state: &State,
    caller: &Caller,
    request: pb::GetSchoolSummaryRequest,
) -> Result<pb::GetSchoolSummaryResponse, GradebookError> {
    let school_id = uuid_field(&request.school_id, "school_id")?;
    let days = span(request.from_date.as_ref(), request.to_date.as_ref())?;
    let mut transaction = state.begin().await?;
    let school = access::school(&mut transaction, school_id, "school_id").await?;
    access::authorize(&mut transaction, caller, access::REPORTS_SCHOOL, &school).await?;
    if caller.role != asurso_proto::identity::Role::SchoolAdmin {
        return Err(GradebookError::denied(
            "a school's summary is read by its administration",
        ));
    }
    let schools = [school.id];
    let (total, rows) = summarise(&mut transaction, &schools, None, days, SummaryBy::Class).await?;
    let names = names_of(&mut transaction, true, &rows).await?;
    let classes = named(rows, &names);
    transaction.commit().await?;
    Ok(pb::GetSchoolSummaryResponse {
        total: Some(total),
        classes,
    })
}

async fn get_aggregate_summary(
    state: &State,
    caller: &Caller,
    request: pb::GetAggregateSummaryRequest,
) -> Result<pb::GetAggregateSummaryResponse, GradebookError> {
    let unit = uuid_field(&request.org_unit_id, "org_unit_id")?;
    let days = span(request.from_date.as_ref(), request.to_date.as_ref())?;
    let mut transaction = state.begin().await?;
    access::read_aggregates(&mut transaction, caller, unit).await?;
    let schools: HashMap<Uuid, String> = storage::reports::schools_under(&mut transaction, unit)
        .await?
        .into_iter()
        .collect();
    let ids: Vec<Uuid> = schools.keys().copied().collect();
    let (total, rows) = summarise(&mut transaction, &ids, None, days, SummaryBy::School).await?;
    let schools = named(rows, &schools);
    transaction.commit().await?;
    Ok(pb::GetAggregateSummaryResponse {
        total: Some(total),
        schools,
    })
}

#[tonic::async_trait]
impl pb::report_service_server::ReportService for ReportApi {
    async fn get_student_report(
        &self,
        request: tonic::Request<pb::GetStudentReportRequest>,
    ) -> Result<tonic::Response<pb::GetStudentReportResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_student_report)
    }

    async fn get_class_journal(
        &self,
        request: tonic::Request<pb::GetClassJournalRequest>,
    ) -> Result<tonic::Response<pb::GetClassJournalResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_class_journal)
    }

    async fn get_final_marks(
        &self,
        request: tonic::Request<pb::GetFinalMarksRequest>,
    ) -> Result<tonic::Response<pb::GetFinalMarksResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_final_marks)
    }

    async fn get_class_summary(
        &self,
        request: tonic::Request<pb::GetClassSummaryRequest>,
    ) -> Result<tonic::Response<pb::GetClassSummaryResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_class_summary)
    }

    async fn get_school_summary(
        &self,
        request: tonic::Request<pb::GetSchoolSummaryRequest>,
    ) -> Result<tonic::Response<pb::GetSchoolSummaryResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_school_summary)
    }

    async fn get_aggregate_summary(
        &self,
        request: tonic::Request<pb::GetAggregateSummaryRequest>,
    ) -> Result<tonic::Response<pb::GetAggregateSummaryResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_aggregate_summary)
    }
}
