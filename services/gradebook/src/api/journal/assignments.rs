//! Assignments a teacher gives at a lesson, with their attached files: the
//! types to choose from, creating and changing one, a lesson's list.

use std::collections::HashMap;

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::{self, JournalScope},
    api::{
        Edge, Idempotent, State, civil_date, optional_date, optional_text, text_field, text_of,
        uuid_field,
    },
    domain::{GradebookError, attachments},
    events::publish,
    storage::{
        self,
        directory::School,
        journal::{AssignmentFields, AssignmentRow, AssignmentType, AttachmentInfo},
        lessons::LessonRow,
    },
};

/// The longest title (the lesson's topic) and text of an assignment.
const MAX_TITLE: usize = 300;
const MAX_TEXT: usize = 10_000;

pub fn assignment_type(kind: &AssignmentType) -> pb::AssignmentType {
    pb::AssignmentType {
        code: kind.code.clone(),
        name: kind.name.clone(),
        abbreviation: kind.abbreviation.clone(),
        default_weight: kind.default_weight,
    }
}

pub fn attachment_info(info: &AttachmentInfo) -> pb::AttachmentInfo {
    pb::AttachmentInfo {
        id: info.id.to_string(),
        file_name: info.file_name.clone(),
        content_type: info.content_type.clone(),
        size: info.size,
        sha256: info.sha256.clone(),
    }
}

/// Attachments of these assignments, by assignment.
pub async fn attachments_by_assignment(
    connection: &mut PgConnection,
    assignments: &[Uuid],
) -> Result<HashMap<Uuid, Vec<pb::AttachmentInfo>>, GradebookError> {
    let mut by = HashMap::<Uuid, Vec<pb::AttachmentInfo>>::new();
    if assignments.is_empty() {
        return Ok(by);
    }
    for info in storage::journal::attachments_of(connection, assignments).await? {
        by.entry(info.assignment_id)
            .or_default()
            .push(attachment_info(&info));
    }
    Ok(by)
}

fn assignment(row: &AssignmentRow, attachments: Vec<pb::AttachmentInfo>) -> pb::Assignment {
    pb::Assignment {
        id: row.id.to_string(),
        lesson_id: row.lesson_id.to_string(),
        class_id: row.class_id.to_string(),
        subgroup_id: text_of(row.subgroup_id),
        subject_id: row.subject_id.to_string(),
        lesson_date: Some(civil_date(row.lesson_date)),
        r#type: Some(assignment_type(&row.kind())),
        weight: row.weight,
        due_date: Some(civil_date(row.due_date)),
        title: row.title.clone(),
        text: row.body.clone(),
        teacher_id: row.teacher_id.to_string(),
        attachments,
    }
}

fn weight_field(weight: i32, field: &str) -> Result<i32, GradebookError> {
    if (1..=20).contains(&weight) {
        Ok(weight)
    } else {
        Err(GradebookError::invalid(
            field,
            format!("{weight} is outside 1 to 20"),
        ))
    }
}

/// A lesson with its school; `field` is named when there is no such lesson.
pub(super) async fn lesson_of(
    connection: &mut PgConnection,
    id: Uuid,
    field: &str,
) -> Result<(LessonRow, School), GradebookError> {
    let lesson = storage::lessons::get(connection, id)
        .await?
        .ok_or_else(|| GradebookError::not_found(field, format_args!("lesson {id}")))?;
    let school = access::school(connection, lesson.school_id, field).await?;
    Ok((lesson, school))
}

