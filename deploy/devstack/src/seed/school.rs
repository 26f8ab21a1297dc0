//! A school of the demo: its director and teachers, the school year with
//! its bell schedule, subjects, two classes with their students, teaching
//! load and timetable.

use anyhow::{Context, anyhow};
use asurso_esia_dev::DEMO_PEOPLE;
use asurso_proto::{common::TimeOfDay, gradebook as gb, identity as pb};
use asurso_testkit::snils;
use tonic::Code;

use super::{
    Class, School, Teacher,
    clients::{Actor, Channels, birth, civil, date, patiently, person_data, register},
};

/// Three subjects, each taught by one teacher of each school.
const SUBJECTS: [&str; 3] = ["Математика", "Русский язык", "Английский язык"];
const CLASSES: [(&str, i32); 2] = [("5А", 5), ("7Б", 7)];
const STUDENTS: [(&str, &str); 16] = [
    ("Иванов", "Артём"),
    ("Петрова", "Софья"),
    ("Соколов", "Максим"),
    ("Морозова", "Анна"),
    ("Кузнецов", "Иван"),
    ("Волкова", "Мария"),
    ("Лебедев", "Дмитрий"),
    ("Козлова", "Алиса"),
    ("Новиков", "Михаил"),
    ("Кузнецова", "Полина"),
    ("Смирнова", "Ева"),
    ("Попов", "Лев"),
    ("Васильева", "Виктория"),
    ("Фёдоров", "Марк"),
    ("Сидорова", "Дарья"),
    ("Михайлов", "Егор"),
];

