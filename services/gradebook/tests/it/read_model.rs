//! The diary's read model: what it keeps is always the week the source
//! tables give, whatever wrote them, and a write is in the diary the moment
//! it is acknowledged.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use asurso_gradebook::{
    api::diary::{compute_week, rebuild_read_model},
    domain::calendar::diary_week_of,
    storage::diary::{all_weeks, kept},
};
use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity as pb,
};
use prost::Message;
use time::{Date, Duration, macros::date};
use tonic::Code;
use uuid::Uuid;

use crate::{
    journal::{Class5, assign, entry, grade, set_marks},
    support::*,
};

/// xorshift64*: a sequence the seed in a failure's message repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

const FROM: Date = date!(2026 - 11 - 09);
const WEEKS: i64 = 6;

fn civil(date: Date) -> Option<asurso_proto::common::CivilDate> {
    day(
        date.year(),
        i32::from(u8::from(date.month())),
        i32::from(date.day()),
    )
}

fn monday(random: &mut Random) -> Date {
    FROM + Duration::weeks(i64::try_from(random.below(6)).unwrap_or(0))
}

/// The week as `reader` reads it through the API.
async fn read_week(
    reader: &mut Gb,
    student: Uuid,
    monday: Date,
) -> Result<gb::GetDiaryWeekResponse, tonic::Status> {
    Ok(reader
        .diary
        .get_diary_week(gb::GetDiaryWeekRequest {
            student_id: student.to_string(),
            date: civil(monday + Duration::days(2)),
        })
        .await?
        .into_inner())
}

/// The grade `student`'s diary shows for an assignment that week.
fn shown_grade(week: &gb::GetDiaryWeekResponse, assignment: &str) -> Option<i32> {
    week.days
        .iter()
        .flat_map(|day| day.lessons.iter().flat_map(|lesson| &lesson.assignments))
        .chain(week.days.iter().flat_map(|day| &day.due))
        .find(|shown| shown.id == assignment)
        .and_then(|shown| shown.mark.as_ref())
        .map(|mark| mark.grade)
}

/// The weeks of the window kept at their student's epoch that are not the
/// week computed from the source tables now.
async fn fresh_weeks_are_computed(
    pool: &sqlx::PgPool,
    students: &[Uuid],
) -> anyhow::Result<Vec<(Uuid, Date)>> {
    let mut connection = pool.acquire().await?;
    let mut differ = Vec::new();
    for student in students {
        for n in 0..WEEKS {
            let monday = FROM + Duration::weeks(n);
            let week = diary_week_of(monday).ok_or_else(|| anyhow::anyhow!("a week"))?;
            if let Some(body) = kept(&mut connection, *student, monday).await?.body {
                let computed = compute_week(&mut connection, *student, week, None).await?;
                if gb::GetDiaryWeekResponse::decode(body.as_slice())? != computed {
                    differ.push((*student, monday));
                }
            }
        }
    }
    Ok(differ)
}

