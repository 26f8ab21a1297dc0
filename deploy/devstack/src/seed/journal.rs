//! The demo's journal: homework, marks and attendance over three school
//! weeks around today, and the calendar arithmetic that picks those weeks.

use anyhow::anyhow;
use asurso_proto::{attendance as at, gradebook as gb};
use time::{Date, Weekday};
use tonic::{Code, Status};

use super::{
    DEMO_PASSWORD, School,
    clients::{Actor, Channels, civil, date, patiently},
};

/// Homework on every lesson of the three weeks around today (or around the
/// nearest school day of the year), marks on those already taught. Only
/// the whole-class lessons the demo timetable lays out: a lesson people
/// gave to a subgroup is theirs. Where a service refuses what the seed
/// would write (people changed the lesson since), the refusal goes into
/// `conflicts` and the lesson is left as it is.
pub(super) async fn seed_journal(
    channels: &Channels,
    school: &School,
    first_year: i32,
    today: Date,
    conflicts: &mut Vec<String>,
) -> anyhow::Result<()> {
    let (from, to) = journal_weeks(today)?;
    let mut teachers = Vec::new();
    for teacher in &school.teachers {
        teachers.push((
            teacher.person_id.clone(),
            Teacher::login(channels, &teacher.login).await?,
        ));
    }
    for class in &school.classes {
        let request = gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::ClassId(class.id.clone())),
            from_date: civil(from),
            to_date: civil(to),
        };
        let Some((_, reader)) = teachers.first_mut() else {
            break;
        };
        let lessons = reader
            .fresh(channels)
            .await?
            .timetable
            .get_timetable(request)
            .await?
            .into_inner()
            .lessons;
        // Numbered among the demo's own lessons only, so what the seed
        // writes for a lesson (sent again under the same idempotency key)
        // does not change when people add a subgroup's lesson.
        let whole_class = lessons
            .iter()
            .filter(|lesson| lesson.subgroup_id.is_empty());
        for (index, lesson) in whole_class.enumerate() {
            let Some((_, teacher)) = teachers.iter_mut().find(|(id, _)| *id == lesson.teacher_id)
            else {
                continue;
            };
            let teacher = teacher.fresh(channels).await?;
            let Some(day) = lesson.date.as_ref() else {
                continue;
            };
            let lesson_date = date(day.year, u8::try_from(day.month)?, u8::try_from(day.day)?)?;
            let due = next_school_day(lesson_date);
            let describe = |status: Status| {
                format!(
                    "{} {} {}, period {}: {}",
                    class.name,
                    lesson.subject_name,
                    lesson_date,
                    lesson.period,
                    status.message()
                )
            };
            let created = teacher
                .journal
                .create_assignment(gb::CreateAssignmentRequest {
                    lesson_id: lesson.id.clone(),
                    r#type: "homework".to_owned(),
                    weight: 0,
                    due_date: civil(due.min(date(first_year + 1, 5, 31)?)),
                    title: format!("{}: упражнения", lesson.subject_name),
                    text: format!(
                        "§ {}, упражнения {}–{}",
                        3 + index % 20,
                        index % 9 + 1,
                        index % 9 + 4
                    ),
                    idempotency_key: format!("demo-homework-{}", lesson.id),
                })
                .await;
            let assignment = match refusal_is_conflict(created) {
                Ok(answer) => answer
                    .into_inner()
                    .assignment
                    .ok_or_else(|| anyhow!("no assignment in the answer"))?,
                Err(Conflict::Refused(status)) => {
                    conflicts.push(describe(status));
                    continue;
                }
                Err(Conflict::Failed(status)) => {
                    return Err(anyhow!("homework for the lesson {}: {status}", lesson.id));
                }
            };
            if lesson_date > today {
                continue;
            }
            // Two students answer at each lesson, in turn.
            let marks = (0..2)
                .filter_map(|k| class.students.get((index + k) % class.students.len()))
                .enumerate()
                .map(|(k, (student_id, _))| gb::MarkEntry {
                    student_id: student_id.clone(),
                    value: Some(gb::MarkValue {
                        kind: gb::MarkKind::Grade.into(),
                        grade: 3 + i32::try_from((index * 7 + k * 3) % 3).unwrap_or(0),
                    }),
                    comment: String::new(),
                })
                .collect();
            let posted = teacher
                .journal
                .set_marks(gb::SetMarksRequest {
                    assignment_id: assignment.id,
                    marks,
                    idempotency_key: format!("demo-marks-{}", lesson.id),
                })
                .await;
            match refusal_is_conflict(posted) {
                Ok(_) => {}
                Err(Conflict::Refused(status)) => conflicts.push(describe(status)),
                Err(Conflict::Failed(status)) => {
                    return Err(anyhow!("marks for the lesson {}: {status}", lesson.id));
                }
            }
            if lesson_date < today
                && let Err(status) = take_attendance(teacher, &lesson.id, class, index).await?
            {
                conflicts.push(describe(status));
            }
        }
    }
    Ok(())
}

