//! The diary: a student's week and their overdue work, for the student,
//! their guardians, and staff who work with them (audited).

use std::collections::HashMap;

use asurso_proto::gradebook as pb;
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;
use prost::Message;
use uuid::Uuid;

use super::{
    Shared, civil_date, date_field,
    journal::{assignment_type, attachments_by_assignment, stored_value},
    time_of_day,
    timetable::lesson_status,
    uuid_field,
};
use crate::api::State;
use crate::{
    access::{self, StudentReader},
    domain::{
        GradebookError,
        calendar::{Days, diary_week_of},
    },
    events::report_read,
    storage::{self, diary::StudentAssignment, lessons::LessonView},
};

pub struct DiaryApi(pub Shared);

fn diary_assignment(
    row: &StudentAssignment,
    attachments: &HashMap<Uuid, Vec<pb::AttachmentInfo>>,
) -> pb::DiaryAssignment {
    let assignment = &row.assignment;
    pb::DiaryAssignment {
        id: assignment.id.to_string(),
        r#type: Some(assignment_type(&assignment.kind())),
        weight: assignment.weight,
        due_date: Some(civil_date(assignment.due_date)),
        title: assignment.title.clone(),
        text: assignment.body.clone(),
        attachments: attachments.get(&assignment.id).cloned().unwrap_or_default(),
        mark: row
            .mark_kind
            .as_deref()
            .map(|kind| stored_value(kind, row.mark_grade)),
        mark_comment: row.mark_comment.clone().unwrap_or_default(),
        subject_name: assignment.subject_name.clone(),
        lesson_date: Some(civil_date(assignment.lesson_date)),
    }
}

fn diary_lesson(view: &LessonView) -> pb::DiaryLesson {
    pb::DiaryLesson {
        lesson_id: view.id.to_string(),
        period: view.period,
        start_time: view.start_time.map(time_of_day),
        end_time: view.end_time.map(time_of_day),
        subject_id: view.subject_id.to_string(),
        subject_name: view.subject_name.clone(),
        teacher_name: view.teacher_name.clone(),
        room: view.room.clone(),
        status: lesson_status(&view.status).into(),
        cancel_reason: view.cancel_reason.clone(),
        assignments: Vec::new(),
    }
}

/// Who reads a student's diary or marks: the family sees everything (no
/// school to keep to), staff only their school's part, and their read is
/// reported to the personal-data audit.
pub async fn reader(
    state: &State,
    transaction: &mut sqlx::PgConnection,
    caller: &Caller,
    student: Uuid,
    what: &str,
) -> Result<Option<Uuid>, GradebookError> {
    match access::read_diary(&state.memory, transaction, caller, student).await? {
        StudentReader::Family => Ok(None),
        StudentReader::Staff(school_id) => {
            let school = access::school(transaction, school_id, "student_id").await?;
            report_read(transaction, caller, &school, student, what).await?;
            Ok(Some(school_id))
        }
    }
}

