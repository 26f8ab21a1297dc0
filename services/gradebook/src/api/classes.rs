//! Classes, subgroups and enrolments.

use asurso_proto::{events, gradebook as pb};
use asurso_runtime::auth::Caller;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    Edge, Idempotent, Shared, calendar::year_and_school, civil_date, date_field, optional_date,
    text_field, text_of, uuid_field,
};
use crate::api::State;
use crate::{
    access,
    domain::GradebookError,
    events::publish,
    storage::{
        self,
        classes::{ClassRow, EnrolmentRow, SubgroupRow},
        directory::School,
    },
};

pub struct ClassApi(pub Shared);

fn subgroup(row: &SubgroupRow) -> pb::Subgroup {
    pb::Subgroup {
        id: row.id.to_string(),
        class_id: row.class_id.to_string(),
        name: row.name.clone(),
        student_ids: row.student_ids.iter().map(ToString::to_string).collect(),
    }
}

async fn class_message(
    connection: &mut PgConnection,
    row: &ClassRow,
) -> Result<pb::Class, GradebookError> {
    let subgroups = storage::classes::subgroups(connection, &[row.id]).await?;
    Ok(pb::Class {
        id: row.id.to_string(),
        school_id: row.school_id.to_string(),
        school_year_id: row.school_year_id.to_string(),
        name: row.name.clone(),
        grade: row.grade,
        class_teacher_id: text_of(row.class_teacher_id),
        subgroups: subgroups.iter().map(subgroup).collect(),
    })
}

fn enrolment(row: &EnrolmentRow) -> pb::Enrolment {
    pb::Enrolment {
        id: row.id.to_string(),
        class_id: row.class_id.to_string(),
        student_id: row.student_id.to_string(),
        student_name: row.student_name.clone(),
        start_date: Some(civil_date(row.start_date)),
        end_date: row.end_date.map(civil_date),
        end_reason: row.end_reason.clone(),
    }
}

/// The student must hold a student grant at the school (from identity).
async fn ensure_student_of(
    connection: &mut PgConnection,
    student: Uuid,
    school: &School,
    field: &str,
) -> Result<(), GradebookError> {
    if access::is_student_of(connection, student, school.id).await? {
        Ok(())
    } else {
        Err(GradebookError::invalid(
            field,
            format!(
                "{student} is not a student of {} (register them there first)",
                school.name
            ),
        ))
    }
}

pub async fn ensure_teacher_of(
    connection: &mut PgConnection,
    teacher: Uuid,
    school: &School,
    field: &str,
) -> Result<(), GradebookError> {
    if access::holds_role(connection, teacher, &access::TEACHER_ROLES, school.id).await? {
        Ok(())
    } else {
        Err(GradebookError::invalid(
            field,
            format!("{teacher} is not a teacher of {}", school.name),
        ))
    }
}

