//! The student's side: whose diary (`student/diary/init`), the school year
//! and context, the assignment types, the diary of a range of days, overdue
//! work, an assignment's details and files, the bell schedule.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use asurso_proto::{
    gradebook::{self as gb, MarkKind},
    identity::{self as pb, Role},
};
use axum::{
    body::to_bytes,
    extract::{Path, Request, State},
    response::IntoResponse,
};
use http::{HeaderValue, header};
use serde_json::{Value, json};
use time::{Date, Duration};

use super::{
    Answer, Session, WebApi, WebApiError, file_json, format,
    ids::{Kind, Numbers, parse_number},
    json_with_token,
};

/// The most days one diary request may span (six weeks).
const MAX_DAYS: i64 = 42;
/// The most assignments one `get-attachments` may name.
const MAX_ASSIGNMENTS: usize = 100;

pub fn full_name(person: &pb::Person) -> String {
    [
        person.last_name.as_str(),
        person.first_name.as_str(),
        person.middle_name.as_str(),
    ]
    .iter()
    .filter(|part| !part.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" ")
}

/// The students whose diary the caller reads: a parent's children, or a
/// student themself.
async fn students_of(api: &WebApi, session: &Session) -> Result<Vec<pb::Person>, WebApiError> {
    let me = session.caller.person_id.to_string();
    if session.caller.role == Role::Parent {
        Ok(api
            .people()?
            .list_children(session.call(pb::ListChildrenRequest { parent_id: me }))
            .await?
            .into_inner()
            .children)
    } else {
        Ok(api
            .people()?
            .get_person(session.call(pb::GetPersonRequest { person_id: me }))
            .await?
            .into_inner()
            .person
            .into_iter()
            .collect())
    }
}

/// The student a request names by number.
struct Student {
    id: String,
    number: i64,
}

impl Student {
    /// The refusal for a student who is not the caller's, the same whether
    /// the number exists or not.
    fn not_yours(&self) -> WebApiError {
        WebApiError::Forbidden(format!("studentId: {} — не ваш ученик", self.number))
    }

    /// A service's answer about this student, in the apps' terms.
    fn refused(&self, status: tonic::Status) -> WebApiError {
        if status.code() == tonic::Code::PermissionDenied {
            self.not_yours()
        } else {
            status.into()
        }
    }
}

/// The student a request names by number; a number that is no person is
/// refused as one that is not the caller's.
async fn student(api: &WebApi, query: &HashMap<String, String>) -> Result<Student, WebApiError> {
    let number = parse_number(query.get("studentId").map(String::as_str), "studentId")?;
    match api.ids.resolve(number, &[Kind::Person], "studentId").await {
        Ok(entry) => Ok(Student {
            id: entry.key,
            number,
        }),
        Err(WebApiError::NotFound(_)) => Err(Student {
            id: String::new(),
            number,
        }
        .not_yours()),
        Err(other) => Err(other),
    }
}

/// The class a student is in now, by their timetable of the next two
/// weeks (a whole-class lesson names it); empty when it says nothing.
async fn class_name(api: &WebApi, session: &Session, student: &str) -> String {
    let today = format::today();
    let Ok(mut timetable) = api.timetable() else {
        return String::new();
    };
    let lessons = timetable
        .get_timetable(session.call(gb::GetTimetableRequest {
            of: Some(gb::get_timetable_request::Of::StudentId(student.to_owned())),
            from_date: Some(format::civil(today)),
            to_date: Some(format::civil(today + Duration::days(13))),
        }))
        .await
        .map(|answer| answer.into_inner().lessons)
        .unwrap_or_default();
    lessons
        .iter()
        .find(|lesson| lesson.subgroup_id.is_empty())
        .or(lessons.first())
        .map(|lesson| lesson.class_name.clone())
        .unwrap_or_default()
}

