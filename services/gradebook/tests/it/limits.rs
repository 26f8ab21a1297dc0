//! Extreme dates and numbers from outside: each is refused where the
//! request is converted, naming the field, before it reaches week or term
//! arithmetic (a panic) or PostgreSQL (INTERNAL). Real dates still work.

use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity::Role,
};
use tonic::Code;

use crate::support::*;

/// What a request was refused with: its code and the fields it names.
fn refusal<T>(result: Result<T, tonic::Status>) -> Option<(Code, Vec<String>)> {
    result
        .err()
        .map(|status| (status.code(), violated_fields(&status)))
}

fn invalid(fields: &[&str]) -> Option<(Code, Vec<String>)> {
    Some((
        Code::InvalidArgument,
        fields.iter().map(|field| (*field).to_owned()).collect(),
    ))
}

#[tokio::test]
async fn a_diary_week_at_the_ends_of_the_calendar_is_refused_naming_the_year() -> anyhow::Result<()>
{
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut student = stack.person(school, Role::Student, "student.ends").await?;
    let week = |date| gb::GetDiaryWeekRequest {
        student_id: student.id.to_string(),
        date,
    };

    for date in [day(9999, 12, 31), day(-9999, 1, 1), day(i32::MAX, 1, 1)] {
        let answer = student.gb.diary.get_diary_week(week(date)).await;
        assert_eq!(refusal(answer), invalid(&["date.year"]), "{date:?}");
    }

    // The last week the bounds allow runs into the next year and is read.
    let last = student
        .gb
        .diary
        .get_diary_week(week(day(2200, 12, 31)))
        .await?
        .into_inner();
    assert_eq!(last.week_start, day(2200, 12, 29));
    assert_eq!(last.days.last().and_then(|d| d.date), day(2201, 1, 3));
    let ordinary = student
        .gb
        .diary
        .get_diary_week(week(day(2026, 9, 3)))
        .await?
        .into_inner();
    assert_eq!(ordinary.week_start, day(2026, 8, 31));
    assert_eq!(ordinary.days.len(), 6);
    Ok(())
}

#[tokio::test]
async fn a_term_sheet_for_a_period_no_year_has_is_refused_naming_the_number() -> anyhow::Result<()>
{
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.periods")
        .await?
        .gb;
    let mut teacher = stack
        .person(school, Role::Teacher, "teacher.periods")
        .await?;
    let year = school_year(&mut admin, school).await?;
    let class = class(&mut admin, &year, "6Б", 6).await?;
    let maths = subject(&mut admin, school, "Математика").await?;
    load(&mut admin, &class, &maths, teacher.id).await?;
    let sheet = |kind: gb::PeriodKind, number: i32| gb::GetTermMarkSheetRequest {
        class_id: class.id.clone(),
        subject_id: maths.id.clone(),
        period: Some(gb::MarkPeriod {
            kind: kind.into(),
            number,
        }),
    };

    for (kind, number) in [
        (gb::PeriodKind::HalfYear, i32::MAX),
        (gb::PeriodKind::HalfYear, i32::MIN),
        (gb::PeriodKind::Term, i32::MAX),
        (gb::PeriodKind::Term, 5),
    ] {
        let answer = teacher
            .gb
            .journal
            .get_term_mark_sheet(sheet(kind, number))
            .await;
        assert_eq!(
            refusal(answer),
            invalid(&["period.number"]),
            "{kind:?} {number}"
        );
    }

    // The periods a year of quarters has still open their sheets.
    let second_half = teacher
        .gb
        .journal
        .get_term_mark_sheet(sheet(gb::PeriodKind::HalfYear, 2))
        .await?
        .into_inner();
    assert_eq!(second_half.to_date, day(2027, 5, 31));
    let fourth = teacher
        .gb
        .journal
        .get_term_mark_sheet(sheet(gb::PeriodKind::Term, 4))
        .await?
        .into_inner();
    assert_eq!(fourth.from_date, day(2027, 3, 29));
    Ok(())
}

#[tokio::test]
async fn a_timetable_report_or_school_year_in_year_minus_9999_is_refused_naming_the_field()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.years")
        .await?
        .gb;
    let year = school_year(&mut admin, school).await?;
    let class = class(&mut admin, &year, "7В", 7).await?;

    let timetable = timetable_of(
        &mut admin,
        Of::ClassId(class.id.clone()),
        (-9999, 9, 1),
        (-9999, 9, 7),
    )
    .await;
    assert_eq!(
        refusal(timetable),
        invalid(&["from_date.year"]),
        "timetable"
    );

    let summary = |from, to| gb::GetSchoolSummaryRequest {
        school_id: school.to_string(),
        from_date: from,
        to_date: to,
    };
    let report = admin
        .reports
        .get_school_summary(summary(day(2026, 9, 1), day(-9999, 9, 30)))
        .await;
    assert_eq!(refusal(report), invalid(&["to_date.year"]), "report");

    let created = admin
        .calendar
        .create_school_year(gb::CreateSchoolYearRequest {
            school_id: school.to_string(),
            name: "-9999/-9998".into(),
            start_date: day(-9999, 9, 1),
            end_date: day(-9998, 5, 31),
            term_kind: gb::TermKind::Halves.into(),
            days_per_week: 5,
            terms: vec![
                gb::TermInput {
                    name: String::new(),
                    start_date: day(-9999, 9, 1),
                    end_date: day(-9999, 12, 28),
                },
                gb::TermInput {
                    name: String::new(),
                    start_date: day(-9998, 1, 12),
                    end_date: day(-9998, 5, 31),
                },
            ],
            holidays: Vec::new(),
            idempotency_key: String::new(),
        })
        .await;
    assert_eq!(
        refusal(created),
        invalid(&["start_date.year"]),
        "school year"
    );

    // The same requests on real dates are answered.
    timetable_of(
        &mut admin,
        Of::ClassId(class.id.clone()),
        (2026, 9, 1),
        (2026, 9, 7),
    )
    .await?;
    admin
        .reports
        .get_school_summary(summary(day(2026, 9, 1), day(2026, 9, 30)))
        .await?;
    Ok(())
}