async fn fetch_enrolment(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<EnrolmentRow, GradebookError> {
    storage::classes::enrolment(connection, id)
        .await?
        .ok_or_else(|| GradebookError::Internal("an enrolment vanished".into()))
}

async fn create_class(
    state: &State,
    caller: &Caller,
    request: pb::CreateClassRequest,
) -> Result<pb::CreateClassResponse, GradebookError> {
    let year_id = uuid_field(&request.school_year_id, "school_year_id")?;
    let name = text_field(&request.name, "name", 10)?;
    if !(1..=11).contains(&request.grade) {
        return Err(GradebookError::invalid("grade", "must be 1 to 11"));
    }
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    let (year, school) = year_and_school(&mut transaction, year_id, "school_year_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let row = ClassRow {
        id: Uuid::now_v7(),
        school_id: school.id,
        school_year_id: year_id,
        name,
        grade: request.grade,
        class_teacher_id: None,
    };
    match storage::classes::insert(&mut transaction, &row).await {
        Ok(()) => {}
        Err(error) if storage::violates(&error, "classes_school_year_id_name_key") => {
            return Err(GradebookError::AlreadyExists(format!(
                "name: {} already has a class {} in {}",
                school.name, row.name, year.year.name
            )));
        }
        Err(error) => return Err(GradebookError::from(error)),
    }
    publish(
        &mut transaction,
        &school,
        ("class", row.id),
        "created",
        &events::ClassCreated {
            class_id: row.id.to_string(),
            school_id: school.id.to_string(),
            school_year_id: year_id.to_string(),
            name: row.name.clone(),
            grade: row.grade,
        },
    )
    .await?;
    let answer = pb::CreateClassResponse {
        class: Some(class_message(&mut transaction, &row).await?),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(class_id = %row.id, name = %row.name, "class created");
    Ok(answer)
}

async fn list_classes(
    state: &State,
    caller: &Caller,
    request: pb::ListClassesRequest,
) -> Result<pb::ListClassesResponse, GradebookError> {
    let year_id = uuid_field(&request.school_year_id, "school_year_id")?;
    let mut connection = state.pool.acquire().await?;
    let (_, school) = year_and_school(&mut connection, year_id, "school_year_id").await?;
    access::read_school(caller, &school)?;
    let rows = storage::classes::of_year(&mut connection, year_id).await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let subgroups = storage::classes::subgroups(&mut connection, &ids).await?;
    let mut insiders = Vec::new();
    for row in &rows {
        if access::works_with_class(&mut connection, caller, row, &school).await? {
            insiders.push(row.id);
        }
    }
    let classes = rows
        .iter()
        .map(|row| pb::Class {
            id: row.id.to_string(),
            school_id: row.school_id.to_string(),
            school_year_id: row.school_year_id.to_string(),
            name: row.name.clone(),
            grade: row.grade,
            class_teacher_id: text_of(row.class_teacher_id),
            subgroups: subgroups
                .iter()
                .filter(|group| group.class_id == row.id)
                .map(|group| {
                    let mut message = subgroup(group);
                    // Who is in which group is the class's business.
                    if !insiders.contains(&row.id) {
                        message.student_ids.clear();
                    }
                    message
                })
                .collect(),
        })
        .collect();
    Ok(pb::ListClassesResponse { classes })
}

async fn set_class_teacher(
    state: &State,
    caller: &Caller,
    request: pb::SetClassTeacherRequest,
) -> Result<pb::SetClassTeacherResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let teacher = uuid_field(&request.teacher_id, "teacher_id")?;
    let mut transaction = state.begin().await?;
    let (mut class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    ensure_teacher_of(&mut transaction, teacher, &school, "teacher_id").await?;
    storage::classes::set_class_teacher(&mut transaction, class_id, teacher).await?;
    publish(
        &mut transaction,
        &school,
        ("class", class_id),
        "teacher_set",
        &events::ClassTeacherSet {
            class_id: class_id.to_string(),
            teacher_id: teacher.to_string(),
        },
    )
    .await?;
    class.class_teacher_id = Some(teacher);
    let message = class_message(&mut transaction, &class).await?;
    state.commit(transaction).await?;
    Ok(pb::SetClassTeacherResponse {
        class: Some(message),
    })
}

async fn create_subgroup(
    state: &State,
    caller: &Caller,
    request: pb::CreateSubgroupRequest,
) -> Result<pb::CreateSubgroupResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let name = text_field(&request.name, "name", 50)?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    let id = Uuid::now_v7();
    match storage::classes::insert_subgroup(&mut transaction, id, class_id, &name).await {
        Ok(()) => {}
        Err(error) if storage::violates(&error, "subgroups_class_id_name_key") => {
            return Err(GradebookError::AlreadyExists(format!(
                "name: {} already has a group {name}",
                class.name
            )));
        }
        Err(error) => return Err(GradebookError::from(error)),
    }
    state.commit(transaction).await?;
    Ok(pb::CreateSubgroupResponse {
        subgroup: Some(pb::Subgroup {
            id: id.to_string(),
            class_id: class_id.to_string(),
            name,
            student_ids: Vec::new(),
        }),
    })
}

async fn set_subgroup_members(
    state: &State,
    caller: &Caller,
    request: pb::SetSubgroupMembersRequest,
) -> Result<pb::SetSubgroupMembersResponse, GradebookError> {
    let id = uuid_field(&request.subgroup_id, "subgroup_id")?;
    let students = request
        .student_ids
        .iter()
        .enumerate()
        .map(|(index, id)| uuid_field(id, &format!("student_ids[{index}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut transaction = state.begin().await?;
    let group = storage::classes::subgroup(&mut transaction, id)
        .await?
        .ok_or_else(|| GradebookError::not_found("subgroup_id", format_args!("subgroup {id}")))?;
    let (class, school) = access::class(&mut transaction, group.class_id, "subgroup_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    for (index, student) in students.iter().enumerate() {
        if !storage::classes::ever_in_class(&mut transaction, class.id, *student).await? {
            return Err(GradebookError::invalid(
                format!("student_ids[{index}]"),
                format!("{student} is not enrolled in {}", class.name),
            ));
        }
    }
    storage::classes::set_subgroup_members(&mut transaction, id, &students).await?;
    publish(
        &mut transaction,
        &school,
        ("subgroup", id),
        "members_set",
        &events::SubgroupMembersSet {
            subgroup_id: id.to_string(),
            class_id: class.id.to_string(),
            student_ids: students.iter().map(Uuid::to_string).collect(),
        },
    )
    .await?;
    let group = storage::classes::subgroup(&mut transaction, id)
        .await?
        .ok_or_else(|| GradebookError::Internal("a subgroup vanished".into()))?;
    state.commit(transaction).await?;
    Ok(pb::SetSubgroupMembersResponse {
        subgroup: Some(subgroup(&group)),
    })
}

async fn enrol_student(
    state: &State,
    caller: &Caller,
    request: pb::EnrolStudentRequest,
) -> Result<pb::EnrolStudentResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let student = uuid_field(&request.student_id, "student_id")?;
    let start = optional_date(request.start_date.as_ref(), "start_date")?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let (year, _) = year_and_school(&mut transaction, class.school_year_id, "class_id").await?;
    let start = start.unwrap_or(year.year.start_date);
    if start < year.year.start_date || start > year.year.end_date {
        return Err(GradebookError::invalid(
            "start_date",
            format!("{start} is outside the school year {}", year.year.name),
        ));
    }
    ensure_student_of(&mut transaction, student, &school, "student_id").await?;
    storage::classes::lock_student(&mut transaction, student).await?;
    if let Some(current) = storage::classes::of_student_from(&mut transaction, student, start)
        .await?
        .first()
    {
        let class_name = storage::classes::get(&mut transaction, current.class_id)
            .await?
            .map(|class| class.name)
            .unwrap_or_default();
        return Err(GradebookError::FailedPrecondition(format!(
            "student_id: already in {class_name} from {}; use MoveStudent to change class",
            current.start_date
        )));
    }
    let id = Uuid::now_v7();
    storage::classes::insert_enrolment(&mut transaction, id, class_id, student, start).await?;
    publish(
        &mut transaction,
        &school,
        ("enrolment", id),
        "enrolled",
        &events::StudentEnrolled {
            enrolment_id: id.to_string(),
            class_id: class_id.to_string(),
            student_id: student.to_string(),
            start_date: Some(civil_date(start)),
        },
    )
    .await?;
    let answer = pb::EnrolStudentResponse {
        enrolment: Some(enrolment(&fetch_enrolment(&mut transaction, id).await?)),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(enrolment_id = %id, %class_id, "student enrolled");
    Ok(answer)
}

async fn withdraw_student(
    state: &State,
    caller: &Caller,
    request: pb::WithdrawStudentRequest,
) -> Result<pb::WithdrawStudentResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let student = uuid_field(&request.student_id, "student_id")?;
    let end = date_field(request.end_date.as_ref(), "end_date")?;
    let reason = text_field(&request.reason, "reason", 200)?;
    let mut transaction = state.begin().await?;
    let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
    let (year, _) = year_and_school(&mut transaction, class.school_year_id, "class_id").await?;
    if end < year.year.start_date || end > year.year.end_date {
        return Err(GradebookError::invalid(
            "end_date",
            format!("{end} is outside the school year {}", year.year.name),
        ));
    }
    storage::classes::lock_student(&mut transaction, student).await?;
    let current = storage::classes::in_class_on(&mut transaction, class_id, student, end)
        .await?
        .ok_or_else(|| {
            GradebookError::NotFound(format!(
                "student_id: {student} is not in {} on {end}",
                class.name
            ))
        })?;
    let reason = format!("выбыл: {reason}");
    storage::classes::end_enrolment(&mut transaction, current.id, end, &reason).await?;
    publish(
        &mut transaction,
        &school,
        ("enrolment", current.id),
        "withdrawn",
        &events::StudentWithdrawn {
            enrolment_id: current.id.to_string(),
            class_id: class_id.to_string(),
            student_id: student.to_string(),
            end_date: Some(civil_date(end)),
            reason: reason.clone(),
        },
    )
    .await?;
    let ended = fetch_enrolment(&mut transaction, current.id).await?;
    state.commit(transaction).await?;
    Ok(pb::WithdrawStudentResponse {
        enrolment: Some(enrolment(&ended)),
    })
}

async fn move_student(
    state: &State,
    caller: &Caller,
    request: pb::MoveStudentRequest,
) -> Result<pb::MoveStudentResponse, GradebookError> {
    let student = uuid_field(&request.student_id, "student_id")?;
    let to_class_id = uuid_field(&request.to_class_id, "to_class_id")?;
    let date = date_field(request.date.as_ref(), "date")?;
    let idempotent = Idempotent::of(caller, &request, &request.idempotency_key)?;
    let mut transaction = state.begin().await?;
    let (to_class, to_school) = access::class(&mut transaction, to_class_id, "to_class_id").await?;
    access::authorize(&mut transaction, caller, access::MANAGE, &to_school).await?;
    if let Some(answer) = idempotent.replay(&mut transaction).await? {
        return Ok(answer);
    }
    let (year, _) =
        year_and_school(&mut transaction, to_class.school_year_id, "to_class_id").await?;
    if date <= year.year.start_date || date > year.year.end_date {
        return Err(GradebookError::invalid(
            "date",
            format!(
                "a move happens after {} and by {} (the school year {}); enrol from the first day instead",
                year.year.start_date, year.year.end_date, year.year.name
            ),
        ));
    }
    ensure_student_of(&mut transaction, student, &to_school, "student_id").await?;
    storage::classes::lock_student(&mut transaction, student).await?;
    let day_before = date
        .previous_day()
        .ok_or_else(|| GradebookError::invalid("date", "has no day before it in the calendar"))?;
    let enrolments =
        storage::classes::of_student_from(&mut transaction, student, day_before).await?;
    let Some(current) = enrolments
        .iter()
        .find(|e| e.start_date <= day_before)
        .cloned()
    else {
        return Err(GradebookError::FailedPrecondition(format!(
            "student_id: {student} is in no class on {day_before}; use EnrolStudent"
        )));
    };
    if current.class_id == to_class_id {
        return Err(GradebookError::invalid(
            "to_class_id",
            format!("the student is already in {}", to_class.name),
        ));
    }
    if let Some(later) = enrolments.iter().find(|e| e.id != current.id) {
        return Err(GradebookError::FailedPrecondition(format!(
            "student_id: another enrolment starts {}; withdraw it first",
            later.start_date
        )));
    }
    let (from_class, from_school) =
        access::class(&mut transaction, current.class_id, "student_id").await?;
    if from_school.id != to_school.id
        && !access::may_manage(&mut transaction, caller, &from_school).await?
    {
        return Err(GradebookError::denied(format!(
            "the student is in {} at {}: its administration withdraws them, then enrol them here",
            from_class.name, from_school.name
        )));
    }
    storage::classes::end_enrolment(
        &mut transaction,
        current.id,
        day_before,
        &format!("переведён в {} ({})", to_class.name, to_school.name),
    )
    .await?;
    let id = Uuid::now_v7();
    storage::classes::insert_enrolment(&mut transaction, id, to_class_id, student, date).await?;
    let moved = events::StudentMoved {
        student_id: student.to_string(),
        from_enrolment_id: current.id.to_string(),
        from_class_id: from_class.id.to_string(),
        from_school_id: from_school.id.to_string(),
        to_enrolment_id: id.to_string(),
        to_class_id: to_class_id.to_string(),
        to_school_id: to_school.id.to_string(),
        date: Some(civil_date(date)),
    };
    publish(
        &mut transaction,
        &to_school,
        ("student", student),
        "moved",
        &moved,
    )
    .await?;
    if from_school.id != to_school.id {
        // The school the student left hears of it on its own subject.
        publish(
            &mut transaction,
            &from_school,
            ("student", student),
            "moved",
            &moved,
        )
        .await?;
    }
    let answer = pb::MoveStudentResponse {
        ended: Some(enrolment(
            &fetch_enrolment(&mut transaction, current.id).await?,
        )),
        started: Some(enrolment(&fetch_enrolment(&mut transaction, id).await?)),
    };
    idempotent.remember(&mut transaction, &answer).await?;
    state.commit(transaction).await?;
    tracing::info!(from_class = %from_class.id, to_class = %to_class_id, "student moved");
    Ok(answer)
}

async fn list_enrolments(
    state: &State,
    caller: &Caller,
    request: pb::ListEnrolmentsRequest,
) -> Result<pb::ListEnrolmentsResponse, GradebookError> {
    let class_id = uuid_field(&request.class_id, "class_id")?;
    let on = optional_date(request.on_date.as_ref(), "on_date")?;
    let mut connection = state.pool.acquire().await?;
    let (class, school) = access::class(&mut connection, class_id, "class_id").await?;
    if !access::works_with_class(&mut connection, caller, &class, &school).await? {
        return Err(GradebookError::denied(format!(
            "only the school's administration and the teachers of {} see its students",
            class.name
        )));
    }
    let rows = storage::classes::of_class(&mut connection, class_id, on).await?;
    Ok(pb::ListEnrolmentsResponse {
        enrolments: rows.iter().map(enrolment).collect(),
    })
}

#[tonic::async_trait]
impl pb::class_service_server::ClassService for ClassApi {
    async fn create_class(
        &self,
        request: Request<pb::CreateClassRequest>,
    ) -> Result<Response<pb::CreateClassResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_class)
    }

    async fn list_classes(
        &self,
        request: Request<pb::ListClassesRequest>,
    ) -> Result<Response<pb::ListClassesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_classes)
    }

    async fn set_class_teacher(
        &self,
        request: Request<pb::SetClassTeacherRequest>,
    ) -> Result<Response<pb::SetClassTeacherResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_class_teacher)
    }

    async fn create_subgroup(
        &self,
        request: Request<pb::CreateSubgroupRequest>,
    ) -> Result<Response<pb::CreateSubgroupResponse>, Status> {
        asurso_runtime::handle!(self.0, request, create_subgroup)
    }

    async fn set_subgroup_members(
        &self,
        request: Request<pb::SetSubgroupMembersRequest>,
    ) -> Result<Response<pb::SetSubgroupMembersResponse>, Status> {
        asurso_runtime::handle!(self.0, request, set_subgroup_members)
    }

    async fn enrol_student(
        &self,
        request: Request<pb::EnrolStudentRequest>,
    ) -> Result<Response<pb::EnrolStudentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, enrol_student)
    }

    async fn withdraw_student(
        &self,
        request: Request<pb::WithdrawStudentRequest>,
    ) -> Result<Response<pb::WithdrawStudentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, withdraw_student)
    }

    async fn move_student(
        &self,
        request: Request<pb::MoveStudentRequest>,
    ) -> Result<Response<pb::MoveStudentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, move_student)
    }

    async fn list_enrolments(
        &self,
        request: Request<pb::ListEnrolmentsRequest>,
    ) -> Result<Response<pb::ListEnrolmentsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, list_enrolments)
    }
}