pub async fn init(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let students = students_of(&api, &session).await?;
    if students.is_empty() {
        return Err(WebApiError::Forbidden(
            "Нет учеников, чей дневник вы можете читать".to_owned(),
        ));
    }
    let numbers = api
        .ids
        .numbers(
            Kind::Person,
            &students.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        )
        .await?;
    let mut listed = Vec::new();
    for person in &students {
        listed.push(json!({
            "studentId": numbers.get(&person.id).copied().unwrap_or_default(),
            "nickName": full_name(person),
            "className": class_name(&api, &session, &person.id).await,
            "classId": 0,
            "iupGrade": 0,
        }));
    }
    let today = format::today();
    let monday = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
    Ok(json_with_token(
        &session,
        &json!({
            "students": listed,
            "currentStudentId": 0,
            "weekStart": format::date(monday),
            "yaClass": false,
            "yaClassAuthUrl": null,
            "newDiskToken": "",
            "newDiskWasRequest": false,
            "ttsuRl": null,
            "externalUrl": null,
            "weight": true,
            "maxMark": 5,
            "withLaAssigns": true,
        }),
    ))
}

/// The school years of the caller's school, in order.
async fn school_years(api: &WebApi, session: &Session) -> Result<Vec<gb::SchoolYear>, WebApiError> {
    let mut years = api
        .calendar()?
        .list_school_years(session.call(gb::ListSchoolYearsRequest {
            school_id: session.caller.org_unit_id.to_string(),
        }))
        .await?
        .into_inner()
        .school_years;
    years.sort_by_key(|year| format::from_civil(year.start_date.as_ref()));
    Ok(years)
}

/// The year that holds today, else the last that began before it, else the
/// first.
fn current(years: &[gb::SchoolYear]) -> Option<&gb::SchoolYear> {
    let today = format::today();
    let starts = |year: &gb::SchoolYear| format::from_civil(year.start_date.as_ref());
    let ends = |year: &gb::SchoolYear| format::from_civil(year.end_date.as_ref());
    years
        .iter()
        .find(|year| starts(year) <= Some(today) && ends(year) >= Some(today))
        .or_else(|| years.iter().rev().find(|year| starts(year) <= Some(today)))
        .or(years.first())
}

async fn year_json(api: &WebApi, year: &gb::SchoolYear) -> Result<Value, WebApiError> {
    let id = api.ids.number(Kind::Year, &year.id).await?;
    let school = api.ids.number(Kind::School, &year.school_id).await?;
    Ok(json!({
        "id": id,
        "name": year.name,
        "startDate": format::civil_text(year.start_date.as_ref()),
        "endDate": format::civil_text(year.end_date.as_ref()),
        "schoolId": school,
        "globalYearId": id,
    }))
}

pub async fn current_year(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let years = school_years(&api, &session).await?;
    let year = current(&years)
        .ok_or_else(|| WebApiError::NotFound("В школе ещё нет учебного года".to_owned()))?;
    Ok(json_with_token(&session, &year_json(&api, year).await?))
}

pub async fn years(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let mut listed = Vec::new();
    for year in &school_years(&api, &session).await? {
        listed.push(year_json(&api, year).await?);
    }
    Ok(json_with_token(&session, &listed))
}

pub async fn context(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let school_id = session.caller.org_unit_id.to_string();
    let card = api
        .org()?
        .get_school_card(session.call(pb::GetSchoolCardRequest {
            school_id: school_id.clone(),
        }))
        .await
        .ok()
        .and_then(|answer| answer.into_inner().card)
        .unwrap_or_default();
    let school = api.ids.number(Kind::School, &school_id).await?;
    let user = api
        .ids
        .number(Kind::Person, &session.caller.person_id.to_string())
        .await?;
    Ok(json_with_token(
        &session,
        &json!({
            "schoolId": school,
            "organizationName": card.full_name,
            "dateFormat": "dd.MM.yyyy",
            "timeFormat": "HH:mm",
            "userId": user,
            "productName": "АСУ РСО",
            "isExternal": false,
        }),
    ))
}