/// A teacher the seed writes as, logged in again once the token is a few
/// seconds old: access tokens may live only seconds (the end-to-end tests
/// make them short), and a school's journal takes longer than that on a
/// busy machine.
struct Teacher {
    login: String,
    actor: Actor,
    since: std::time::Instant,
}

/// How old a token the seed still writes with.
const FRESH: std::time::Duration = std::time::Duration::from_secs(2);

impl Teacher {
    async fn login(channels: &Channels, login: &str) -> anyhow::Result<Self> {
        let token = channels.login(login, DEMO_PASSWORD).await?;
        Ok(Self {
            login: login.to_owned(),
            actor: channels.actor(&token)?,
            since: std::time::Instant::now(),
        })
    }

    async fn fresh(&mut self, channels: &Channels) -> anyhow::Result<&mut Actor> {
        if self.since.elapsed() > FRESH {
            *self = Self::login(channels, &self.login).await?;
        }
        Ok(&mut self.actor)
    }
}

/// The lesson's attendance, unless someone took it already (then it is
/// theirs): one student absent or late in turn, the others present.
/// Attendance learns of the lesson from the gradebook's events a moment
/// after it is laid out; the seed waits for that. A refusal is returned to
/// be reported.
async fn take_attendance(
    teacher: &mut Actor,
    lesson: &str,
    class: &super::Class,
    index: usize,
) -> anyhow::Result<Result<(), Status>> {
    let read = at::GetLessonAttendanceRequest {
        lesson_id: lesson.to_owned(),
    };
    let known = patiently("a lesson reaching attendance", &[], || {
        let mut attendance = teacher.attendance.clone();
        let read = read.clone();
        async move { attendance.get_lesson_attendance(read).await }
    })
    .await?
    .into_inner();
    if known.attendance.is_some_and(|attendance| attendance.taken) {
        return Ok(Ok(()));
    }
    let Some((student, _)) = class.students.get(index % class.students.len().max(1)) else {
        return Ok(Ok(()));
    };
    let (code, minutes_late) = [("НП", 0), ("Б", 0), ("ОП", 7), ("УП", 0)][index % 4];
    let taken = teacher
        .attendance
        .take_lesson(at::TakeLessonRequest {
            lesson_id: lesson.to_owned(),
            absences: vec![at::Absence {
                student_id: student.clone(),
                code: code.to_owned(),
                minutes_late,
            }],
            reason: String::new(),
            idempotency_key: format!("demo-attendance-{lesson}"),
        })
        .await;
    match refusal_is_conflict(taken) {
        Ok(_) => Ok(Ok(())),
        Err(Conflict::Refused(status)) => Ok(Err(status)),
        Err(Conflict::Failed(status)) => {
            Err(anyhow!("attendance of the lesson {lesson}: {status}"))
        }
    }
}

/// Why a seeding write did not happen.
enum Conflict {
    /// The service refused it for what the data now is: people changed it
    /// since the last seeding, and it stays as they left it.
    Refused(Status),
    /// Anything else (the service down, a bug): seeding stops.
    Failed(Status),
}

fn refusal_is_conflict<T>(outcome: Result<T, Status>) -> Result<T, Conflict> {
    outcome.map_err(|status| match status.code() {
        // Not PERMISSION_DENIED: the demo's teachers may always write in
        // their lessons, and a refusal there is a defect to see.
        Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists | Code::NotFound => {
            Conflict::Refused(status)
        }
        _ => Conflict::Failed(status),
    })
}

/// The school year the demo runs: the one under way, or from July the
/// coming one. Its first calendar year.
pub fn school_year_of(today: Date) -> i32 {
    if u8::from(today.month()) >= 7 {
        today.year()
    } else {
        today.year() - 1
    }
}

/// The three school weeks the seed fills with homework and marks: this
/// week and the two before, or the nearest ones inside the school year.
pub fn journal_weeks(today: Date) -> anyhow::Result<(Date, Date)> {
    let first_year = school_year_of(today);
    let (opens, closes) = (date(first_year, 9, 15)?, date(first_year + 1, 5, 22)?);
    let anchor = today.clamp(opens, closes);
    let monday =
        anchor - time::Duration::days(i64::from(anchor.weekday().number_days_from_monday()));
    Ok((
        monday - time::Duration::weeks(2),
        monday + time::Duration::days(4),
    ))
}

fn next_school_day(day: Date) -> Date {
    let next = day + time::Duration::days(1);
    match next.weekday() {
        Weekday::Saturday => next + time::Duration::days(2),
        Weekday::Sunday => next + time::Duration::days(1),
        _ => next,
    }
}
