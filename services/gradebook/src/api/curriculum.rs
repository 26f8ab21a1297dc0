//! Subjects and the teaching load.

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Shared, calendar::year_and_school, classes::ensure_teacher_of, optional_uuid, text_field,
    text_of, uuid_field,
};
use crate::api::State;
use crate::{
    access,
    domain::GradebookError,
    events::publish,
    storage::{
        self,
        curriculum::{LoadRow, SubjectRow},
    },
};

pub struct CurriculumApi(pub Shared);

fn subject(row: &SubjectRow) -> pb::Subject {
    pb::Subject {
        id: row.id.to_string(),
        school_id: row.school_id.to_string(),
        name: row.name.clone(),
        short_name: row.short_name.clone(),
    }
}

fn load(row: &LoadRow) -> pb::Load {
    pb::Load {
        id: row.id.to_string(),
        class_id: row.class_id.to_string(),
        subgroup_id: text_of(row.subgroup_id),
        subject_id: row.subject_id.to_string(),
        teacher_id: row.teacher_id.to_string(),
        hours_per_week: row.hours_per_week,
    }
}

async fn create_subject(
    state: &State,
    caller: &Caller,
    request: pb::CreateSubjectRequest,
) -> Result<pb::CreateSubjectResponse, GradebookError> {
    let school_id = uuid_field(&request.school_id, "school_id")?;
    let name = text_field(&request.name, "name", 100)?;
    let short_name = if request.short_name.trim().is_empty() {
        name.chars().take(20).collect()
    } else {
        text_field(&request.short_name, "short_name", 20)?
    };
    let mut transaction = state.begin().await?;
    let school = access::school(&mut transaction, school_id, "school_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    let row = SubjectRow {
        id: Uuid::now_v7(),
        school_id,
        name,
        short_name,
    };
    match storage::curriculum::insert_subject(&mut transaction, &row).await {
        Ok(()) => {}
        Err(error) if storage::violates(&error, "subjects_name") => {
            return Err(GradebookError::AlreadyExists(format!(
                "name: {} already has the subject {}",
                school.name, row.name
            )));
        }
        Err(error) => return Err(GradebookError::from(error)),
    }
    publish(
        &mut transaction,
        &school,
        ("subject", row.id),
        "created",
        &events::SubjectCreated {
            subject_id: row.id.to_string(),
            school_id: school_id.to_string(),
            name: row.name.clone(),
            short_name: row.short_name.clone(),
        },
    )
    .await?;
    state.commit(transaction).await?;
    Ok(pb::CreateSubjectResponse {
        subject: Some(subject(&row)),
    })
}

async fn list_subjects(
    state: &State,
    caller: &Caller,
    request: pb::ListSubjectsRequest,
) -> Result<pb::ListSubjectsResponse, GradebookError> {
    let school_id = uuid_field(&request.school_id, "school_id")?;
    let mut connection = state.pool.acquire().await?;
    let school = access::school(&mut connection, school_id, "school_id").await?;
    access::read_school(caller, &school)?;
    let rows = storage::curriculum::subjects(&mut connection, school_id).await?;
    Ok(pb::ListSubjectsResponse {
        subjects: rows.iter().map(subject).collect(),
    })
}

async fn assign_load(
    state: &State,
    caller: &Caller,
    request: pb::AssignLoadRequest,
) -> Result<pb::AssignLoadResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let subgroup_id = optional_uuid(&request.subgroup_id, "subgroup_id")?;
    let subject_id = uuid_field(&request.subject_id, "subject_id")?;
    let teacher_id = uuid_field(&request.teacher_id, "teacher_id")?;
    if !(0..=40).contains(&request.hours_per_week) {
        return Err(GradebookError::invalid("hours_per_week", "must be 0 to 40"));
    }
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    let subject = storage::curriculum::subject(&mut transaction, subject_id)
        .await?
        .filter(|subject| subject.school_id == school.id)
        .ok_or_else(|| {
            GradebookError::invalid(
                "subject_id",
                format!("{} has no subject {subject_id}", school.name),
            )
        })?;
    if let Some(group) = subgroup_id {
        let belongs = storage::classes::subgroup(&mut transaction, group)
            .await?
            .is_some_and(|row| row.class_id == class_id);
        if !belongs {
            return Err(GradebookError::invalid(
                "subgroup_id",
                format!("{} has no group {group}", class.name),
            ));
        }
    }
    ensure_teacher_of(&mut transaction, teacher_id, &school, "teacher_id").await?;
    let row = LoadRow {
        id: Uuid::now_v7(),
        class_id,
        subgroup_id,
        subject_id,
        teacher_id,
        hours_per_week: request.hours_per_week,
    };
    match storage::curriculum::insert_load(&mut transaction, &row).await {
        Ok(()) => {}
        Err(error)
            if storage::violates(&error, "teaching_load_class_id_subgroup_id_subject_id_key") =>
        {
            return Err(GradebookError::AlreadyExists(format!(
                "subject_id: {} in {} already has a teacher; remove that load first",
                subject.name, class.name
            )));
        }
        Err(error) => return Err(GradebookError::from(error)),
    }
    publish(
        &mut transaction,
        &school,
        ("load", row.id),
        "assigned",
        &events::LoadAssigned {
            load_id: row.id.to_string(),
            class_id: class_id.to_string(),
            subgroup_id: text_of(subgroup_id),
            subject_id: subject_id.to_string(),
            teacher_id: teacher_id.to_string(),
            hours_per_week: row.hours_per_week,
        },
    )
    .await?;
    state.commit(transaction).await?;
    tracing::info!(load_id = %row.id, %class_id, "load assigned");
    Ok(pb::AssignLoadResponse {
        load: Some(load(&row)),
    })
}