pub async fn types(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let types = api
        .journal()?
        .list_assignment_types(session.call(gb::ListAssignmentTypesRequest {}))
        .await?
        .into_inner()
        .types;
    let codes: Vec<&str> = types.iter().map(|t| t.code.as_str()).collect();
    let numbers = api.ids.numbers(Kind::Type, &codes).await?;
    let listed: Vec<Value> = types
        .iter()
        .enumerate()
        .map(|(order, kind)| {
            json!({
                "id": numbers.get(&kind.code).copied().unwrap_or_default(),
                "name": kind.name,
                "abbr": kind.abbreviation,
                "order": order,
                "isActive": true,
            })
        })
        .collect();
    Ok(json_with_token(&session, &listed))
}

/// Numbers for what the diary shows: its assignments (typeId one of
/// `grade/assignment/types`), lessons and the student, made in one go.
struct Numbered {
    numbers: Numbers,
    student: i64,
}

impl Numbered {
    async fn of(
        api: &WebApi,
        student: &str,
        assignments: &[&gb::DiaryAssignment],
        lessons: &[&str],
    ) -> Result<Self, WebApiError> {
        let mut things: Vec<(Kind, &str)> = vec![(Kind::Person, student)];
        for given in assignments {
            things.push((Kind::Assignment, given.id.as_str()));
            if let Some(kind) = &given.r#type {
                things.push((Kind::Type, kind.code.as_str()));
            }
        }
        things.extend(lessons.iter().map(|lesson| (Kind::Lesson, *lesson)));
        let numbers = api.ids.number_all(&things).await?;
        let student = numbers
            .get(&(Kind::Person, student.to_owned()))
            .copied()
            .unwrap_or_default();
        Ok(Self { numbers, student })
    }

    fn of_kind(&self, kind: Kind, key: &str) -> i64 {
        self.numbers
            .get(&(kind, key.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// An assignment as the apps read it. A grade is a number; pass/fail
    /// and a debt are no number (the apps reject text marks): a debt is
    /// `dutyMark`, and a pass/fail is said in the mark's comment.
    fn assignment(&self, given: &gb::DiaryAssignment) -> Value {
        let id = self.of_kind(Kind::Assignment, &given.id);
        let kind = given
            .mark
            .as_ref()
            .map(|mark| MarkKind::try_from(mark.kind).unwrap_or(MarkKind::Unspecified));
        let mark = match (kind, given.mark.as_ref()) {
            (Some(MarkKind::Grade), Some(mark)) => json!({
                "assignmentId": id, "studentId": self.student,
                "mark": mark.grade, "resultScore": null, "dutyMark": false,
            }),
            (Some(MarkKind::Debt), _) => json!({
                "assignmentId": id, "studentId": self.student,
                "mark": null, "resultScore": null, "dutyMark": true,
            }),
            (Some(_), _) => json!({
                "assignmentId": id, "studentId": self.student,
                "mark": null, "resultScore": null, "dutyMark": false,
            }),
            (None, _) => Value::Null,
        };
        let spoken = match kind {
            Some(MarkKind::Pass) => Some("зачёт"),
            Some(MarkKind::Fail) => Some("незачёт"),
            Some(MarkKind::NotAssessed) => Some("н/а"),
            Some(MarkKind::Exempt) => Some("освобождён"),
            _ => None,
        };
        let comment = match (spoken, given.mark_comment.trim()) {
            (None, "") => None,
            (None, comment) => Some(comment.to_owned()),
            (Some(spoken), "") => Some(spoken.to_owned()),
            (Some(spoken), comment) => Some(format!("{spoken}: {comment}")),
        };
        let code = given.r#type.as_ref().map(|t| t.code.as_str()).unwrap_or("");
        json!({
            "id": id,
            "typeId": self.of_kind(Kind::Type, code),
            "assignmentName": if given.title.trim().is_empty() { &given.text } else { &given.title },
            "dueDate": format::civil_text(given.due_date.as_ref()),
            "weight": given.weight,
            "mark": mark,
            "markComment": comment.map(|name| json!({ "id": id, "name": name })),
        })
    }
}

/// The range a diary request asks for: `weekStart`, `weekEnd` (a week
/// when absent), at most six weeks.
fn range(query: &HashMap<String, String>) -> Result<(Date, Date), WebApiError> {
    let start = format::parse_date(query.get("weekStart").map(String::as_str), "weekStart")?;
    let end = match query.get("weekEnd").map(String::as_str) {
        None | Some("") => start + Duration::days(6),
        given => format::parse_date(given, "weekEnd")?,
    };
    if end < start {
        return Err(WebApiError::BadRequest(
            "weekEnd: раньше, чем weekStart".to_owned(),
        ));
    }
    if (end - start).whole_days() >= MAX_DAYS {
        return Err(WebApiError::BadRequest(format!(
            "weekEnd: не больше {MAX_DAYS} дней от weekStart"
        )));
    }
    if let Some(year) = query.get("yearId").filter(|year| !year.is_empty()) {
        parse_number(Some(year), "yearId")?;
    }
    Ok((start, end))
}

pub async fn diary(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let query = format::query(&request);
    let (start, end) = range(&query)?;
    let student = student(&api, &query).await?;
    let mut days = Vec::new();
    let mut monday = start - Duration::days(i64::from(start.weekday().number_days_from_monday()));
    while monday <= end {
        let week = api
            .diary()?
            .get_diary_week(session.call(gb::GetDiaryWeekRequest {
                student_id: student.id.clone(),
                date: Some(format::civil(monday)),
            }))
            .await
            .map_err(|status| student.refused(status))?
            .into_inner();
        days.extend(week.days.into_iter().filter(|day| {
            format::from_civil(day.date.as_ref()).is_some_and(|date| date >= start && date <= end)
        }));
        monday += Duration::days(7);
    }
    let shown: Vec<&gb::DiaryAssignment> = days
        .iter()
        .flat_map(|day| {
            day.lessons
                .iter()
                .flat_map(|lesson| lesson.assignments.iter())
                .chain(day.due.iter())
        })
        .collect();
    let lessons: Vec<&str> = days
        .iter()
        .flat_map(|day| day.lessons.iter().map(|l| l.lesson_id.as_str()))
        .collect();
    let numbered = Numbered::of(&api, &student.id, &shown, &lessons).await?;
    // Each piece of work once: on the day it is due when that day is shown
    // with lessons (its `due`), else with the lesson it was set in.
    let shown_when_due: HashSet<&str> = days
        .iter()
        .filter(|day| !day.lessons.is_empty())
        .flat_map(|day| day.due.iter().map(|due| due.id.as_str()))
        .collect();
    let week_days: Vec<Value> = days
        .iter()
        .filter(|day| !day.lessons.is_empty())
        .map(|day| {
            let date = format::civil_text(day.date.as_ref());
            // Work due today that was set earlier goes with today's lesson
            // of its subject (else the day's first), as the apps show it.
            let mut due_at: HashMap<usize, Vec<Value>> = HashMap::new();
            for due in &day.due {
                let at = day
                    .lessons
                    .iter()
                    .position(|lesson| lesson.subject_name == due.subject_name)
                    .unwrap_or(0);
                due_at.entry(at).or_default().push(numbered.assignment(due));
            }
            let lessons: Vec<Value> = day
                .lessons
                .iter()
                .enumerate()
                .map(|(index, lesson)| {
                    let mut assignments: Vec<Value> = lesson
                        .assignments
                        .iter()
                        .filter(|given| !shown_when_due.contains(given.id.as_str()))
                        .map(|given| numbered.assignment(given))
                        .collect();
                    assignments.extend(due_at.remove(&index).unwrap_or_default());
                    let cancelled = lesson.status == gb::LessonStatus::Cancelled as i32;
                    json!({
                        "classmeetingId": numbered.of_kind(Kind::Lesson, &lesson.lesson_id),
                        "day": date,
                        "number": lesson.period,
                        "relay": 1,
                        "room": lesson.room,
                        "startTime": format::time_of_day(lesson.start_time.as_ref()),
                        "endTime": format::time_of_day(lesson.end_time.as_ref()),
                        "subjectName": if cancelled {
                            format!("{} (урок отменён)", lesson.subject_name)
                        } else {
                            lesson.subject_name.clone()
                        },
                        "isDistanceLesson": false,
                        "isEaLesson": false,
                        "assignments": assignments,
                    })
                })
                .collect();
            json!({ "date": date, "lessons": lessons })
        })
        .collect();
    Ok(json_with_token(
        &session,
        &json!({
            "weekStart": format::date(start),
            "weekEnd": format::date(end),
            "weekDays": week_days,
            "termName": "",
            "className": "",
            "laAssigns": [],
        }),
    ))
}

pub async fn past_mandatory(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let query = format::query(&request);
    let (start, end) = range(&query)?;
    let student = student(&api, &query).await?;
    let owed: Vec<gb::DiaryAssignment> = api
        .diary()?
        .list_overdue(session.call(gb::ListOverdueRequest {
            student_id: student.id.clone(),
        }))
        .await
        .map_err(|status| student.refused(status))?
        .into_inner()
        .assignments
        .into_iter()
        .filter(|given| {
            format::from_civil(given.due_date.as_ref())
                .is_some_and(|due| due >= start && due <= end)
        })
        .collect();
    let numbered = Numbered::of(&api, &student.id, &owed.iter().collect::<Vec<_>>(), &[]).await?;
    let listed: Vec<Value> = owed
        .iter()
        .map(|given| {
            let mut entry = numbered.assignment(given);
            if let Some(fields) = entry.as_object_mut() {
                fields.insert("subjectName".into(), given.subject_name.clone().into());
            }
            entry
        })
        .collect();
    Ok(json_with_token(&session, &listed))
}

/// Assignments of the student's by our ids, with their details.
async fn details(
    api: &WebApi,
    session: &Session,
    student: &Student,
    ids: Vec<String>,
) -> Result<Vec<gb::DiaryAssignmentDetail>, WebApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(api
        .diary()?
        .get_diary_assignments(session.call(gb::GetDiaryAssignmentsRequest {
            student_id: student.id.clone(),
            assignment_ids: ids,
        }))
        .await
        .map_err(|status| student.refused(status))?
        .into_inner()
        .assignments)
}

/// The files of an assignment, numbered.
async fn files(api: &WebApi, assignment: &gb::DiaryAssignment) -> Result<Vec<Value>, WebApiError> {
    let keys: Vec<&str> = assignment
        .attachments
        .iter()
        .map(|file| file.id.as_str())
        .collect();
    let numbers = api.ids.numbers(Kind::Attachment, &keys).await?;
    Ok(assignment
        .attachments
        .iter()
        .map(|file| {
            file_json(
                numbers.get(&file.id).copied().unwrap_or_default(),
                &file.file_name,
            )
        })
        .collect())
}

pub async fn assignment(
    State(api): State<Arc<WebApi>>,
    Path(id): Path<String>,
    request: Request,
) -> Answer {
    let session = api.session(&request).await?;
    let query = format::query(&request);
    let number = parse_number(Some(&id), "id")?;
    let student = student(&api, &query).await?;
    let assignment = api.ids.resolve(number, &[Kind::Assignment], "id").await?;
    let detail = details(&api, &session, &student, vec![assignment.key])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| WebApiError::NotFound(format!("id: задание {number} не найдено")))?;
    let given = detail.assignment.unwrap_or_default();
    let teacher = api.ids.number(Kind::Person, &detail.teacher_id).await?;
    let group = if detail.subgroup_name.is_empty() {
        format!("{}, {}", given.subject_name, detail.class_name)
    } else {
        format!(
            "{}, {} ({})",
            given.subject_name, detail.class_name, detail.subgroup_name
        )
    };
    Ok(json_with_token(
        &session,
        &json!({
            "id": number,
            "assignmentName": if given.title.trim().is_empty() { &given.text } else { &given.title },
            "activityName": null,
            "problemName": null,
            "subjectGroup": { "name": group },
            "teachers": [{ "id": teacher, "name": detail.teacher_name }],
            "productId": null,
            "isDeleted": false,
            "weight": given.weight,
            "date": format::civil_text(given.due_date.as_ref()),
            "description": given.text,
            "attachments": files(&api, &given).await?,
        }),
    ))
}

