use asurso_proto::{gradebook as gb, identity::Role};
use tonic::Code;

use crate::support::*;

fn year_request(school: uuid::Uuid, terms: Vec<gb::TermInput>) -> gb::CreateSchoolYearRequest {
    gb::CreateSchoolYearRequest {
        school_id: school.to_string(),
        name: "2026/2027".into(),
        start_date: day(2026, 9, 1),
        end_date: day(2027, 5, 31),
        term_kind: gb::TermKind::Halves.into(),
        days_per_week: 5,
        terms,
        holidays: vec![],
        idempotency_key: String::new(),
    }
}

fn term(start: (i32, i32, i32), end: (i32, i32, i32)) -> gb::TermInput {
    gb::TermInput {
        name: String::new(),
        start_date: day(start.0, start.1, start.2),
        end_date: day(end.0, end.1, end.2),
    }
}

#[tokio::test]
async fn a_term_outside_the_year_or_overlapping_another_is_refused_and_nothing_is_written()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.cal")
        .await?
        .gb;

    let overlapping = vec![
        term((2026, 9, 1), (2027, 1, 15)),
        term((2027, 1, 10), (2027, 5, 31)),
    ];
    let refused = admin
        .calendar
        .create_school_year(year_request(school, overlapping))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("overlapping terms accepted"))?;
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["terms[1].start_date"]);

    let outside = vec![
        term((2026, 8, 20), (2026, 12, 30)),
        term((2027, 1, 10), (2027, 6, 20)),
    ];
    let refused = admin
        .calendar
        .create_school_year(year_request(school, outside))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("terms outside the year accepted"))?;
    assert_eq!(
        violated_fields(&refused),
        ["terms[0].start_date", "terms[1].end_date"]
    );

    let years = admin
        .calendar
        .list_school_years(gb::ListSchoolYearsRequest {
            school_id: school.to_string(),
        })
        .await?
        .into_inner()
        .school_years;
    assert!(years.is_empty(), "a refused year was written: {years:?}");

    let good = vec![
        term((2026, 9, 1), (2026, 12, 29)),
        term((2027, 1, 11), (2027, 5, 31)),
    ];
    let year = admin
        .calendar
        .create_school_year(year_request(school, good))
        .await?
        .into_inner()
        .school_year
        .ok_or_else(|| anyhow::anyhow!("no year"))?;
    assert_eq!(year.terms[1].name, "2 полугодие");
    Ok(())
}

#[tokio::test]
async fn only_the_schools_own_admin_keeps_its_calendar() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let (school_a, school_b) = (stack.world.school_a, stack.world.school_b);
    let mut teacher = stack
        .person(school_a, Role::Teacher, "teacher.cal")
        .await?
        .gb;
    let mut other_admin = stack
        .person(school_b, Role::SchoolAdmin, "admin.b.cal")
        .await?
        .gb;
    let terms = vec![
        term((2026, 9, 1), (2026, 12, 29)),
        term((2027, 1, 11), (2027, 5, 31)),
    ];
    for caller in [&mut teacher, &mut other_admin] {
        let refused = caller
            .calendar
            .create_school_year(year_request(school_a, terms.clone()))
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a stranger created a school year"))?;
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_bell_schedule_with_overlapping_periods_names_the_period() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let school = stack.world.school_a;
    let mut admin = stack
        .person(school, Role::SchoolAdmin, "admin.bells")
        .await?
        .gb;
    let year = school_year(&mut admin, school).await?;
    let refused = admin
        .timetable
        .set_bell_schedule(gb::SetBellScheduleRequest {
            school_year_id: year.id.clone(),
            periods: vec![
                gb::Period {
                    number: 1,
                    start_time: at(8, 30),
                    end_time: at(9, 15),
                },
                gb::Period {
                    number: 2,
                    start_time: at(9, 10),
                    end_time: at(9, 55),
                },
            ],
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("overlapping periods accepted"))?;
    assert_eq!(violated_fields(&refused), ["periods[1].start_time"]);
    let kept = admin
        .timetable
        .get_bell_schedule(gb::GetBellScheduleRequest {
            school_year_id: year.id,
        })
        .await?
        .into_inner()
        .periods;
    assert_eq!(kept.len(), 6, "the refused schedule replaced the old one");
    Ok(())
}