#[tokio::test]
async fn the_kept_diary_is_the_computed_one_after_a_random_sequence_of_writes() -> anyhow::Result<()>
{
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_nanos()
        .to_le_bytes()[..8]
        .iter()
        .fold(0x9E37_79B9_7F4A_7C15_u64, |acc, byte| {
            acc.rotate_left(8) ^ u64::from(*byte)
        })
        | 1;
    let mut random = Random(seed);
    let mut c = Class5::new("readmodel").await?;
    let pool = c.stack.gradebook.db.pool.clone();

    // A second class to move a student into, with maths on Tuesdays.
    let year = gb::SchoolYear {
        id: c.class.school_year_id.clone(),
        ..Default::default()
    };
    let other = class(&mut c.admin, &year, "5Б", 5).await?;
    load(&mut c.admin, &other, &c.maths, c.maths_teacher.id).await?;
    c.admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: other.id.clone(),
            slots: vec![slot(2, 2, &c.maths)],
            apply_from: None,
        })
        .await?;

    let kept_at_start = rebuild_read_model(&pool).await?;
    assert!(
        kept_at_start >= 3 * 30,
        "three students, a school year each: {kept_at_start} weeks kept"
    );

    let last = FROM + Duration::weeks(WEEKS) - Duration::days(1);
    let lessons = timetable_of(
        &mut c.admin,
        Of::ClassId(c.class.id.clone()),
        (
            FROM.year(),
            i32::from(u8::from(FROM.month())),
            i32::from(FROM.day()),
        ),
        (
            last.year(),
            i32::from(u8::from(last.month())),
            i32::from(last.day()),
        ),
    )
    .await?;
    let maths_lessons: Vec<gb::Lesson> = lessons
        .iter()
        .filter(|lesson| lesson.subject_id == c.maths.id)
        .cloned()
        .collect();
    anyhow::ensure!(
        maths_lessons.len() >= 10,
        "maths lessons: {}",
        maths_lessons.len()
    );
    let students: Vec<Uuid> = c.students.iter().map(|student| student.id).collect();
    let mut assignments: Vec<gb::Assignment> = Vec::new();
    let mut moved = false;

    for step in 0..40 {
        let what = random.below(9);
        match what {
            // Homework due on a later day, or work in class.
            0 | 1 => {
                let Some(lesson) = random.pick(&maths_lessons).cloned() else {
                    continue;
                };
                let lesson_day = lesson
                    .date
                    .as_ref()
                    .and_then(|d| asurso_runtime::convert::date(d, "date").ok())
                    .ok_or_else(|| anyhow::anyhow!("a lesson without a date"))?;
                let (kind, due) = if what == 0 {
                    ("homework", civil(lesson_day + Duration::days(2)))
                } else {
                    ("classwork", None)
                };
                if let Ok(made) = assign(
                    &mut c.maths_teacher.gb,
                    &lesson,
                    kind,
                    due,
                    &format!("step {step}"),
                )
                .await
                {
                    assignments.push(made);
                }
            }
            // A mark given or changed: in the diary the moment it is acknowledged.
            2 | 3 => {
                let Some(work) = random.pick(&assignments).cloned() else {
                    continue;
                };
                let student = students[random.below(students.len())];
                let value = i32::try_from(2 + random.below(4))?;
                if set_marks(
                    &mut c.maths_teacher.gb,
                    &work,
                    vec![entry(student.to_string(), grade(value))],
                    "",
                )
                .await
                .is_ok()
                {
                    let lesson_day = work
                        .lesson_date
                        .as_ref()
                        .and_then(|d| asurso_runtime::convert::date(d, "date").ok())
                        .ok_or_else(|| anyhow::anyhow!("an assignment without a lesson date"))?;
                    let reader = c
                        .students
                        .iter_mut()
                        .find(|person| person.id == student)
                        .ok_or_else(|| anyhow::anyhow!("a student of the class"))?;
                    let week = read_week(&mut reader.gb, student, lesson_day).await;
                    // A student moved out before that day no longer sees it.
                    if !moved || student != students[2] {
                        assert_eq!(
                            shown_grade(&week?, &work.id),
                            Some(value),
                            "seed {seed:#x}, step {step}: the new mark at once"
                        );
                    }
                }
            }
            // A mark removed.
            4 => {
                let Some(work) = random.pick(&assignments).cloned() else {
                    continue;
                };
                let student = students[random.below(students.len())];
                let _ = set_marks(
                    &mut c.maths_teacher.gb,
                    &work,
                    vec![entry(student.to_string(), None)],
                    "",
                )
                .await;
            }
            // A lesson cancelled or moved to another room.
            5 => {
                let Some(lesson) = random.pick(&maths_lessons).cloned() else {
                    continue;
                };
                let cancel = random.below(2) == 0;
                let _ = c
                    .admin
                    .timetable
                    .change_lesson(gb::ChangeLessonRequest {
                        lesson_id: lesson.id.clone(),
                        room: (!cancel).then(|| format!("{}", 100 + step)),
                        cancel,
                        cancel_reason: if cancel {
                            "карантин".into()
                        } else {
                            String::new()
                        },
                        ..Default::default()
                    })
                    .await;
            }
            // The work changed, or a file added to it.
            6 => {
                let Some(work) = random.pick(&assignments).cloned() else {
                    continue;
                };
                if random.below(2) == 0 {
                    let _ = c
                        .maths_teacher
                        .gb
                        .journal
                        .change_assignment(gb::ChangeAssignmentRequest {
                            assignment_id: work.id.clone(),
                            title: Some(format!("changed at step {step}")),
                            ..Default::default()
                        })
                        .await;
                } else {
                    let _ = c
                        .maths_teacher
                        .gb
                        .journal
                        .add_attachment(gb::AddAttachmentRequest {
                            assignment_id: work.id.clone(),
                            file_name: format!("step{step}.txt"),
                            content_type: "text/plain".into(),
                            content: format!("step {step}").into_bytes(),
                        })
                        .await;
                }
            }
            // Written behind the API's back: a subject or a teacher renamed.
            7 => {
                if random.below(2) == 0 {
                    sqlx::query("UPDATE subjects SET name = $2 WHERE id = $1")
                        .bind(Uuid::parse_str(&c.maths.id)?)
                        .bind(format!("Математика {step}"))
                        .execute(&pool)
                        .await?;
                } else {
                    sqlx::query("UPDATE known_people SET last_name = $2 WHERE id = $1")
                        .bind(c.maths_teacher.id)
                        .bind(format!("Иванова-{step}"))
                        .execute(&pool)
                        .await?;
                }
            }
            // A student moved to the other class, once.
            _ => {
                if moved {
                    continue;
                }
                moved = true;
                c.admin
                    .classes
                    .move_student(gb::MoveStudentRequest {
                        student_id: students[2].to_string(),
                        to_class_id: other.id.clone(),
                        date: civil(monday(&mut random) + Duration::days(1)),
                        idempotency_key: String::new(),
                    })
                    .await?;
            }
        }
        // Whatever the write changed is no longer served as it was.
        let checked = fresh_weeks_are_computed(&pool, &students).await?;
        assert!(
            checked.is_empty(),
            "seed {seed:#x}, step {step} (write {what}): kept weeks differ from the computed ones: {checked:?}"
        );
        // Every week of the window is read (and kept at the epoch of now)
        // before the next write.
        for person in &mut c.students {
            for n in 0..WEEKS {
                read_week(&mut person.gb, person.id, FROM + Duration::weeks(n)).await?;
            }
        }
        read_week(&mut c.parent.gb, students[0], monday(&mut random)).await?;
    }

    // Every week still kept at its student's epoch is the computed week.
    let mut connection = pool.acquire().await?;
    let (mut fresh, mut stale) = (0, 0);
    for (student, monday) in all_weeks(&mut connection).await? {
        let week = diary_week_of(monday).ok_or_else(|| anyhow::anyhow!("a week"))?;
        let now = kept(&mut connection, student, monday).await?;
        let computed = compute_week(&mut connection, student, week, None).await?;
        match now.body {
            Some(body) => {
                fresh += 1;
                assert_eq!(
                    gb::GetDiaryWeekResponse::decode(body.as_slice())?,
                    computed,
                    "seed {seed:#x}: the kept week of {student} from {monday}"
                );
            }
            None => stale += 1,
        }
    }
    assert!(fresh > 0, "seed {seed:#x}: some weeks are still kept");
    assert!(stale > 0, "seed {seed:#x}: the writes moved some epochs");

    // And what each student reads is the computed week, kept or not.
    for person in &mut c.students {
        for n in 0..WEEKS {
            let monday = FROM + Duration::weeks(n);
            let week = diary_week_of(monday).ok_or_else(|| anyhow::anyhow!("a week"))?;
            let read = read_week(&mut person.gb, person.id, monday).await?;
            let computed = compute_week(&mut connection, person.id, week, None).await?;
            assert_eq!(
                read, computed,
                "seed {seed:#x}: {} reads {monday}",
                person.id
            );
        }
    }
    Ok(())
}