/// An assignment, locked for the transaction when `lock`.
pub(super) async fn assignment_of(
    connection: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<AssignmentRow, GradebookError> {
    storage::journal::assignment(connection, id, lock)
        .await?
        .ok_or_else(|| GradebookError::not_found("assignment_id", format_args!("assignment {id}")))
}

async fn type_of(
    connection: &mut PgConnection,
    code: &str,
) -> Result<AssignmentType, GradebookError> {
    storage::journal::assignment_type(connection, code)
        .await?
        .ok_or_else(|| {
            GradebookError::invalid(
                "type",
                format!("{code:?} is not an assignment type (see ListAssignmentTypes)"),
            )
        })
}

/// The part of the journal a lesson is in: whose rights cover it.
/// The assignment `id` (locked, so its changes come one after another),
/// its lesson and school, once the caller may write in that lesson's
/// journal.
pub(super) async fn writable_assignment(
    connection: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<(AssignmentRow, LessonRow, School), GradebookError> {
    let row = assignment_of(connection, id, true).await?;
    let (lesson, school) = lesson_of(connection, row.lesson_id, "assignment_id").await?;
    access::write_journal(
        connection,
        caller,
        &school,
        scope_of(&lesson),
        Some(lesson.teacher_id),
    )
    .await?;
    Ok((row, lesson, school))
}

pub(super) fn scope_of(lesson: &LessonRow) -> JournalScope {
    JournalScope {
        class_id: lesson.class_id,
        subject_id: lesson.subject_id,
        subgroup_id: lesson.subgroup_id,
    }
}

/// The due date checked against the lesson and the school year.
async fn due_date(
    connection: &mut PgConnection,
    lesson: &LessonRow,
    due: Option<time::Date>,
) -> Result<time::Date, GradebookError> {
    let Some(due) = due else {
        return Ok(lesson.date);
    };
    if due < lesson.date {
        return Err(GradebookError::invalid(
            "due_date",
            format!("is before the lesson ({})", lesson.date),
        ));
    }
    let end = storage::lessons::year_end_of(connection, lesson.id).await?;
    if end.is_some_and(|end| due > end) {
        return Err(GradebookError::invalid(
            "due_date",
            "is after the end of the school year",
        ));
    }
    Ok(due)
}

fn changed_event(row: &AssignmentRow) -> events::AssignmentChanged {
    events::AssignmentChanged {
        assignment_id: row.id.to_string(),
        lesson_id: row.lesson_id.to_string(),
        class_id: row.class_id.to_string(),
        subject_id: row.subject_id.to_string(),
        r#type: row.type_code.clone(),
        weight: row.weight,
        due_date: Some(civil_date(row.due_date)),
        title: row.title.clone(),
        teacher_id: row.teacher_id.to_string(),
    }
}

/// The dictionary of assignment types: anyone signed in may read it.
pub(super) async fn list_assignment_types(
    state: &State,
    _caller: &Caller,
    _request: pb::ListAssignmentTypesRequest,
) -> Result<pb::ListAssignmentTypesResponse, GradebookError> {
    let mut connection = state.pool.acquire().await?;
    let types = storage::journal::types(&mut connection).await?;
    Ok(pb::ListAssignmentTypesResponse {
        types: types.iter().map(assignment_type).collect(),
    })
}

pub(super) async fn create_assignment(
    state: &State,
    caller: &Caller,
    request: pb::CreateAssignmentRequest,
) -> Result<pb::CreateAssignmentResponse, GradebookError> {
    let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
    let title = text_field(&request.title, "title", MAX_TITLE)?;
    let text = optional_text(&request.text, "text", MAX_TEXT)?;
    let due = optional_date(request.due_date.as_ref(), "due_date")?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let (lesson, school) = lesson_of(&mut transaction, lesson_id, "lesson_id").await?;
    access::write_journal(
        &mut transaction,
        caller,
        &school,
        scope_of(&lesson),
        Some(lesson.teacher_id),
    )
    .await?;
    if lesson.status == "cancelled" {
        return Err(GradebookError::FailedPrecondition(format!(
            "lesson_id: the lesson was cancelled ({})",
            lesson.cancel_reason
        )));
    }
    let kind = type_of(&mut transaction, request.r#type.trim()).await?;
    let weight = if request.weight == 0 {
        kind.default_weight
    } else {
        weight_field(request.weight, "weight")?
    };
    let fields = AssignmentFields {
        type_code: kind.code,
        weight,
        due_date: due_date(&mut transaction, &lesson, due).await?,
        title,
        body: text,
    };
    let id = Uuid::now_v7();
    storage::journal::insert_assignment(&mut transaction, id, lesson.id, caller.person_id, &fields)
        .await?;
    let row = assignment_of(&mut transaction, id, false).await?;
    publish(
        &mut transaction,
        &school,
        ("assignment", id),
        "published",
        &events::AssignmentPublished {
            assignment_id: id.to_string(),
            lesson_id: lesson.id.to_string(),
            class_id: lesson.class_id.to_string(),
            subgroup_id: text_of(lesson.subgroup_id),
            subject_id: lesson.subject_id.to_string(),
            r#type: row.type_code.clone(),
            weight: row.weight,
            due_date: Some(civil_date(row.due_date)),
            title: row.title.clone(),
            teacher_id: caller.person_id.to_string(),
        },
    )
    .await?;
    let answer = pb::CreateAssignmentResponse {
        assignment: Some(assignment(&row, Vec::new())),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(assignment_id = %id, lesson_id = %lesson.id, "assignment published");
    Ok(answer)
}

pub(super) async fn change_assignment(
    state: &State,
    caller: &Caller,
    request: pb::ChangeAssignmentRequest,
) -> Result<pb::ChangeAssignmentResponse, GradebookError> {
    let id = uuid_field(&request.assignment_id, "assignment_id")?;
    let due = optional_date(request.due_date.as_ref(), "due_date")?;
    let mut transaction = state.begin().await?;
    let (row, lesson, school) = writable_assignment(&mut transaction, caller, id).await?;
    let mut fields = AssignmentFields {
        type_code: row.type_code.clone(),
        weight: row.weight,
        due_date: row.due_date,
        title: row.title.clone(),
        body: row.body.clone(),
    };
    if let Some(code) = request.r#type.as_deref() {
        fields.type_code = type_of(&mut transaction, code.trim()).await?.code;
    }
    if let Some(weight) = request.weight {
        fields.weight = weight_field(weight, "weight")?;
    }
    if let Some(title) = request.title.as_deref() {
        fields.title = text_field(title, "title", MAX_TITLE)?;
    }
    if let Some(text) = request.text.as_deref() {
        fields.body = optional_text(text, "text", MAX_TEXT)?;
    }
    if due.is_some() {
        fields.due_date = due_date(&mut transaction, &lesson, due).await?;
    }
    storage::journal::update_assignment(&mut transaction, id, caller.person_id, &fields).await?;
    let row = assignment_of(&mut transaction, id, false).await?;
    publish(
        &mut transaction,
        &school,
        ("assignment", id),
        "changed",
        &changed_event(&row),
    )
    .await?;
    let mut attachments = attachments_by_assignment(&mut transaction, &[id]).await?;
    state.commit(transaction).await?;
    Ok(pb::ChangeAssignmentResponse {
        assignment: Some(assignment(
            &row,
            attachments.remove(&id).unwrap_or_default(),
        )),
    })
}

pub(super) async fn list_assignments(
    state: &State,
    caller: &Caller,
    request: pb::ListAssignmentsRequest,
) -> Result<pb::ListAssignmentsResponse, GradebookError> {
    let lesson_id = uuid_field(&request.lesson_id, "lesson_id")?;
    let mut transaction = state.begin().await?;
    let view = storage::lessons::view(&mut transaction, lesson_id)
        .await?
        .ok_or_else(|| {
            GradebookError::not_found("lesson_id", format_args!("lesson {lesson_id}"))
        })?;
    let (class, school) = access::class(&mut transaction, view.class_id, "lesson_id").await?;
    access::read_class(&mut transaction, caller, &class, &school).await?;
    let rows = storage::journal::of_lesson(&mut transaction, lesson_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut attachments = attachments_by_assignment(&mut transaction, &ids).await?;
    transaction.commit().await?;
    Ok(pb::ListAssignmentsResponse {
        assignments: rows
            .iter()
            .map(|row| assignment(row, attachments.remove(&row.id).unwrap_or_default()))
            .collect(),
    })
}

pub(super) async fn add_attachment(
    state: &State,
    caller: &Caller,
    request: pb::AddAttachmentRequest,
) -> Result<pb::AddAttachmentResponse, GradebookError> {
    let id = uuid_field(&request.assignment_id, "assignment_id")?;
    let content_type = request.content_type.trim().to_ascii_lowercase();
    let file_name = attachments::validate(&request.file_name, &content_type, &request.content)?;
    let mut transaction = state.begin().await?;
    writable_assignment(&mut transaction, caller, id).await?;
    if storage::journal::attachment_count(&mut transaction, id).await?
        >= attachments::MAX_PER_ASSIGNMENT
    {
        return Err(GradebookError::FailedPrecondition(format!(
            "assignment_id: an assignment holds at most {} attachments",
            attachments::MAX_PER_ASSIGNMENT
        )));
    }
    let info = AttachmentInfo {
        id: Uuid::now_v7(),
        assignment_id: id,
        file_name,
        content_type,
        size: i64::try_from(request.content.len()).unwrap_or(i64::MAX),
        sha256: attachments::sha256_hex(&request.content),
    };
    storage::journal::insert_attachment(&mut transaction, &info, &request.content).await?;
    state.commit(transaction).await?;
    tracing::info!(attachment_id = %info.id, assignment_id = %id, size = info.size, "attachment added");
    Ok(pb::AddAttachmentResponse {
        attachment: Some(attachment_info(&info)),
    })
}

pub(super) async fn get_attachment(
    state: &State,
    caller: &Caller,
    request: pb::GetAttachmentRequest,
) -> Result<pb::GetAttachmentResponse, GradebookError> {
    let id = uuid_field(&request.attachment_id, "attachment_id")?;
    let mut transaction = state.begin().await?;
    let (info, content) = storage::journal::attachment(&mut transaction, id)
        .await?
        .ok_or_else(|| {
            GradebookError::not_found("attachment_id", format_args!("attachment {id}"))
        })?;
    let row = assignment_of(&mut transaction, info.assignment_id, false).await?;
    let (class, school) = access::class(&mut transaction, row.class_id, "attachment_id").await?;
    access::read_class(&mut transaction, caller, &class, &school).await?;
    transaction.commit().await?;
    Ok(pb::GetAttachmentResponse {
        attachment: Some(attachment_info(&info)),
        content,
    })
}