async fn remove_load(
    state: &State,
    caller: &Caller,
    request: pb::RemoveLoadRequest,
) -> Result<pb::RemoveLoadResponse, GradebookError> {
    let id = uuid_field(&request.load_id, "load_id")?;
    let mut transaction = state.begin().await?;
    let row = storage::curriculum::load(&mut transaction, id)
        .await?
        .ok_or_else(|| GradebookError::not_found("load_id", format_args!("load {id}")))?;
    let (class, school) = access::class(&mut transaction, row.class_id, "load_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    let in_timetable = storage::timetable::slots(&mut transaction, class.id)
        .await?
        .iter()
        .any(|slot| slot.subject_id == row.subject_id && slot.subgroup_id == row.subgroup_id);
    if in_timetable {
        return Err(GradebookError::FailedPrecondition(format!(
            "load_id: the timetable of {} still has lessons of this load; change the timetable first",
            class.name
        )));
    }
    storage::curriculum::remove_load(&mut transaction, id).await?;
    publish(
        &mut transaction,
        &school,
        ("load", id),
        "removed",
        &events::LoadRemoved {
            load_id: id.to_string(),
            class_id: class.id.to_string(),
        },
    )
    .await?;
    state.commit(transaction).await?;
    Ok(pb::RemoveLoadResponse {})
}

async fn list_load(
    state: &State,
    caller: &Caller,
    request: pb::ListLoadRequest,
) -> Result<pb::ListLoadResponse, GradebookError> {
    let mut connection = state.pool.acquire().await?;
    let rows = match request.of {
        Some(pb::list_load_request::Of::ClassId(class_id)) => {
            let class_id = uuid_field(&class_id, "class_id")?;
            let (_, school) = access::class(&mut connection, class_id, "class_id").await?;
            access::read_school(caller, &school)?;
            storage::curriculum::load_of_class(&mut connection, class_id).await
        }
        Some(pb::list_load_request::Of::TeacherId(teacher_id)) => {
            let teacher_id = uuid_field(&teacher_id, "teacher_id")?;
            let year_id = uuid_field(&request.school_year_id, "school_year_id")?;
            let (_, school) = year_and_school(&mut connection, year_id, "school_year_id").await?;
            if teacher_id != caller.person_id {
                access::authorize(&mut connection, caller, access::MANAGE, &school).await?;
            }
            storage::curriculum::load_of_teacher(&mut connection, teacher_id, year_id).await
        }
        None => {
            return Err(GradebookError::invalid(
                "of",
                "class_id or teacher_id is required",
            ));
        }
    }?;
    Ok(pb::ListLoadResponse {
        load: rows.iter().map(load).collect(),
    })
}

#[tonic::async_trait]
impl pb::curriculum_service_server::CurriculumService for CurriculumApi {
    async fn create_subject(
        &self,
        request: Request<pb::CreateSubjectRequest>,
    ) -> Result<Response<pb::CreateSubjectResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_subject)
    }

    async fn list_subjects(
        &self,
        request: Request<pb::ListSubjectsRequest>,
    ) -> Result<Response<pb::ListSubjectsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_subjects)
    }

    async fn assign_load(
        &self,
        request: Request<pb::AssignLoadRequest>,
    ) -> Result<Response<pb::AssignLoadResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assign_load)
    }

    async fn remove_load(
        &self,
        request: Request<pb::RemoveLoadRequest>,
    ) -> Result<Response<pb::RemoveLoadResponse>, Status> {
        asurso_runtime::handle!(self.0, request, remove_load)
    }

    async fn list_load(
        &self,
        request: Request<pb::ListLoadRequest>,
    ) -> Result<Response<pb::ListLoadResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_load)
    }
}