/// School `number` of the demo, registered by the region admin; its people's
/// SNILS count on from `people_seed`, so no two demo people share one.
#[allow(clippy::too_many_arguments)]
pub(super) async fn seed_school(
    channels: &Channels,
    region_admin: &mut Actor,
    municipality_id: &str,
    number: u32,
    name: &str,
    first_year: i32,
    people_seed: &mut u32,
) -> anyhow::Result<School> {
    let school_id = region_admin
        .org
        .create_school(pb::CreateSchoolRequest {
            municipality_id: municipality_id.to_owned(),
            name: name.to_owned(),
            time_zone: "Europe/Samara".to_owned(),
            idempotency_key: format!("demo-school-{number}"),
        })
        .await?
        .into_inner()
        .school
        .map(|unit| unit.id)
        .ok_or_else(|| anyhow!("no school in the answer"))?;
    let mut next_snils = || {
        *people_seed += 1;
        snils(700_000 + number * 1000 + *people_seed)
    };
    let director_login = format!("director{number}");
    let director_id = register(
        region_admin,
        &school_id,
        pb::Role::SchoolAdmin,
        person_data(
            "Директорова",
            "Ольга",
            "Ивановна",
            &next_snils(),
            birth("12.02.1975"),
        ),
        &format!("demo-{director_login}"),
    )
    .await?;
    let mut director = channels
        .ensure_login(region_admin, &director_id, &director_login)
        .await?;
    // What the school publishes: apps find it by the short name.
    director
        .org
        .set_school_card(pb::SetSchoolCardRequest {
            card: Some(pb::SchoolCard {
                school_id: school_id.clone(),
                short_name: name.to_owned(),
                about: format!(
                    "Муниципальное бюджетное общеобразовательное учреждение «{name}» г. о. Самара"
                ),
                legal_address: format!("443{number:03}, г. Самара, ул. Школьная, д. {number}"),
                postal_address: format!("443{number:03}, г. Самара, ул. Школьная, д. {number}"),
                email: format!("school{number}@demo.asurso.local"),
                website: format!("https://school{number}.demo.asurso.local"),
                phones: format!("+7 846 200-00-0{number}"),
                director: "Директорова Ольга Ивановна".to_owned(),
                deputy_administration: "Хозяйкина Нина Петровна".to_owned(),
                deputy_it: "Сетевой Антон Олегович".to_owned(),
                deputy_education: "Учебная Галина Сергеевна".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .context("setting the school's card")?;

    let mut teachers = Vec::new();
    for (index, subject) in SUBJECTS.iter().enumerate() {
        // School 2's English teacher is the development ESIA's teacher who
        // is also a parent (he logs in through ESIA too).
        let smirnov = DEMO_PEOPLE.iter().find(|p| p.oid == "1000000004");
        let (data, login) = match smirnov {
            Some(p) if number == 2 && index == 2 => (
                person_data(
                    p.last_name,
                    p.first_name,
                    p.middle_name,
                    p.snils,
                    birth(p.birth_date),
                ),
                "smirnov".to_owned(),
            ),
            _ => (
                person_data(
                    ["Учителева", "Преподавателев", "Наставникова"][index],
                    ["Мария", "Сергей", "Елена"][index],
                    "",
                    &next_snils(),
                    birth("01.09.1982"),
                ),
                format!("teacher{number}{}", index + 1),
            ),
        };
        let person_id = register(
            &mut director,
            &school_id,
            pb::Role::Teacher,
            data,
            &format!("demo-{login}"),
        )
        .await?;
        channels
            .ensure_login(&mut director, &person_id, &login)
            .await?;
        teachers.push(Teacher {
            login,
            person_id,
            subject,
        });
    }

    // The gradebook learns of the school and its people from identity's
    // events: the first call waits for them.
    let start = date(first_year, 9, 1)?;
    let term = |from: (i32, u8, u8), to: (i32, u8, u8)| -> anyhow::Result<gb::TermInput> {
        Ok(gb::TermInput {
            name: String::new(),
            start_date: civil(date(from.0, from.1, from.2)?),
            end_date: civil(date(to.0, to.1, to.2)?),
        })
    };
    let (y, z) = (first_year, first_year + 1);
    let year_request = gb::CreateSchoolYearRequest {
        school_id: school_id.clone(),
        name: format!("{y}/{z}"),
        start_date: civil(start),
        end_date: civil(date(z, 5, 31)?),
        term_kind: gb::TermKind::Quarters.into(),
        days_per_week: 5,
        terms: vec![
            term((y, 9, 1), (y, 10, 24))?,
            term((y, 11, 3), (y, 12, 28))?,
            term((z, 1, 12), (z, 3, 20))?,
            term((z, 3, 30), (z, 5, 29))?,
        ],
        holidays: Vec::new(),
        idempotency_key: "demo-year".to_owned(),
    };
    let year = patiently("the school year", &[], || {
        let mut director = director.clone();
        let request = year_request.clone();
        async move { director.calendar.create_school_year(request).await }
    })
    .await?
    .into_inner()
    .school_year
    .ok_or_else(|| anyhow!("no school year in the answer"))?;
    director
        .timetable
        .set_bell_schedule(gb::SetBellScheduleRequest {
            school_year_id: year.id.clone(),
            periods: (0..6)
                .map(|n| gb::Period {
                    number: n + 1,
                    start_time: Some(TimeOfDay {
                        hours: 8 + n,
                        minutes: 30,
                    }),
                    end_time: Some(TimeOfDay {
                        hours: 9 + n,
                        minutes: 15,
                    }),
                })
                .collect(),
        })
        .await?;
    let known: Vec<gb::Subject> = director
        .curriculum
        .list_subjects(gb::ListSubjectsRequest {
            school_id: school_id.clone(),
        })
        .await?
        .into_inner()
        .subjects;
    let mut subjects = Vec::new();
    for name in SUBJECTS {
        let subject = match known.iter().find(|s| s.name == name) {
            Some(subject) => subject.clone(),
            None => director
                .curriculum
                .create_subject(gb::CreateSubjectRequest {
                    school_id: school_id.clone(),
                    name: name.to_owned(),
                    short_name: String::new(),
                })
                .await?
                .into_inner()
                .subject
                .ok_or_else(|| anyhow!("no subject in the answer"))?,
        };
        subjects.push(subject);
    }

    let mut classes = Vec::new();
    for (class_index, (class_name, grade)) in CLASSES.iter().enumerate() {
        let class = director
            .classes
            .create_class(gb::CreateClassRequest {
                school_year_id: year.id.clone(),
                name: (*class_name).to_owned(),
                grade: *grade,
                idempotency_key: format!("demo-class-{class_name}"),
            })
            .await?
            .into_inner()
            .class
            .ok_or_else(|| anyhow!("no class in the answer"))?;
        let load = director
            .curriculum
            .list_load(gb::ListLoadRequest {
                of: Some(gb::list_load_request::Of::ClassId(class.id.clone())),
                school_year_id: String::new(),
            })
            .await?
            .into_inner()
            .load;
        for (subject, teacher) in subjects.iter().zip(&teachers) {
            if load.iter().any(|l| l.subject_id == subject.id) {
                continue;
            }
            let request = gb::AssignLoadRequest {
                class_id: class.id.clone(),
                subgroup_id: String::new(),
                subject_id: subject.id.clone(),
                teacher_id: teacher.person_id.clone(),
                hours_per_week: 6,
            };
            patiently("the teaching load", &[Code::InvalidArgument], || {
                let mut director = director.clone();
                let request = request.clone();
                async move { director.curriculum.assign_load(request).await }
            })
            .await?;
        }
        let class_teacher = &teachers[class_index % teachers.len()];
        director
            .classes
            .set_class_teacher(gb::SetClassTeacherRequest {
                class_id: class.id.clone(),
                teacher_id: class_teacher.person_id.clone(),
            })
            .await?;

        let mut students = Vec::new();
        for seat in 0..4 {
            let (last, first) = STUDENTS[(number as usize - 1) * 8 + class_index * 4 + seat];
            let key = format!("demo-student-{class_name}-{seat}");
            let student_id = register(
                &mut director,
                &school_id,
                pb::Role::Student,
                person_data(last, first, "", &next_snils(), birth("01.09.2014")),
                &key,
            )
            .await?;
            let enrol = gb::EnrolStudentRequest {
                class_id: class.id.clone(),
                student_id: student_id.clone(),
                start_date: None,
                idempotency_key: key.clone(),
            };
            // A student the gradebook has not heard of yet is "not a student of
            // the school" for a moment.
            patiently("an enrolment", &[Code::InvalidArgument], || {
                let mut director = director.clone();
                let request = enrol.clone();
                async move { director.classes.enrol_student(request).await }
            })
            .await?;
            if number == 1 && class_index == 0 && seat == 0 {
                channels
                    .ensure_login(&mut director, &student_id, "student1")
                    .await?;
            }
            students.push((student_id, format!("{last} {first}")));
        }

        let timetable = director
            .timetable
            .get_class_timetable(gb::GetClassTimetableRequest {
                class_id: class.id.clone(),
            })
            .await?
            .into_inner()
            .slots;
        if timetable.is_empty() {
            // Four lessons a day, the subjects in turn; class 2 starts the
            // day with another subject so teachers are in one place at a time.
            let slots = (1..=5)
                .flat_map(|weekday| (1..=4).map(move |period| (weekday, period)))
                .map(|(weekday, period)| {
                    let subject = &subjects[(weekday + period + class_index as i32) as usize % 3];
                    gb::Slot {
                        weekday,
                        period,
                        subject_id: subject.id.clone(),
                        subgroup_id: String::new(),
                        teacher_id: String::new(),
                        // Each class in its own room.
                        room: format!("{}", 21 + class_index),
                    }
                })
                .collect();
            director
                .timetable
                .set_class_timetable(gb::SetClassTimetableRequest {
                    class_id: class.id.clone(),
                    slots,
                    apply_from: None,
                })
                .await
                .with_context(|| format!("the timetable of {class_name}"))?;
        }
        classes.push(Class {
            id: class.id,
            name: class_name,
            students,
        });
    }
    Ok(School {
        id: school_id,
        name: name.to_owned(),
        director: director_login,
        teachers,
        classes,
    })
}
