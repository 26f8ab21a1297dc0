//! From other services' events to the people they concern. Each consumer
//! gives a notification in the transaction that records the event as
//! handled (the runtime's inbox), so each event is given once per person,
//! whatever redelivers it.
//!
//! Whom an event reaches is decided here, from the projections: a mark,
//! an absence or a term mark reaches the student and each of their
//! guardians, never anyone else; homework and changes to a lesson reach the
//! class (or subgroup) and their guardians; a letter its recipient; an
//! announcement to a school or a class its audience there.

use asurso_directory::roster;
use asurso_proto::events as ev;
use asurso_runtime::events::{
    ConsumerSpec, EventHandler, HandleError, ReceivedEvent,
    consumer::{event_date, event_uuid, optional_event_uuid},
    streams,
};
use prost::Name;
use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

use crate::domain::{Draft, Kind, LOOK_INSIDE, absence_text, mark_text, period_text};
use crate::feed;

const EVENTS: &str = ev::MarkPosted::PACKAGE;

/// The gradebook's stream: the roster (classes, enrolments, load) applied
/// in the same consumer, so a class's homework never arrives before the
/// enrolments it goes to.
pub fn gradebook_spec() -> ConsumerSpec {
    ConsumerSpec::new("notifications-gradebook", streams::GRADEBOOK).batch(BATCH)
}

pub fn attendance_spec() -> ConsumerSpec {
    ConsumerSpec::new("notifications-attendance", streams::ATTENDANCE).batch(BATCH)
}

pub fn messaging_spec() -> ConsumerSpec {
    ConsumerSpec::new("notifications-messaging", streams::MESSAGING).batch(BATCH)
}

/// Events already waiting that one transaction applies: a teacher's row
/// of marks (and a busy evening's) costs one commit, not one per mark.
const BATCH: usize = 100;

pub struct Gradebook;
pub struct Attendance;
pub struct Messaging;

fn school_of(event: &ReceivedEvent) -> Option<Uuid> {
    event
        .envelope
        .scope
        .as_ref()
        .and_then(|scope| Uuid::parse_str(&scope.school_id).ok())
}

fn short_date(date: Date) -> String {
    format!("{:02}.{:02}", date.day(), u8::from(date.month()))
}

fn mark_value(value: Option<&ev::MarkValueFact>) -> String {
    value.map_or_else(String::new, |value| mark_text(&value.kind, value.grade))
}

/// What a notification about one student says and whom it reaches: the
/// student's name, the subject's, and the student with their guardians,
/// in one round trip.
struct About {
    who: String,
    subject: String,
    family: Vec<Uuid>,
}

async fn about(
    transaction: &mut PgConnection,
    student: Uuid,
    subject: &str,
) -> Result<About, HandleError> {
    let subject = optional_event_uuid(subject, "subject_id")?;
    let (who, name, mut family): (Option<String>, Option<String>, Vec<Uuid>) = sqlx::query_as(
        "SELECT (SELECT concat_ws(' ', last_name, first_name, NULLIF(middle_name, '')) \
                 FROM known_people WHERE id = $1), \
                (SELECT name FROM subjects WHERE id = $2), \
                ARRAY(SELECT parent_id FROM guardians WHERE student_id = $1)",
    )
    .bind(student)
    .bind(subject)
    .fetch_one(&mut *transaction)
    .await?;
    family.push(student);
    Ok(About {
        who: who.unwrap_or_default(),
        subject: name.unwrap_or_default(),
        family,
    })
}

/// The students of a class now (or of one of its subgroups) and their
/// guardians.
async fn class_families(
    transaction: &mut PgConnection,
    class: Uuid,
    subgroup: Option<Uuid>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH students AS ( \
             SELECT e.student_id FROM current_enrolments e WHERE e.class_id = $1 \
               AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                    WHERE m.subgroup_id = $2 AND m.student_id = e.student_id))) \
         SELECT student_id FROM students \
         UNION SELECT g.parent_id FROM guardians g JOIN students s ON s.student_id = g.student_id",
    )
    .bind(class)
    .bind(subgroup)
    .fetch_all(&mut *transaction)
    .await
}