#[derive(serde::Deserialize)]
struct AttachmentsOf {
    #[serde(rename = "assignId")]
    assign_id: Vec<i64>,
}

pub async fn attachments(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let query = format::query(&request);
    let student = student(&api, &query).await?;
    let body = to_bytes(request.into_body(), 64 * 1024)
        .await
        .map_err(|_| WebApiError::BadRequest("тело запроса больше 64 КиБ".to_owned()))?;
    let asked: AttachmentsOf = serde_json::from_slice(&body).map_err(|error| {
        WebApiError::BadRequest(format!(
            "assignId: ожидается {{\"assignId\": [номера заданий]}} ({error})"
        ))
    })?;
    if asked.assign_id.len() > MAX_ASSIGNMENTS {
        return Err(WebApiError::BadRequest(format!(
            "assignId: не больше {MAX_ASSIGNMENTS} заданий"
        )));
    }
    let mut ours = Vec::new();
    for number in &asked.assign_id {
        match api
            .ids
            .resolve(*number, &[Kind::Assignment], "assignId")
            .await
        {
            Ok(entry) => ours.push((entry.key, *number)),
            Err(WebApiError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let numbers: HashMap<String, i64> = ours.iter().cloned().collect();
    let found = details(
        &api,
        &session,
        &student,
        ours.into_iter().map(|(key, _)| key).collect(),
    )
    .await?;
    let mut listed = Vec::new();
    for detail in found {
        let given = detail.assignment.unwrap_or_default();
        listed.push(json!({
            "assignmentId": numbers.get(&given.id).copied().unwrap_or_default(),
            "attachments": files(&api, &given).await?,
        }));
    }
    Ok(json_with_token(&session, &listed))
}

/// A file's bytes: an assignment's, an announcement's or a letter's.
pub async fn download(
    State(api): State<Arc<WebApi>>,
    Path(id): Path<String>,
    request: Request,
) -> Answer {
    let session = api.session(&request).await?;
    let number = parse_number(Some(&id), "id")?;
    let entry = api
        .ids
        .resolve(
            number,
            &[Kind::Attachment, Kind::AnnouncementFile, Kind::LetterFile],
            "id",
        )
        .await?;
    // An announcement's or a letter's file is keyed `owner/file`.
    let (owner, file) = match entry.key.split_once('/') {
        Some((owner, file)) => (owner.to_owned(), file.to_owned()),
        None => (String::new(), entry.key.clone()),
    };
    let (name, content_type, content) = match entry.kind {
        Kind::AnnouncementFile => {
            let file = api
                .board()?
                .get_announcement_attachment(session.call(
                    asurso_proto::messaging::GetAnnouncementAttachmentRequest {
                        announcement_id: owner,
                        attachment_id: file,
                    },
                ))
                .await?
                .into_inner();
            let info = file.attachment.unwrap_or_default();
            (info.file_name, info.content_type, file.content)
        }
        Kind::LetterFile => {
            let file = api
                .mail()?
                .get_message_attachment(session.call(
                    asurso_proto::messaging::GetMessageAttachmentRequest {
                        message_id: owner,
                        attachment_id: file,
                    },
                ))
                .await?
                .into_inner();
            let info = file.attachment.unwrap_or_default();
            (info.file_name, info.content_type, file.content)
        }
        _ => {
            let file = api
                .journal()?
                .get_attachment(session.call(gb::GetAttachmentRequest {
                    attachment_id: file,
                }))
                .await?
                .into_inner();
            let info = file.attachment.unwrap_or_default();
            (info.file_name, info.content_type, file.content)
        }
    };
    let mut response = content.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        percent_encode(&name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// RFC 5987: every byte but the unreserved ones as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The bell schedule of the current year, for each school day (1 =
/// Sunday, as the apps count).
pub async fn bell_times(State(api): State<Arc<WebApi>>, request: Request) -> Answer {
    let session = api.session(&request).await?;
    let years = school_years(&api, &session).await?;
    let Some(year) = current(&years) else {
        return Ok(json_with_token(&session, &Vec::<Value>::new()));
    };
    let periods = api
        .timetable()?
        .get_bell_schedule(session.call(gb::GetBellScheduleRequest {
            school_year_id: year.id.clone(),
        }))
        .await?
        .into_inner()
        .periods;
    let days = year.days_per_week.clamp(5, 6);
    let listed: Vec<Value> = (2..=days + 1)
        .flat_map(|week_day| {
            periods.iter().map(move |period| {
                json!({
                    "weekDay": week_day,
                    "number": period.number,
                    "relay": 1,
                    "startTime": format::bell_time(period.start_time.as_ref()),
                    "endTime": format::bell_time(period.end_time.as_ref()),
                })
            })
        })
        .collect();
    Ok(json_with_token(&session, &listed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_encoded_for_the_header() {
        assert_eq!(
            percent_encode("Задание 1.pdf"),
            "%D0%97%D0%B0%D0%B4%D0%B0%D0%BD%D0%B8%D0%B5%201.pdf"
        );
    }

    #[test]
    fn ranges_are_checked() {
        let query = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(range(&query(&[("weekStart", "2026-12-07")])).is_ok());
        for (pairs, field) in [
            (vec![("weekEnd", "2026-12-07")], "weekStart"),
            (
                vec![("weekStart", "2026-12-07"), ("weekEnd", "2026-12-01")],
                "weekEnd",
            ),
            (
                vec![("weekStart", "2026-01-01"), ("weekEnd", "2026-12-01")],
                "weekEnd",
            ),
            (vec![("weekStart", "2026-12-07"), ("yearId", "x")], "yearId"),
        ] {
            match range(&query(&pairs)) {
                Err(WebApiError::BadRequest(message)) => {
                    assert!(message.starts_with(field), "{message}")
                }
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn marks_the_apps_cannot_read_are_no_number() {
        let numbered = Numbered {
            numbers: Numbers::from([
                ((Kind::Assignment, "a".to_owned()), 7),
                ((Kind::Type, "homework".to_owned()), 3),
            ]),
            student: 9,
        };
        let given = |kind: MarkKind, grade: i32| gb::DiaryAssignment {
            id: "a".into(),
            r#type: Some(gb::AssignmentType {
                code: "homework".into(),
                ..Default::default()
            }),
            mark: Some(gb::MarkValue {
                kind: kind as i32,
                grade,
            }),
            ..Default::default()
        };
        let grade = numbered.assignment(&given(MarkKind::Grade, 5));
        assert_eq!(grade["mark"]["mark"], 5);
        assert_eq!(grade["typeId"], 3);
        assert_eq!(grade["markComment"], Value::Null);
        let debt = numbered.assignment(&given(MarkKind::Debt, 0));
        assert_eq!(debt["mark"]["mark"], Value::Null);
        assert_eq!(debt["mark"]["dutyMark"], true);
        let pass = numbered.assignment(&given(MarkKind::Pass, 0));
        assert_eq!(pass["mark"]["mark"], Value::Null);
        assert_eq!(pass["mark"]["dutyMark"], false);
        assert_eq!(pass["markComment"]["name"], "зачёт");
        let none = numbered.assignment(&gb::DiaryAssignment {
            mark: None,
            ..given(MarkKind::Grade, 5)
        });
        assert_eq!(none["mark"], Value::Null);
        assert_eq!(none["dueDate"], "1970-01-01T00:00:00");
    }
}