/// Polls `read` every 10 ms until it is refused with `code`; how long that
/// took.
async fn refused_after<F, Fut>(code: Code, mut read: F) -> anyhow::Result<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<gb::GetDiaryWeekResponse, tonic::Status>>,
{
    let started = Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        match read().await {
            Err(status) if status.code() == code => return Ok(started.elapsed()),
            Err(status) => anyhow::bail!("refused otherwise: {status:?}"),
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    anyhow::bail!("still reading after 10 s")
}

#[tokio::test]
async fn an_unlinked_guardian_and_a_revoked_role_stop_reading_within_a_second() -> anyhow::Result<()>
{
    let mut c = Class5::new("freshness").await?;
    let monday = FROM;
    let child = c.students[0].id;
    read_week(&mut c.parent.gb, child, monday).await?;

    c.stack
        .world
        .admin_a
        .people
        .unlink_guardian(pb::UnlinkGuardianRequest {
            parent_id: c.parent.id.to_string(),
            student_id: child.to_string(),
        })
        .await?;
    let parent = c.parent.gb.clone();
    let took = refused_after(Code::PermissionDenied, || {
        let mut parent = parent.clone();
        async move { read_week(&mut parent, child, monday).await }
    })
    .await?;
    println!("the unlinked parent was refused after {took:?}");
    assert!(
        took < std::time::Duration::from_secs(1),
        "the unlinked parent read for {took:?}"
    );

    let student = c.students[1].id;
    read_week(&mut c.students[1].gb, student, monday).await?;
    let grants = c
        .stack
        .world
        .admin
        .access
        .list_grants(pb::ListGrantsRequest {
            person_id: student.to_string(),
        })
        .await?
        .into_inner()
        .grants;
    let grant = grants
        .first()
        .ok_or_else(|| anyhow::anyhow!("the student's grant"))?;
    c.stack
        .world
        .admin
        .access
        .revoke_role(pb::RevokeRoleRequest {
            grant_id: grant.id.clone(),
        })
        .await?;
    let own = c.students[1].gb.clone();
    let took = refused_after(Code::Unauthenticated, || {
        let mut own = own.clone();
        async move { read_week(&mut own, student, monday).await }
    })
    .await?;
    println!("the revoked student was refused after {took:?}");
    assert!(
        took < std::time::Duration::from_secs(1),
        "the revoked student read for {took:?}"
    );
    Ok(())
}