async fn subject_name(
    transaction: &mut PgConnection,
    subject: &str,
) -> Result<String, HandleError> {
    let Some(id) = optional_event_uuid(subject, "subject_id")? else {
        return Ok(String::new());
    };
    Ok(
        sqlx::query_scalar::<_, String>("SELECT name FROM subjects WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await?
            .unwrap_or_default(),
    )
}

async fn name(transaction: &mut PgConnection, person: Uuid) -> Result<String, sqlx::Error> {
    asurso_directory::storage::full_name(transaction, person).await
}

/// Whether a lesson's day is still worth telling about (today or later,
/// with a day's margin for time zones).
async fn upcoming(transaction: &mut PgConnection, date: Date) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT $1::date >= current_date - 1")
        .bind(date)
        .fetch_one(transaction)
        .await
}

impl EventHandler for Gradebook {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        if roster::apply(transaction, event).await? {
            return Ok(());
        }
        let school = school_of(event);
        match event.name_in(EVENTS) {
            Some(ev::SubjectCreated::NAME) => {
                let subject: ev::SubjectCreated = event.payload()?;
                sqlx::query(
                    "INSERT INTO subjects (id, name) VALUES ($1, $2) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                )
                .bind(event_uuid(&subject.subject_id, "subject_id")?)
                .bind(&subject.name)
                .execute(&mut *transaction)
                .await?;
            }
            Some(ev::LessonScheduled::NAME) => {
                let lesson: ev::LessonScheduled = event.payload()?;
                sqlx::query(
                    "INSERT INTO lessons (id, class_id, subgroup_id, subject_id, date, period) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE \
                     SET date = excluded.date, period = excluded.period",
                )
                .bind(event_uuid(&lesson.lesson_id, "lesson_id")?)
                .bind(event_uuid(&lesson.class_id, "class_id")?)
                .bind(optional_event_uuid(&lesson.subgroup_id, "subgroup_id")?)
                .bind(event_uuid(&lesson.subject_id, "subject_id")?)
                .bind(event_date(lesson.date.as_ref(), "date")?)
                .bind(lesson.period)
                .execute(&mut *transaction)
                .await?;
            }
            Some(ev::LessonChanged::NAME) => {
                lesson_changed(transaction, event, school, event.payload()?).await?;
            }
            Some(ev::LessonCancelled::NAME) => {
                let cancelled: ev::LessonCancelled = event.payload()?;
                lesson_cancelled(transaction, event, school, &cancelled).await?;
            }
            Some(ev::MarkPosted::NAME) => {
                let mark: ev::MarkPosted = event.payload()?;
                let student = event_uuid(&mark.student_id, "student_id")?;
                let date = event_date(mark.lesson_date.as_ref(), "lesson_date")?;
                let About {
                    who,
                    subject,
                    family,
                } = about(transaction, student, &mark.subject_id).await?;
                let draft = Draft {
                    kind: Kind::Mark,
                    title: "Новая оценка".to_owned(),
                    body: format!(
                        "{who}: {} по предмету «{subject}», урок {}",
                        mark_value(mark.value.as_ref()),
                        short_date(date)
                    ),
                    plain_title: "Новая оценка".to_owned(),
                    plain_body: format!("В дневнике новая оценка. {LOOK_INSIDE}"),
                    link: format!("/diary?student={student}&date={date}"),
                    student: Some(student),
                    school,
                };
                feed::give(transaction, event.event_id, &family, &draft).await?;
            }
            Some(ev::MarkChanged::NAME) => {
                let mark: ev::MarkChanged = event.payload()?;
                let student = event_uuid(&mark.student_id, "student_id")?;
                let About {
                    who,
                    subject,
                    family,
                } = about(transaction, student, &mark.subject_id).await?;
                let draft = Draft {
                    kind: Kind::Mark,
                    title: "Оценка исправлена".to_owned(),
                    body: format!(
                        "{who}: {} → {} по предмету «{subject}»",
                        mark_value(mark.old_value.as_ref()),
                        mark_value(mark.new_value.as_ref())
                    ),
                    plain_title: "Оценка исправлена".to_owned(),
                    plain_body: format!("В дневнике исправлена оценка. {LOOK_INSIDE}"),
                    link: format!("/diary?student={student}"),
                    student: Some(student),
                    school,
                };
                feed::give(transaction, event.event_id, &family, &draft).await?;
            }
            Some(ev::MarkRemoved::NAME) => {
                let mark: ev::MarkRemoved = event.payload()?;
                let student = event_uuid(&mark.student_id, "student_id")?;
                let About {
                    who,
                    subject,
                    family,
                } = about(transaction, student, &mark.subject_id).await?;
                let draft = Draft {
                    kind: Kind::Mark,
                    title: "Оценка удалена".to_owned(),
                    body: format!(
                        "{who}: оценка {} по предмету «{subject}» удалена",
                        mark_value(mark.old_value.as_ref())
                    ),
                    plain_title: "Оценка удалена".to_owned(),
                    plain_body: format!("В дневнике удалена оценка. {LOOK_INSIDE}"),
                    link: format!("/diary?student={student}"),
                    student: Some(student),
                    school,
                };
                feed::give(transaction, event.event_id, &family, &draft).await?;
            }
            Some(ev::TermMarkSet::NAME) => {
                let mark: ev::TermMarkSet = event.payload()?;
                let student = event_uuid(&mark.student_id, "student_id")?;
                let About {
                    who,
                    subject,
                    family,
                } = about(transaction, student, &mark.subject_id).await?;
                let period = period_text(&mark.period, mark.number);
                let body = match &mark.value {
                    Some(value) => format!(
                        "{who}: {} ({period}) по предмету «{subject}»",
                        mark_text(&value.kind, value.grade)
                    ),
                    None => format!("{who}: оценка ({period}) по предмету «{subject}» снята"),
                };
                let draft = Draft {
                    kind: Kind::TermMark,
                    title: "Итоговая оценка".to_owned(),
                    body,
                    plain_title: "Итоговая оценка".to_owned(),
                    plain_body: format!("В дневнике итоговая оценка. {LOOK_INSIDE}"),
                    link: format!("/reports/marks?student={student}"),
                    student: Some(student),
                    school,
                };
                feed::give(transaction, event.event_id, &family, &draft).await?;
            }
            Some(ev::AssignmentPublished::NAME) => {
                let assignment: ev::AssignmentPublished = event.payload()?;
                let class = event_uuid(&assignment.class_id, "class_id")?;
                let subgroup = optional_event_uuid(&assignment.subgroup_id, "subgroup_id")?;
                let subject = subject_name(transaction, &assignment.subject_id).await?;
                let due = event_date(assignment.due_date.as_ref(), "due_date")?;
                let lesson_date: Option<Date> =
                    sqlx::query_scalar("SELECT date FROM lessons WHERE id = $1")
                        .bind(event_uuid(&assignment.lesson_id, "lesson_id")?)
                        .fetch_optional(&mut *transaction)
                        .await?;
                // Work done in the lesson it belongs to (classwork, an
                // answer) is not news; homework, work due later and work
                // announced for a lesson ahead are.
                let homework = assignment.r#type == "homework";
                let later = lesson_date.is_some_and(|date| due > date);
                let ahead = match lesson_date {
                    Some(date) => {
                        sqlx::query_scalar::<_, bool>("SELECT $1::date > current_date")
                            .bind(date)
                            .fetch_one(&mut *transaction)
                            .await?
                    }
                    None => false,
                };
                if !(homework || later || ahead) || !upcoming(transaction, due).await? {
                    return Ok(());
                }
                let title = if homework {
                    "Домашнее задание"
                } else {
                    "Новое задание"
                };
                let draft = Draft {
                    kind: Kind::Homework,
                    title: title.to_owned(),
                    body: format!("{subject}: {}, срок {}", assignment.title, short_date(due)),
                    plain_title: title.to_owned(),
                    plain_body: format!("В дневнике новое задание. {LOOK_INSIDE}"),
                    link: format!("/diary?class={class}&date={due}"),
                    student: None,
                    school,
                };
                let people = class_families(transaction, class, subgroup).await?;
                feed::give(transaction, event.event_id, &people, &draft).await?;
            }
            // Everything else (years, bells, load) is not news to a family.
            _ => {}
        }
        Ok(())
    }
}