/// The week of a student's diary as computed from the source tables; only
/// `only_school`'s part when given.
pub async fn compute_week(
    connection: &mut sqlx::PgConnection,
    student: Uuid,
    week: Days,
    only_school: Option<Uuid>,
) -> Result<pb::GetDiaryWeekResponse, GradebookError> {
    let (monday, saturday) = (week.start, week.end);
    let in_scope = |school: Uuid| only_school.is_none_or(|only| only == school);
    let lessons: Vec<LessonView> =
        storage::lessons::of_student(connection, student, monday, saturday)
            .await?
            .into_iter()
            .filter(|view| in_scope(view.school_id))
            .collect();
    let lesson_ids: Vec<Uuid> = lessons.iter().map(|view| view.id).collect();
    let given = storage::diary::of_lessons(connection, student, &lesson_ids).await?;
    let due: Vec<StudentAssignment> =
        storage::diary::due_between(connection, student, monday, saturday)
            .await?
            .into_iter()
            .filter(|row| in_scope(row.assignment.school_id))
            .collect();
    let ids: Vec<Uuid> = given
        .iter()
        .chain(&due)
        .map(|row| row.assignment.id)
        .collect();
    let attachments = attachments_by_assignment(connection, &ids).await?;

    let mut by_lesson = HashMap::<Uuid, Vec<pb::DiaryAssignment>>::new();
    for row in &given {
        let converted = diary_assignment(row, &attachments);
        by_lesson
            .entry(row.assignment.lesson_id)
            .or_default()
            .push(converted);
    }
    let days = week
        .iter()
        .map(|date| pb::DiaryDay {
            date: Some(civil_date(date)),
            lessons: lessons
                .iter()
                .filter(|view| view.date == date)
                .map(|view| pb::DiaryLesson {
                    assignments: by_lesson.remove(&view.id).unwrap_or_default(),
                    ..diary_lesson(view)
                })
                .collect(),
            due: due
                .iter()
                .filter(|row| row.assignment.due_date == date)
                .map(|row| diary_assignment(row, &attachments))
                .collect(),
        })
        .collect();
    Ok(pb::GetDiaryWeekResponse {
        student_id: student.to_string(),
        week_start: Some(civil_date(monday)),
        days,
    })
}

/// The whole week as the family sees it, computed in one snapshot with the
/// student's epoch in it, then kept at that epoch.
pub async fn compute_and_keep(
    pool: &sqlx::PgPool,
    student: Uuid,
    week: Days,
) -> Result<pb::GetDiaryWeekResponse, GradebookError> {
    let mut snapshot = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    let epoch = storage::diary::epoch(&mut snapshot, student).await?;
    let answer = compute_week(&mut snapshot, student, week, None).await?;
    snapshot.commit().await?;
    let mut connection = pool.acquire().await?;
    storage::diary::keep(
        &mut connection,
        student,
        week.start,
        epoch,
        &answer.encode_to_vec(),
    )
    .await?;
    Ok(answer)
}

/// Weeks computed at once by [`rebuild_read_model`]: each is a handful of
/// statements, so a few in flight keep PostgreSQL's cores busy.
const REBUILDERS: usize = 4;

/// Computes and keeps every week a diary can show (the weeks of each
/// enrolment), replacing what the read model held: `asurso-gradebook
/// rebuild-diary`. Returns how many weeks it kept. Reads never wait for
/// it: a week not kept is computed by the read that asks for it.
pub async fn rebuild_read_model(pool: &sqlx::PgPool) -> Result<usize, GradebookError> {
    use futures::{StreamExt as _, TryStreamExt as _};
    let weeks = {
        let mut connection = pool.acquire().await?;
        storage::diary::all_weeks(&mut connection).await?
    };
    futures::stream::iter(&weeks)
        .map(Ok)
        .try_for_each_concurrent(REBUILDERS, |(student, monday)| async move {
            let week = diary_week_of(*monday).ok_or_else(|| {
                GradebookError::Internal(
                    format!("the week of {monday} runs past the calendar").into(),
                )
            })?;
            compute_and_keep(pool, *student, week).await.map(drop)
        })
        .await?;
    Ok(weeks.len())
}

async fn get_diary_week(
    state: &State,
    caller: &Caller,
    request: pb::GetDiaryWeekRequest,
) -> Result<pb::GetDiaryWeekResponse, GradebookError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let date = date_field(request.date.as_ref(), "date")?;
    let week = diary_week_of(date).ok_or_else(|| {
        GradebookError::invalid("date", "its week runs past the end of the calendar")
    })?;
    // The family (the student, a guardian) reads the read model: one
    // lookup, no transaction; the week is computed only when not kept.
    let mut connection = state.pool().acquire().await?;
    if access::is_family(&state.memory, &mut connection, caller, student).await? {
        let kept = storage::diary::kept(&mut connection, student, week.start).await?;
        access::family_reads_diary(&state.memory, &mut connection, caller, &kept.schools).await?;
        drop(connection);
        return match kept.body {
            Some(body) => {
                pb::GetDiaryWeekResponse::decode(body.as_slice()).map_err(GradebookError::internal)
            }
            None => compute_and_keep(state.pool(), student, week).await,
        };
    }
    drop(connection);
    // Staff read what happened at their school, audited, in one snapshot.
    let mut transaction = state.begin().await?;
    let only_school = reader(state, &mut transaction, caller, student, "diary").await?;
    let answer = compute_week(&mut transaction, student, week, only_school).await?;
    state.commit(transaction).await?;
    Ok(answer)
}

