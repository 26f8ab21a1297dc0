//! The timetable as read: the lessons of a class, a teacher or a student
//! between two days, each reader seeing what is theirs to see.

use asurso_proto::gradebook as pb;
use asurso_runtime::auth::Caller;
use asurso_runtime::edge::Edge;
use uuid::Uuid;

use super::lessons::lesson;
use crate::{
    access::{self, StudentReader},
    api::{State, date_field, uuid_field},
    domain::GradebookError,
    events::report_read,
    storage::{self, lessons::LessonView},
};

/// The longest stretch one GetTimetable call covers (six weeks: a month
/// view with the days around it).
const MAX_TIMETABLE_DAYS: i64 = 42;

/// Who may read which lessons of a timetable.
enum Reader {
    All,
    /// Only what happened in this school.
    School(Uuid),
}

impl Reader {
    fn keep(&self, view: &LessonView) -> bool {
        match self {
            Self::All => true,
            Self::School(school) => view.school_id == *school,
        }
    }
}

pub(super) async fn get_timetable(
    state: &State,
    caller: &Caller,
    request: pb::GetTimetableRequest,
) -> Result<pb::GetTimetableResponse, GradebookError> {
    let from = date_field(request.from_date.as_ref(), "from_date")?;
    let to = date_field(request.to_date.as_ref(), "to_date")?;
    if to < from {
        return Err(GradebookError::invalid("to_date", "is before from_date"));
    }
    if (to - from).whole_days() >= MAX_TIMETABLE_DAYS {
        return Err(GradebookError::invalid(
            "to_date",
            format!("a timetable covers at most {MAX_TIMETABLE_DAYS} days"),
        ));
    }
    let mut transaction = state.begin().await?;
    let (reader, lessons) = match request.of {
        Some(pb::get_timetable_request::Of::ClassId(class_id)) => {
            let class_id = uuid_field(&class_id, "class_id")?;
            let (class, school) = access::class(&mut transaction, class_id, "class_id").await?;
            access::read_class(&mut transaction, caller, &class, &school).await?;
            (
                Reader::All,
                storage::lessons::of_class(&mut transaction, class_id, from, to).await?,
            )
        }
        Some(pb::get_timetable_request::Of::TeacherId(teacher_id)) => {
            let teacher_id = uuid_field(&teacher_id, "teacher_id")?;
            let reader = if teacher_id == caller.person_id {
                Reader::All
            } else {
                // A school's administration sees its own teachers' lessons there.
                let school = access::school(&mut transaction, caller.org_unit_id, "teacher_id")
                    .await
                    .map_err(|_| GradebookError::denied("you may read only your own timetable"))?;
                access::authorize(&mut transaction, caller, access::MANAGE, &school).await?;
                Reader::School(school.id)
            };
            (
                reader,
                storage::lessons::of_teacher(&mut transaction, teacher_id, from, to).await?,
            )
        }
        Some(pb::get_timetable_request::Of::StudentId(student_id)) => {
            let student = uuid_field(&student_id, "student_id")?;
            let reader =
                match access::read_student(&state.memory, &mut transaction, caller, student).await?
                {
                    StudentReader::Family => Reader::All,
                    StudentReader::Staff(school_id) => {
                        let school =
                            access::school(&mut transaction, school_id, "student_id").await?;
                        report_read(&mut transaction, caller, &school, student, "timetable")
                            .await?;
                        Reader::School(school_id)
                    }
                };
            (
                reader,
                storage::lessons::of_student(&mut transaction, student, from, to).await?,
            )
        }
        None => {
            return Err(GradebookError::invalid(
                "of",
                "class_id, teacher_id or student_id is required",
            ));
        }
    };
    state.commit(transaction).await?;
    Ok(pb::GetTimetableResponse {
        lessons: lessons
            .iter()
            .filter(|view| reader.keep(view))
            .map(lesson)
            .collect(),
    })
}