/// A lesson moved to another day or period (a new teacher alone is not
/// news to a family): its class or subgroup hears, if it is still ahead.
async fn lesson_changed(
    transaction: &mut PgConnection,
    event: &ReceivedEvent,
    school: Option<Uuid>,
    lesson: ev::LessonChanged,
) -> Result<(), HandleError> {
    let id = event_uuid(&lesson.lesson_id, "lesson_id")?;
    let date = event_date(lesson.date.as_ref(), "date")?;
    let before: Option<(Uuid, Option<Uuid>, Uuid, Date, i32)> = sqlx::query_as(
        "SELECT l.class_id, l.subgroup_id, l.subject_id, l.date, l.period FROM lessons l WHERE l.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *transaction)
    .await?;
    sqlx::query("UPDATE lessons SET date = $2, period = $3 WHERE id = $1")
        .bind(id)
        .bind(date)
        .bind(lesson.period)
        .execute(&mut *transaction)
        .await?;
    let Some((class, subgroup, subject, old_date, old_period)) = before else {
        return Ok(());
    };
    if (old_date, old_period) == (date, lesson.period) || !upcoming(transaction, date).await? {
        return Ok(());
    }
    let subject = subject_name(transaction, &subject.to_string()).await?;
    let draft = Draft {
        kind: Kind::Lesson,
        title: "Урок перенесён".to_owned(),
        body: format!(
            "{subject}: {} {}-й урок → {} {}-й урок",
            short_date(old_date),
            old_period,
            short_date(date),
            lesson.period
        ),
        plain_title: "Изменение в расписании".to_owned(),
        plain_body: format!("Урок перенесён. {LOOK_INSIDE}"),
        link: format!("/timetable?class={class}&date={date}"),
        student: None,
        school,
    };
    let people = class_families(transaction, class, subgroup).await?;
    feed::give(transaction, event.event_id, &people, &draft).await?;
    Ok(())
}

async fn lesson_cancelled(
    transaction: &mut PgConnection,
    event: &ReceivedEvent,
    school: Option<Uuid>,
    cancelled: &ev::LessonCancelled,
) -> Result<(), HandleError> {
    let id = event_uuid(&cancelled.lesson_id, "lesson_id")?;
    let lesson: Option<(Uuid, Option<Uuid>, Uuid, Date, i32)> = sqlx::query_as(
        "SELECT class_id, subgroup_id, subject_id, date, period FROM lessons WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *transaction)
    .await?;
    let Some((class, subgroup, subject, date, period)) = lesson else {
        return Ok(());
    };
    if !upcoming(transaction, date).await? {
        return Ok(());
    }
    let subject = subject_name(transaction, &subject.to_string()).await?;
    let reason = if cancelled.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", cancelled.reason)
    };
    let draft = Draft {
        kind: Kind::Lesson,
        title: "Урок отменён".to_owned(),
        body: format!("{subject}, {}, {period}-й урок{reason}", short_date(date)),
        plain_title: "Изменение в расписании".to_owned(),
        plain_body: format!("Урок отменён. {LOOK_INSIDE}"),
        link: format!("/timetable?class={class}&date={date}"),
        student: None,
        school,
    };
    let people = class_families(transaction, class, subgroup).await?;
    feed::give(transaction, event.event_id, &people, &draft).await?;
    Ok(())
}

impl EventHandler for Attendance {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let school = school_of(event);
        match event.name_in(EVENTS) {
            Some(ev::AbsenceRecorded::NAME) => {
                let absence: ev::AbsenceRecorded = event.payload()?;
                let student = event_uuid(&absence.student_id, "student_id")?;
                let date = event_date(absence.date.as_ref(), "date")?;
                let About {
                    who,
                    subject,
                    family,
                } = about(transaction, student, &absence.subject_id).await?;
                let late = absence.minutes_late > 0;
                let title = if late {
                    "Опоздание"
                } else {
                    "Пропуск урока"
                };
                let draft = Draft {
                    kind: Kind::Absence,
                    title: title.to_owned(),
                    body: format!(
                        "{who}: {} — {subject}, {}, {}-й урок",
                        absence_text(&absence.code, absence.minutes_late),
                        short_date(date),
                        absence.period
                    ),
                    plain_title: "Посещаемость".to_owned(),
                    plain_body: format!("Новая отметка о посещаемости. {LOOK_INSIDE}"),
                    link: format!("/attendance?student={student}&date={date}"),
                    student: Some(student),
                    school,
                };
                feed::give(transaction, event.event_id, &family, &draft).await?;
            }
            Some(ev::AbsenceCorrected::NAME) => {
                let corrected: ev::AbsenceCorrected = event.payload()?;
                let student = event_uuid(&corrected.student_id, "student_id")?;
                let date = event_date(corrected.date.as_ref(), "date")?;
                let About {
                    who,
                    subject,
                    family,
                } = about(transaction, student, &corrected.subject_id).await?;
                let draft = Draft {
                    kind: Kind::Absence,
                    title: "Посещаемость исправлена".to_owned(),
                    body: format!(
                        "{who}: {} → {} — {subject}, {}, {}-й урок",
                        absence_text(&corrected.old_code, corrected.old_minutes_late),
                        absence_text(&corrected.new_code, corrected.new_minutes_late),
                        short_date(date),
                        corrected.period
                    ),
                    plain_title: "Посещаемость".to_owned(),
                    plain_body: format!("Отметка о посещаемости исправлена. {LOOK_INSIDE}"),
                    link: format!("/attendance?student={student}&date={date}"),
                    student: Some(student),
                    school,
                };
                feed::give(transaction, event.event_id, &family, &draft).await?;
            }
            Some(ev::NoteDecided::NAME) => {
                let note: ev::NoteDecided = event.payload()?;
                let student = event_uuid(&note.student_id, "student_id")?;
                let submitter = event_uuid(&note.submitted_by, "submitted_by")?;
                let who = name(transaction, student).await?;
                let (title, verdict) = if note.accepted {
                    ("Объяснительная принята", "принята")
                } else {
                    ("Объяснительная отклонена", "отклонена")
                };
                let comment = if note.comment.is_empty() {
                    String::new()
                } else {
                    format!(": {}", note.comment)
                };
                let draft = Draft {
                    kind: Kind::AbsenceNote,
                    title: title.to_owned(),
                    body: format!("{who}: объяснительная {verdict}{comment}"),
                    plain_title: title.to_owned(),
                    plain_body: LOOK_INSIDE.to_owned(),
                    link: format!("/attendance/notes/{}", note.note_id),
                    student: Some(student),
                    school,
                };
                // The guardians (the one who wrote it among them), not the
                // student: a note is between the family's adults and school.
                let mut people: Vec<Uuid> =
                    sqlx::query_scalar("SELECT parent_id FROM guardians WHERE student_id = $1")
                        .bind(student)
                        .fetch_all(&mut *transaction)
                        .await?;
                people.push(submitter);
                feed::give(transaction, event.event_id, &people, &draft).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl EventHandler for Messaging {
    async fn handle(
        &self,
        transaction: &mut PgConnection,
        event: &ReceivedEvent,
    ) -> Result<(), HandleError> {
        let school = school_of(event);
        match event.name_in(EVENTS) {
            Some(ev::MessageDelivered::NAME) => {
                let letter: ev::MessageDelivered = event.payload()?;
                let recipient = event_uuid(&letter.recipient_id, "recipient_id")?;
                let sender = event_uuid(&letter.sender_id, "sender_id")?;
                let from = name(transaction, sender).await?;
                let draft = Draft {
                    kind: Kind::Mail,
                    title: "Новое письмо".to_owned(),
                    body: format!("{from}: {}", letter.subject),
                    plain_title: "Новое письмо".to_owned(),
                    plain_body: format!("Вам пришло письмо. {LOOK_INSIDE}"),
                    link: format!("/mail/{}", letter.message_id),
                    student: None,
                    school,
                };
                feed::give(transaction, event.event_id, &[recipient], &draft).await?;
            }
            Some(ev::AnnouncementPublished::NAME) => {
                let announcement: ev::AnnouncementPublished = event.payload()?;
                announcement_published(transaction, event, school, &announcement).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// An announcement to a school or a class reaches its audience there
/// (everyone, or the roles named), its author aside. A municipality's or
/// the region's stays on the board: telling a whole region person by
/// person is not what a board is for.
async fn announcement_published(
    transaction: &mut PgConnection,
    event: &ReceivedEvent,
    school: Option<Uuid>,
    announcement: &ev::AnnouncementPublished,
) -> Result<(), HandleError> {
    let author = optional_event_uuid(&announcement.author_id, "author_id")?;
    let class = optional_event_uuid(&announcement.class_id, "class_id")?;
    let unit = event_uuid(&announcement.org_unit_id, "org_unit_id")?;
    let roles = &announcement.roles;
    let wants = |role: &str| roles.is_empty() || roles.iter().any(|named| named == role);
    let mut people: Vec<Uuid> = Vec::new();
    let school = match class {
        Some(class) => {
            let students: Vec<Uuid> =
                sqlx::query_scalar("SELECT student_id FROM current_enrolments WHERE class_id = $1")
                    .bind(class)
                    .fetch_all(&mut *transaction)
                    .await?;
            if wants("parent") {
                people.extend(
                    sqlx::query_scalar::<_, Uuid>(
                        "SELECT parent_id FROM guardians WHERE student_id = ANY($1)",
                    )
                    .bind(&students)
                    .fetch_all(&mut *transaction)
                    .await?,
                );
            }
            if wants("student") {
                people.extend(students);
            }
            if wants("teacher") || wants("class_teacher") {
                people.extend(
                    sqlx::query_scalar::<_, Uuid>(
                        "SELECT class_teacher_id FROM classes WHERE id = $1 AND class_teacher_id IS NOT NULL \
                         UNION SELECT teacher_id FROM loads WHERE class_id = $1",
                    )
                    .bind(class)
                    .fetch_all(&mut *transaction)
                    .await?,
                );
            }
            school.or(Some(unit))
        }
        None => {
            let kind = asurso_directory::storage::org_unit(transaction, unit)
                .await?
                .map(|(kind, _)| kind);
            if kind.as_deref() != Some("school") {
                return Ok(());
            }
            let students: Vec<Uuid> = sqlx::query_scalar(
                "SELECT DISTINCT e.student_id FROM current_enrolments e \
                 JOIN classes c ON c.id = e.class_id WHERE c.school_id = $1",
            )
            .bind(unit)
            .fetch_all(&mut *transaction)
            .await?;
            if wants("parent") {
                people.extend(
                    sqlx::query_scalar::<_, Uuid>(
                        "SELECT parent_id FROM guardians WHERE student_id = ANY($1)",
                    )
                    .bind(&students)
                    .fetch_all(&mut *transaction)
                    .await?,
                );
            }
            if wants("student") {
                people.extend(students);
            }
            let staff: Vec<String> = ["school_admin", "teacher", "class_teacher"]
                .into_iter()
                .filter(|role| wants(role))
                .map(str::to_owned)
                .collect();
            people.extend(
                sqlx::query_scalar::<_, Uuid>(
                    "SELECT person_id FROM known_grants \
                     WHERE org_unit_id = $1 AND role = ANY($2) AND NOT revoked",
                )
                .bind(unit)
                .bind(&staff)
                .fetch_all(&mut *transaction)
                .await?,
            );
            Some(unit)
        }
    };
    if let Some(author) = author {
        people.retain(|person| *person != author);
    }
    let draft = Draft {
        kind: Kind::Announcement,
        title: "Объявление".to_owned(),
        body: announcement.title.clone(),
        plain_title: "Новое объявление".to_owned(),
        plain_body: format!("На доске объявлений новое объявление. {LOOK_INSIDE}"),
        link: format!("/board/{}", announcement.announcement_id),
        student: None,
        school,
    };
    feed::give(transaction, event.event_id, &people, &draft).await?;
    Ok(())
}