async fn list_overdue(
    state: &State,
    caller: &Caller,
    request: pb::ListOverdueRequest,
) -> Result<pb::ListOverdueResponse, GradebookError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let mut transaction = state.begin().await?;
    let only_school = reader(
        state,
        &mut transaction,
        caller,
        student,
        "overdue assignments",
    )
    .await?;
    let debts = storage::diary::debts(&mut transaction, student, only_school).await?;
    let ids: Vec<Uuid> = debts.iter().map(|row| row.assignment.id).collect();
    let attachments = attachments_by_assignment(&mut transaction, &ids).await?;
    state.commit(transaction).await?;
    Ok(pb::ListOverdueResponse {
        assignments: debts
            .iter()
            .map(|row| diary_assignment(row, &attachments))
            .collect(),
    })
}

/// At most this many assignments in one GetDiaryAssignments.
const MAX_ASSIGNMENTS: usize = 100;

async fn get_diary_assignments(
    state: &State,
    caller: &Caller,
    request: pb::GetDiaryAssignmentsRequest,
) -> Result<pb::GetDiaryAssignmentsResponse, GradebookError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    if request.assignment_ids.len() > MAX_ASSIGNMENTS {
        return Err(GradebookError::invalid(
            "assignment_ids",
            "holds more than 100 ids",
        ));
    }
    let ids = request
        .assignment_ids
        .iter()
        .enumerate()
        .map(|(index, id)| uuid_field(id, &format!("assignment_ids[{index}]")))
        .collect::<Result<Vec<Uuid>, _>>()?;
    let mut transaction = state.begin().await?;
    let only_school = reader(state, &mut transaction, caller, student, "assignments").await?;
    let found =
        storage::diary::of_student_by_id(&mut transaction, student, &ids, only_school).await?;
    let found_ids: Vec<Uuid> = found
        .iter()
        .map(|detail| detail.row.assignment.id)
        .collect();
    let attachments = attachments_by_assignment(&mut transaction, &found_ids).await?;
    state.commit(transaction).await?;
    Ok(pb::GetDiaryAssignmentsResponse {
        assignments: found
            .iter()
            .map(|detail| pb::DiaryAssignmentDetail {
                assignment: Some(diary_assignment(&detail.row, &attachments)),
                teacher_id: detail.row.assignment.teacher_id.to_string(),
                teacher_name: detail.teacher_name.clone(),
                class_name: detail.class_name.clone(),
                subgroup_name: detail.subgroup_name.clone(),
            })
            .collect(),
    })
}

#[tonic::async_trait]
impl pb::diary_service_server::DiaryService for DiaryApi {
    async fn get_diary_week(
        &self,
        request: tonic::Request<pb::GetDiaryWeekRequest>,
    ) -> Result<tonic::Response<pb::GetDiaryWeekResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_diary_week)
    }

    async fn list_overdue(
        &self,
        request: tonic::Request<pb::ListOverdueRequest>,
    ) -> Result<tonic::Response<pb::ListOverdueResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, list_overdue)
    }

    async fn get_diary_assignments(
        &self,
        request: tonic::Request<pb::GetDiaryAssignmentsRequest>,
    ) -> Result<tonic::Response<pb::GetDiaryAssignmentsResponse>, tonic::Status> {
        asurso_runtime::handle!(self.0, request, get_diary_assignments)
    }
}
