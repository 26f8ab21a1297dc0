//! The journal, the diary and the reports: a term from the timetable to the
//! summaries, the refusals, and who may read what.

use std::time::Duration;

use asurso_identity::harness::Service as _;
use asurso_proto::{
    gradebook::{self as gb, get_timetable_request::Of},
    identity::{self as pb, Role},
};
use tonic::Code;
use uuid::Uuid;

use crate::support::*;

/// A 5th class with maths on Mondays and Wednesdays (period 1) and Russian
/// on Fridays, three students, a parent of the first, a class teacher who
/// teaches neither subject.
pub(crate) struct Class5 {
    pub stack: Stack,
    pub school: Uuid,
    pub admin: Gb,
    pub maths_teacher: Person,
    pub russian_teacher: Person,
    pub class_teacher: Person,
    pub students: [Person; 3],
    pub parent: Person,
    pub class: gb::Class,
    pub maths: gb::Subject,
    pub russian: gb::Subject,
    pub term2: gb::Term,
}

impl Class5 {
    pub async fn new(tag: &str) -> anyhow::Result<Self> {
        let mut stack = Stack::start().await?;
        let school = stack.world.school_a;
        let mut admin = stack
            .person(school, Role::SchoolAdmin, &format!("admin.{tag}"))
            .await?
            .gb;
        let maths_teacher = stack
            .person(school, Role::Teacher, &format!("maths.{tag}"))
            .await?;
        let russian_teacher = stack
            .person(school, Role::Teacher, &format!("russian.{tag}"))
            .await?;
        let class_teacher = stack
            .person(school, Role::ClassTeacher, &format!("ct.{tag}"))
            .await?;
        let mut students = Vec::new();
        for n in 0..3 {
            students.push(
                stack
                    .person(school, Role::Student, &format!("student{n}.{tag}"))
                    .await?,
            );
        }
        let parent = stack
            .person(school, Role::Parent, &format!("parent.{tag}"))
            .await?;
        stack.link(parent.id, students[0].id).await?;
        let year = school_year(&mut admin, school).await?;
        let term2 = year.terms[1].clone();
        let class = class(&mut admin, &year, "5А", 5).await?;
        let maths = subject(&mut admin, school, "Математика").await?;
        let russian = subject(&mut admin, school, "Русский язык").await?;
        load(&mut admin, &class, &maths, maths_teacher.id).await?;
        load(&mut admin, &class, &russian, russian_teacher.id).await?;
        admin
            .classes
            .set_class_teacher(gb::SetClassTeacherRequest {
                class_id: class.id.clone(),
                teacher_id: class_teacher.id.to_string(),
            })
            .await?;
        for student in &students {
            enrol(&mut admin, &class, student.id).await?;
        }
        admin
            .timetable
            .set_class_timetable(gb::SetClassTimetableRequest {
                class_id: class.id.clone(),
                slots: vec![slot(1, 1, &maths), slot(3, 1, &maths), slot(5, 2, &russian)],
                apply_from: None,
            })
            .await?;
        // The parent's link reaches the gradebook through identity's events.
        let pool = stack.gradebook.db.pool.clone();
        let (parent_id, child) = (parent.id, students[0].id);
        eventually(Duration::from_secs(15), || {
            let pool = pool.clone();
            async move {
                Ok(sqlx::query_scalar::<_, bool>(
                    "SELECT EXISTS (SELECT 1 FROM guardians WHERE parent_id = $1 AND student_id = $2)",
                )
                .bind(parent_id)
                .bind(child)
                .fetch_one(&pool)
                .await?)
            }
        })
        .await?;
        let students = students
            .try_into()
            .map_err(|_| anyhow::anyhow!("three students"))?;
        Ok(Self {
            stack,
            school,
            admin,
            maths_teacher,
            russian_teacher,
            class_teacher,
            students,
            parent,
            class,
            maths,
            russian,
            term2,
        })
    }

    /// The class's lesson of `subject` on a day.
    async fn lesson(
        &mut self,
        subject: &gb::Subject,
        date: (i32, i32, i32),
    ) -> anyhow::Result<gb::Lesson> {
        timetable_of(
            &mut self.admin,
            Of::ClassId(self.class.id.clone()),
            date,
            date,
        )
        .await?
        .into_iter()
        .find(|lesson| lesson.subject_id == subject.id)
        .ok_or_else(|| anyhow::anyhow!("no {} lesson on {date:?}", subject.name))
    }

    /// The students' ids, in order.
    fn ids(&self) -> [String; 3] {
        self.students
            .each_ref()
            .map(|student| student.id.to_string())
    }
}

pub(crate) fn grade(grade: i32) -> Option<gb::MarkValue> {
    Some(gb::MarkValue {
        kind: gb::MarkKind::Grade.into(),
        grade,
    })
}

fn kind(kind: gb::MarkKind) -> Option<gb::MarkValue> {
    Some(gb::MarkValue {
        kind: kind.into(),
        grade: 0,
    })
}

pub(crate) fn entry(student: String, value: Option<gb::MarkValue>) -> gb::MarkEntry {
    gb::MarkEntry {
        student_id: student,
        value,
        comment: String::new(),
    }
}

pub(crate) async fn assign(
    teacher: &mut Gb,
    lesson: &gb::Lesson,
    kind: &str,
    due: Option<asurso_proto::common::CivilDate>,
    title: &str,
) -> Result<gb::Assignment, tonic::Status> {
    teacher
        .journal
        .create_assignment(gb::CreateAssignmentRequest {
            lesson_id: lesson.id.clone(),
            r#type: kind.into(),
            weight: 0,
            due_date: due,
            title: title.into(),
            text: "№ 245, 247".into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner()
        .assignment
        .ok_or_else(|| tonic::Status::internal("no assignment"))
}

pub(crate) async fn set_marks(
    teacher: &mut Gb,
    assignment: &gb::Assignment,
    marks: Vec<gb::MarkEntry>,
    key: &str,
) -> Result<Vec<gb::Mark>, tonic::Status> {
    Ok(teacher
        .journal
        .set_marks(gb::SetMarksRequest {
            assignment_id: assignment.id.clone(),
            marks,
            idempotency_key: key.into(),
        })
        .await?
        .into_inner()
        .marks)
}

fn term_period(number: i32) -> Option<gb::MarkPeriod> {
    Some(gb::MarkPeriod {
        kind: gb::PeriodKind::Term.into(),
        number,
    })
}

fn code<T>(result: Result<T, tonic::Status>) -> Option<Code> {
    result.err().map(|status| status.code())
}

#[tokio::test]
async fn a_term_goes_from_the_timetable_through_homework_and_marks_to_term_marks_and_reports()
-> anyhow::Result<()> {
    let mut c = Class5::new("term").await?;
    let s = c.ids();
    let monday = c.lesson(&c.maths.clone(), (2026, 11, 9)).await?;
    let week_later = c.lesson(&c.maths.clone(), (2026, 11, 18)).await?;
    let teacher = &mut c.maths_teacher.gb;

    // Monday: homework due Wednesday and work in class; a week later a test.
    let homework = assign(teacher, &monday, "homework", day(2026, 11, 11), "Дроби").await?;
    assert_eq!(
        homework.r#type.as_ref().map(|t| t.abbreviation.as_str()),
        Some("ДЗ")
    );
    assert_eq!(homework.weight, 1);
    let classwork = assign(teacher, &monday, "classwork", None, "Дроби").await?;
    assert_eq!(
        classwork.due_date,
        day(2026, 11, 9),
        "due on the lesson's day"
    );
    let test = assign(teacher, &week_later, "test", None, "Контрольная работа № 2").await?;
    assert_eq!(test.weight, 3, "a test weighs 3 by the dictionary");

    // The whole class's marks in one call each.
    let marks = set_marks(
        teacher,
        &classwork,
        vec![
            entry(s[0].clone(), grade(5)),
            entry(s[1].clone(), grade(3)),
            entry(s[2].clone(), grade(4)),
        ],
        "",
    )
    .await?;
    assert_eq!(marks.len(), 3);
    let homework_marks = vec![
        entry(s[0].clone(), grade(5)),
        entry(s[1].clone(), grade(4)),
        gb::MarkEntry {
            comment: "не сдал".into(),
            ..entry(s[2].clone(), kind(gb::MarkKind::Debt))
        },
    ];
    let first = set_marks(teacher, &homework, homework_marks.clone(), "hw-marks-1").await?;
    // A retry (the answer was lost on the way) applies once.
    let retried = set_marks(teacher, &homework, homework_marks.clone(), "hw-marks-1").await?;
    assert_eq!(first, retried);
    // The same key with other marks is a mistake, not a retry: refused,
    // and the first marks stand.
    let mut other_marks = homework_marks;
    other_marks[0] = entry(s[0].clone(), grade(2));
    let reused = set_marks(teacher, &homework, other_marks, "hw-marks-1")
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a reused key with other marks was accepted"))?;
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&reused), ["idempotency_key"]);
    set_marks(
        teacher,
        &test,
        vec![
            entry(s[0].clone(), grade(4)),
            entry(s[1].clone(), grade(2)),
            entry(s[2].clone(), grade(3)),
        ],
        "",
    )
    .await?;

    // The parent's evening: the child's week with homework and marks.
    let week = c
        .parent
        .gb
        .diary
        .get_diary_week(gb::GetDiaryWeekRequest {
            student_id: s[0].clone(),
            date: day(2026, 11, 12),
        })
        .await?
        .into_inner();
    assert_eq!(week.week_start, day(2026, 11, 9));
    assert_eq!(week.days.len(), 6);
    let first_lesson = &week.days[0].lessons[0];
    assert_eq!(first_lesson.subject_name, "Математика");
    assert_eq!(first_lesson.start_time, at(8, 30));
    assert_eq!(first_lesson.assignments.len(), 2);
    let given = first_lesson
        .assignments
        .iter()
        .find(|a| a.id == homework.id)
        .ok_or_else(|| anyhow::anyhow!("homework not in the diary"))?;
    assert_eq!(given.text, "№ 245, 247");
    assert_eq!(given.mark, grade(5));
    let due: Vec<_> = week.days[2].due.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        due,
        [homework.id.as_str()],
        "Wednesday shows the homework due"
    );
    assert_eq!(week.days[4].lessons[0].subject_name, "Русский язык");

    // The third student owes the homework until the teacher marks it.
    let mut third = c.students[2].gb.clone();
    let overdue = third
        .diary
        .list_overdue(gb::ListOverdueRequest {
            student_id: s[2].clone(),
        })
        .await?
        .into_inner()
        .assignments;
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].id, homework.id);
    assert_eq!(overdue[0].mark_comment, "не сдал");
    let teacher = &mut c.maths_teacher.gb;
    set_marks(teacher, &homework, vec![entry(s[2].clone(), grade(4))], "").await?;
    let overdue = third
        .diary
        .list_overdue(gb::ListOverdueRequest {
            student_id: s[2].clone(),
        })
        .await?
        .into_inner()
        .assignments;
    assert!(overdue.is_empty(), "{overdue:?}");
    let history = third
        .journal
        .get_mark_history(gb::GetMarkHistoryRequest {
            assignment_id: homework.id.clone(),
            student_id: s[2].clone(),
        })
        .await?
        .into_inner()
        .changes;
    assert_eq!(
        history.len(),
        2,
        "posted once despite the retry, then changed"
    );
    assert_eq!(history[0].old_value, None);
    assert_eq!(history[0].new_value, kind(gb::MarkKind::Debt));
    assert_eq!(history[1].old_value, kind(gb::MarkKind::Debt));
    assert_eq!(history[1].new_value, grade(4));
    assert_eq!(history[1].changed_by, c.maths_teacher.id.to_string());

    // Weighted averages (classwork 1, homework 1, test 3):
    // (5+5+12)/5 = 4.4, (3+4+6)/5 = 2.6, (4+4+9)/5 = 3.4.
    let sheet = teacher
        .journal
        .get_term_mark_sheet(gb::GetTermMarkSheetRequest {
            class_id: c.class.id.clone(),
            subject_id: c.maths.id.clone(),
            period: term_period(2),
        })
        .await?
        .into_inner();
    assert_eq!(sheet.from_date, c.term2.start_date);
    let by_student = |rows: &[gb::TermMarkRow], n: usize| {
        rows.iter()
            .find(|row| row.student_id == s[n].clone())
            .cloned()
            .unwrap_or_default()
    };
    let averages: Vec<(f64, i32)> = (0..3)
        .map(|n| {
            let row = by_student(&sheet.rows, n);
            (row.average, row.suggested_grade)
        })
        .collect();
    assert_eq!(averages, [(4.4, 4), (2.6, 3), (3.4, 3)]);
    let set = teacher
        .journal
        .set_term_marks(gb::SetTermMarksRequest {
            class_id: c.class.id.clone(),
            subject_id: c.maths.id.clone(),
            period: term_period(2),
            marks: (0..3)
                .map(|n| gb::TermMarkEntry {
                    student_id: s[n].clone(),
                    value: grade(averages[n].1),
                })
                .collect(),
            idempotency_key: "term2-maths".into(),
        })
        .await?
        .into_inner();
    assert_eq!(by_student(&set.rows, 0).mark, grade(4));
    // Only the subject's teacher sets them; a debt is no term mark; the
    // first half-year joins the first two quarters; a year mark may be
    // "exempt".
    let term_mark =
        |period: Option<gb::MarkPeriod>, value: Option<gb::MarkValue>| gb::SetTermMarksRequest {
            class_id: c.class.id.clone(),
            subject_id: c.maths.id.clone(),
            period,
            marks: vec![gb::TermMarkEntry {
                student_id: s[2].clone(),
                value,
            }],
            idempotency_key: String::new(),
        };
    let refused = c
        .russian_teacher
        .gb
        .journal
        .set_term_marks(term_mark(term_period(2), grade(5)))
        .await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    let teacher = &mut c.maths_teacher.gb;
    let refused = teacher
        .journal
        .set_term_marks(term_mark(term_period(2), kind(gb::MarkKind::Debt)))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a debt as a term mark"))?;
    assert_eq!(violated_fields(&refused), ["marks[0].value.kind"]);
    let half = teacher
        .journal
        .get_term_mark_sheet(gb::GetTermMarkSheetRequest {
            class_id: c.class.id.clone(),
            subject_id: c.maths.id.clone(),
            period: Some(gb::MarkPeriod {
                kind: gb::PeriodKind::HalfYear.into(),
                number: 1,
            }),
        })
        .await?
        .into_inner();
    assert_eq!(
        (half.from_date, half.to_date),
        (day(2026, 9, 1), day(2026, 12, 29))
    );
    assert_eq!(
        by_student(&half.rows, 1).average,
        2.6,
        "all marks are in the first half"
    );
    let year = Some(gb::MarkPeriod {
        kind: gb::PeriodKind::Year.into(),
        number: 0,
    });
    teacher
        .journal
        .set_term_marks(term_mark(year, kind(gb::MarkKind::Exempt)))
        .await?;

    // The class teacher's reports: final marks, the journal page, the summary.
    let ct = &mut c.class_teacher.gb;
    let finals = ct
        .reports
        .get_final_marks(gb::GetFinalMarksRequest {
            class_id: c.class.id.clone(),
        })
        .await?
        .into_inner()
        .students;
    assert_eq!(finals.len(), 3);
    let counts: Vec<usize> = (0..3)
        .map(|n| {
            finals
                .iter()
                .find(|student| student.student_id == s[n])
                .map_or(0, |student| student.marks.len())
        })
        .collect();
    assert_eq!(
        counts,
        [1, 1, 2],
        "term 2 for all, the year too for the third"
    );
    assert!(
        finals
            .iter()
            .flat_map(|s| &s.marks)
            .all(|m| m.subject_name == "Математика")
    );
    let page = ct
        .reports
        .get_class_journal(gb::GetClassJournalRequest {
            class_id: c.class.id.clone(),
            subject_id: c.maths.id.clone(),
            subgroup_id: String::new(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await?
        .into_inner();
    assert_eq!(page.columns.len(), 3);
    assert_eq!(page.columns[2].assignment_id, test.id);
    assert_eq!(page.rows.len(), 3);
    let second = page
        .rows
        .iter()
        .find(|row| row.student_id == s[1].clone())
        .ok_or_else(|| anyhow::anyhow!("no second student"))?;
    assert_eq!(second.cells[2].value, grade(2));
    assert_eq!(second.average, 2.6);
    let summary = ct
        .reports
        .get_class_summary(gb::GetClassSummaryRequest {
            class_id: c.class.id.clone(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await?
        .into_inner();
    // Results 4, 3, 3: the mean of averages 3.47, one student of three
    // with only 4s and 5s, nobody below 3.
    let expected = gb::Summary {
        students: 3,
        average: 3.47,
        quality: 0.33,
        success: 1.0,
    };
    assert_eq!(summary.total, Some(expected));
    assert_eq!(summary.subjects.len(), 1);
    assert_eq!(summary.subjects[0].name, "Математика");

    // The student's own report.
    let report = c
        .parent
        .gb
        .reports
        .get_student_report(gb::GetStudentReportRequest {
            student_id: s[0].clone(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await?
        .into_inner();
    assert_eq!(report.subjects.len(), 1);
    assert_eq!(report.subjects[0].marks.len(), 3);
    assert_eq!(report.subjects[0].average, 4.4);

    // The school's summary for its admin; the municipality's and the
    // region's for theirs, by school and without a student in sight.
    let school_summary = c
        .admin
        .reports
        .get_school_summary(gb::GetSchoolSummaryRequest {
            school_id: c.school.to_string(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await?
        .into_inner();
    assert_eq!(school_summary.classes.len(), 1);
    assert_eq!(school_summary.classes[0].name, "5А");
    assert_eq!(school_summary.total, Some(expected));
    let municipality = c.stack.world.municipality;
    let mut municipal = c
        .stack
        .person(municipality, Role::MunicipalAdmin, "municipal.term")
        .await?
        .gb;
    let aggregate = municipal
        .reports
        .get_aggregate_summary(gb::GetAggregateSummaryRequest {
            org_unit_id: municipality.to_string(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await?
        .into_inner();
    assert_eq!(aggregate.total, Some(expected));
    assert_eq!(aggregate.schools.len(), 1, "{aggregate:?}");
    assert_eq!(aggregate.schools[0].id, c.school.to_string());
    let refused = municipal
        .reports
        .get_school_summary(gb::GetSchoolSummaryRequest {
            school_id: c.school.to_string(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    let refused = c
        .admin
        .reports
        .get_aggregate_summary(gb::GetAggregateSummaryRequest {
            org_unit_id: municipality.to_string(),
            from_date: c.term2.start_date,
            to_date: c.term2.end_date,
        })
        .await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));

    // Every fact reached JetStream once: 3 assignments, 9 marks posted
    // (the retry added none), 1 changed, 4 term marks.
    for (event, count) in [
        ("assignment.published", 3),
        ("mark.posted", 9),
        ("mark.changed", 1),
        ("student.term_mark_set", 4),
    ] {
        let stack = &c.stack;
        let school = c.school;
        eventually(Duration::from_secs(10), || async move {
            Ok(published(stack, event, school).await? == count)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{event}: {e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn bad_marks_assignments_and_attachments_are_refused_naming_the_field_and_write_nothing()
-> anyhow::Result<()> {
    let mut c = Class5::new("bad").await?;
    let s = c.ids();
    let monday = c.lesson(&c.maths.clone(), (2026, 11, 9)).await?;
    let friday = c.lesson(&c.russian.clone(), (2026, 11, 13)).await?;
    let teacher = &mut c.maths_teacher.gb;
    let work = assign(teacher, &monday, "quiz", None, "Самостоятельная").await?;

    // Outside the scale, twice the same student, not a UUID: all at once.
    let refused = set_marks(
        teacher,
        &work,
        vec![
            entry(s[0].clone(), grade(6)),
            entry(s[1].clone(), grade(0)),
            entry(s[1].clone(), grade(4)),
            entry("someone".into(), grade(4)),
            entry(
                s[2].clone(),
                Some(gb::MarkValue {
                    kind: gb::MarkKind::Exempt.into(),
                    grade: 0,
                }),
            ),
        ],
        "",
    )
    .await
    .err()
    .ok_or_else(|| anyhow::anyhow!("bad marks accepted"))?;
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&refused),
        [
            "marks[0].value.grade",
            "marks[1].value.grade",
            "marks[2].student_id",
            "marks[3].student_id",
            "marks[4].value.kind"
        ]
    );
    // A student of another class.
    let mut admin = c.admin.clone();
    let outsider = c
        .stack
        .person(c.school, Role::Student, "outsider.bad")
        .await?;
    let year = admin
        .calendar
        .list_school_years(gb::ListSchoolYearsRequest {
            school_id: c.school.to_string(),
        })
        .await?
        .into_inner()
        .school_years
        .remove(0);
    let other_class = class(&mut admin, &year, "5Б", 5).await?;
    enrol(&mut admin, &other_class, outsider.id).await?;
    let teacher = &mut c.maths_teacher.gb;
    let refused = set_marks(
        teacher,
        &work,
        vec![
            entry(s[0].clone(), grade(5)),
            entry(outsider.id.to_string(), grade(5)),
        ],
        "",
    )
    .await
    .err()
    .ok_or_else(|| anyhow::anyhow!("an outsider got a mark"))?;
    assert_eq!(violated_fields(&refused), ["marks[1].student_id"]);
    // Nothing of either call was written.
    let page = c
        .class_teacher
        .gb
        .reports
        .get_class_journal(gb::GetClassJournalRequest {
            class_id: c.class.id.clone(),
            subject_id: c.maths.id.clone(),
            subgroup_id: String::new(),
            from_date: day(2026, 11, 9),
            to_date: day(2026, 11, 9),
        })
        .await?
        .into_inner();
    assert!(
        page.rows
            .iter()
            .all(|row| row.cells.iter().all(|cell| cell.value.is_none())),
        "{page:?}"
    );

    // Assignments: a lesson the teacher does not teach, an unknown type, a
    // weight off the scale, due before the lesson.
    let refused = assign(teacher, &friday, "homework", None, "Упражнение").await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    for (kind, weight, due, field) in [
        ("chores", 0, None, "type"),
        ("homework", 25, None, "weight"),
        ("homework", 0, day(2026, 11, 6), "due_date"),
        ("homework", 0, day(2027, 6, 10), "due_date"),
    ] {
        let refused = teacher
            .journal
            .create_assignment(gb::CreateAssignmentRequest {
                lesson_id: monday.id.clone(),
                r#type: kind.into(),
                weight,
                due_date: due,
                title: "Дроби".into(),
                text: String::new(),
                idempotency_key: String::new(),
            })
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("{field} accepted"))?;
        assert_eq!(violated_fields(&refused), [field], "{refused:?}");
    }
    let assignments = teacher
        .journal
        .list_assignments(gb::ListAssignmentsRequest {
            lesson_id: monday.id.clone(),
        })
        .await?
        .into_inner()
        .assignments;
    assert_eq!(assignments.len(), 1, "only the quiz was written");
    // Parents do not keep the journal.
    let refused = assign(&mut c.parent.gb, &monday, "homework", None, "Дроби").await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));

    // Attachments come back byte for byte; too large, of a refused type, or
    // not what they claim to be, they are refused.
    let mut picture = b"\x89PNG\r\n\x1a\n".to_vec();
    picture.extend((0..50_000u32).map(|n| (n * 7 % 251) as u8));
    let added = teacher
        .journal
        .add_attachment(gb::AddAttachmentRequest {
            assignment_id: work.id.clone(),
            file_name: "схема.png".into(),
            content_type: "image/png".into(),
            content: picture.clone(),
        })
        .await?
        .into_inner()
        .attachment
        .ok_or_else(|| anyhow::anyhow!("no attachment"))?;
    assert_eq!(added.size, i64::try_from(picture.len())?);
    assert_eq!(added.sha256.len(), 64);
    let fetched = c
        .parent
        .gb
        .journal
        .get_attachment(gb::GetAttachmentRequest {
            attachment_id: added.id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(fetched.content, picture, "served back byte for byte");
    let mut outsider_gb = outsider.gb.clone();
    let refused = outsider_gb
        .journal
        .get_attachment(gb::GetAttachmentRequest {
            attachment_id: added.id.clone(),
        })
        .await;
    assert_eq!(
        code(refused),
        Some(Code::PermissionDenied),
        "a student of 5Б"
    );
    for (name, content_type, content, field) in [
        (
            "big.pdf",
            "application/pdf",
            [b"%PDF-".to_vec(), vec![b'x'; 3 * 1024 * 1024]].concat(),
            "content",
        ),
        (
            "run.exe",
            "application/x-msdownload",
            b"MZ\x90\x00".to_vec(),
            "content_type",
        ),
        (
            "fake.pdf",
            "application/pdf",
            b"MZ\x90\x00".to_vec(),
            "content",
        ),
        (
            "../../secret.txt",
            "text/plain",
            b"hello".to_vec(),
            "file_name",
        ),
    ] {
        let refused = teacher
            .journal
            .add_attachment(gb::AddAttachmentRequest {
                assignment_id: work.id.clone(),
                file_name: name.into(),
                content_type: content_type.into(),
                content,
            })
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("{name} accepted"))?;
        assert_eq!(refused.code(), Code::InvalidArgument, "{name}: {refused:?}");
        assert_eq!(violated_fields(&refused), [field], "{name}");
    }
    let listed = teacher
        .journal
        .list_assignments(gb::ListAssignmentsRequest {
            lesson_id: monday.id.clone(),
        })
        .await?
        .into_inner()
        .assignments;
    assert_eq!(listed[0].attachments.len(), 1, "only the picture was kept");

    // A lesson holding an assignment survives a new timetable without it.
    c.admin
        .timetable
        .set_class_timetable(gb::SetClassTimetableRequest {
            class_id: c.class.id.clone(),
            slots: vec![slot(5, 2, &c.russian)],
            apply_from: day(2026, 11, 2),
        })
        .await?;
    let left = timetable_of(
        &mut c.admin,
        Of::ClassId(c.class.id.clone()),
        (2026, 11, 9),
        (2026, 11, 13),
    )
    .await?;
    let ids: Vec<_> = left.iter().map(|lesson| lesson.id.as_str()).collect();
    assert_eq!(ids, [monday.id.as_str(), friday.id.as_str()], "{left:?}");
    Ok(())
}

#[tokio::test]
async fn each_side_reads_only_its_own_and_staff_reads_are_audited() -> anyhow::Result<()> {
    let mut c = Class5::new("access").await?;
    let s = c.ids();
    let monday = c.lesson(&c.maths.clone(), (2026, 11, 9)).await?;
    let friday = c.lesson(&c.russian.clone(), (2026, 11, 13)).await?;
    let work = assign(&mut c.maths_teacher.gb, &monday, "classwork", None, "Дроби").await?;
    set_marks(
        &mut c.maths_teacher.gb,
        &work,
        vec![entry(s[0].clone(), grade(5)), entry(s[1].clone(), grade(4))],
        "",
    )
    .await?;

    // The Russian teacher neither marks maths nor reads its journal page,
    // but reads their own; the class teacher reads both.
    let russian = &mut c.russian_teacher.gb;
    let refused = set_marks(russian, &work, vec![entry(s[1].clone(), grade(2))], "").await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    let page = |subject: &gb::Subject| gb::GetClassJournalRequest {
        class_id: c.class.id.clone(),
        subject_id: subject.id.clone(),
        subgroup_id: String::new(),
        from_date: day(2026, 11, 9),
        to_date: day(2026, 11, 13),
    };
    assert_eq!(
        code(russian.reports.get_class_journal(page(&c.maths)).await),
        Some(Code::PermissionDenied)
    );
    russian.reports.get_class_journal(page(&c.russian)).await?;
    let change = gb::ChangeAssignmentRequest {
        assignment_id: work.id.clone(),
        weight: Some(2),
        ..Default::default()
    };
    assert_eq!(
        code(russian.journal.change_assignment(change.clone()).await),
        Some(Code::PermissionDenied)
    );
    assign(russian, &friday, "homework", None, "Упражнение 12").await?;
    c.class_teacher
        .gb
        .reports
        .get_class_journal(page(&c.maths))
        .await?;
    // Only the class teacher and the administration read the class summary.
    let summary = gb::GetClassSummaryRequest {
        class_id: c.class.id.clone(),
        from_date: day(2026, 11, 1),
        to_date: day(2026, 11, 30),
    };
    assert_eq!(
        code(russian.reports.get_class_summary(summary.clone()).await),
        Some(Code::PermissionDenied)
    );

    // Families read their own: the parent the child, not a classmate; a
    // student not another student.
    let week = |student: String| gb::GetDiaryWeekRequest {
        student_id: student,
        date: day(2026, 11, 9),
    };
    c.parent.gb.diary.get_diary_week(week(s[0].clone())).await?;
    assert_eq!(
        code(c.parent.gb.diary.get_diary_week(week(s[1].clone())).await),
        Some(Code::PermissionDenied)
    );
    let mut second = c.students[1].gb.clone();
    assert_eq!(
        code(second.diary.get_diary_week(week(s[0].clone())).await),
        Some(Code::PermissionDenied)
    );
    // Assignments by id as the diary shows them, with who set them: the
    // child's own only (an id of nothing of theirs is left out), not a
    // classmate's; too many ids, or a malformed one, refused by name.
    let by_id = |student: &str, ids: Vec<String>| gb::GetDiaryAssignmentsRequest {
        student_id: student.to_owned(),
        assignment_ids: ids,
    };
    let details = c
        .parent
        .gb
        .diary
        .get_diary_assignments(by_id(
            &s[0],
            vec![work.id.clone(), Uuid::now_v7().to_string()],
        ))
        .await?
        .into_inner()
        .assignments;
    assert_eq!(details.len(), 1, "{details:?}");
    let detail = &details[0];
    let given = detail.assignment.clone().unwrap_or_default();
    assert_eq!(given.id, work.id);
    assert_eq!(given.mark, grade(5));
    assert_eq!(detail.teacher_id, c.maths_teacher.id.to_string());
    assert_eq!(detail.class_name, c.class.name);
    assert_eq!(
        code(
            c.parent
                .gb
                .diary
                .get_diary_assignments(by_id(&s[1], vec![work.id.clone()]))
                .await
        ),
        Some(Code::PermissionDenied)
    );
    for (ids, field) in [
        (vec![work.id.clone(); 101], "assignment_ids"),
        (vec!["x".to_owned()], "assignment_ids[0]"),
    ] {
        let refused = c
            .parent
            .gb
            .diary
            .get_diary_assignments(by_id(&s[0], ids))
            .await
            .err();
        assert!(
            refused
                .as_ref()
                .is_some_and(|status| status.code() == Code::InvalidArgument
                    && status.message().starts_with(field)),
            "{refused:?}"
        );
    }
    assert_eq!(
        code(
            second
                .journal
                .get_mark_history(gb::GetMarkHistoryRequest {
                    assignment_id: work.id.clone(),
                    student_id: s[0].clone(),
                })
                .await
        ),
        Some(Code::PermissionDenied)
    );
    // A teacher of another school does not read the diary.
    let school_b = c.stack.world.school_b;
    let mut stranger = c
        .stack
        .person(school_b, Role::Teacher, "stranger.access")
        .await?;
    assert_eq!(
        code(stranger.gb.diary.get_diary_week(week(s[0].clone())).await),
        Some(Code::PermissionDenied)
    );

    // The maths teacher reads the child's diary: the parent sees who did.
    let staff_view = c
        .maths_teacher
        .gb
        .diary
        .get_diary_week(week(s[0].clone()))
        .await?
        .into_inner();
    assert_eq!(staff_view.days[0].lessons[0].assignments[0].mark, grade(5));
    let mut parent_identity = c
        .stack
        .world
        .identity
        .clients(Some(&c.parent.token))
        .await?;
    let teacher_id = c.maths_teacher.id.to_string();
    eventually(Duration::from_secs(15), || {
        let mut audit = parent_identity.audit.clone();
        let (student, teacher_id) = (s[0].clone(), teacher_id.clone());
        async move {
            let views = audit
                .list_views_of_student(pb::ListViewsOfStudentRequest {
                    student_id: student,
                    page: None,
                })
                .await?
                .into_inner()
                .records;
            Ok(views
                .iter()
                .any(|view| view.actor_id == teacher_id && view.what == "diary"))
        }
    })
    .await?;
    // The family's own reads are not staff reads: nothing recorded for them.
    let views = parent_identity
        .audit
        .list_views_of_student(pb::ListViewsOfStudentRequest {
            student_id: s[0].clone(),
            page: None,
        })
        .await?
        .into_inner()
        .records;
    assert!(
        views
            .iter()
            .all(|view| view.actor_id != c.parent.id.to_string())
    );

    // The maths teacher reweighs the work and takes the mark back: the
    // history keeps both, and each change is published.
    let maths = &mut c.maths_teacher.gb;
    let changed = maths
        .journal
        .change_assignment(change)
        .await?
        .into_inner()
        .assignment
        .ok_or_else(|| anyhow::anyhow!("no assignment"))?;
    assert_eq!((changed.weight, changed.title.as_str()), (2, "Дроби"));
    let left = set_marks(maths, &work, vec![entry(s[0].clone(), None)], "").await?;
    let marked: Vec<_> = left.iter().map(|mark| mark.student_id.as_str()).collect();
    assert_eq!(
        marked,
        [s[1].as_str()],
        "only the second student's mark is left"
    );
    let history = maths
        .journal
        .get_mark_history(gb::GetMarkHistoryRequest {
            assignment_id: work.id.clone(),
            student_id: s[0].clone(),
        })
        .await?
        .into_inner()
        .changes;
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[1].old_value, history[1].new_value),
        (grade(5), None)
    );
    for event in ["assignment.changed", "mark.removed"] {
        let (stack, school) = (&c.stack, c.school);
        eventually(Duration::from_secs(10), || async move {
            Ok(published(stack, event, school).await? == 1)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{event}: {e}"))?;
    }

    // A region admin reads the region's aggregate, not a school's summary.
    let region = c.stack.world.region;
    let mut regional = c
        .stack
        .person(region, Role::RegionAdmin, "region.access")
        .await?
        .gb;
    let aggregate = regional
        .reports
        .get_aggregate_summary(gb::GetAggregateSummaryRequest {
            org_unit_id: region.to_string(),
            from_date: day(2026, 11, 1),
            to_date: day(2026, 11, 30),
        })
        .await?
        .into_inner();
    // One student's mark was taken back: the other's 4 is all there is.
    let total = aggregate.total.unwrap_or_default();
    assert_eq!(
        (total.students, total.average, total.quality),
        (1, 4.0, 1.0)
    );
    assert_eq!(
        code(
            regional
                .reports
                .get_student_report(gb::GetStudentReportRequest {
                    student_id: s[0].clone(),
                    from_date: day(2026, 11, 1),
                    to_date: day(2026, 11, 30),
                })
                .await
        ),
        Some(Code::PermissionDenied)
    );
    Ok(())
}

/// An 8th class split for English: group A (Anna, Vera) and group B (Boris),
/// each with a teacher of its own on Tuesdays, a whole-class English lesson
/// on Thursdays by a third teacher, and a class teacher who teaches none.
struct SplitClass {
    /// Identity and the gradebook, running while the test does.
    _stack: Stack,
    admin: Gb,
    group_a_teacher: Person,
    group_b_teacher: Person,
    whole_class_teacher: Person,
    class_teacher: Person,
    /// Anna and Vera of group A, Boris of group B.
    anna: String,
    vera: String,
    boris: String,
    class: gb::Class,
    english: gb::Subject,
    group_b: gb::Subgroup,
    term1: gb::Term,
}

impl SplitClass {
    async fn new(tag: &str) -> anyhow::Result<Self> {
        let mut stack = Stack::start().await?;
        let school = stack.world.school_a;
        let mut admin = stack
            .person(school, Role::SchoolAdmin, &format!("admin.{tag}"))
            .await?
            .gb;
        let group_a_teacher = stack
            .person(school, Role::Teacher, &format!("english.a.{tag}"))
            .await?;
        let group_b_teacher = stack
            .person(school, Role::Teacher, &format!("english.b.{tag}"))
            .await?;
        let whole_class_teacher = stack
            .person(school, Role::Teacher, &format!("english.all.{tag}"))
            .await?;
        let class_teacher = stack
            .person(school, Role::ClassTeacher, &format!("ct.{tag}"))
            .await?;
        let mut students = Vec::new();
        for name in ["anna", "vera", "boris"] {
            let student = stack
                .person(school, Role::Student, &format!("{name}.{tag}"))
                .await?;
            students.push(student.id);
        }
        let year = school_year(&mut admin, school).await?;
        let term1 = year.terms[0].clone();
        let class = class(&mut admin, &year, "8А", 8).await?;
        let english = subject(&mut admin, school, "Английский язык").await?;
        for student in &students {
            enrol(&mut admin, &class, *student).await?;
        }
        admin
            .classes
            .set_class_teacher(gb::SetClassTeacherRequest {
                class_id: class.id.clone(),
                teacher_id: class_teacher.id.to_string(),
            })
            .await?;
        load(&mut admin, &class, &english, whole_class_teacher.id).await?;
        let mut groups = Vec::new();
        for (name, teacher, members) in [
            ("группа A", group_a_teacher.id, &students[..2]),
            ("группа B", group_b_teacher.id, &students[2..]),
        ] {
            let group = admin
                .classes
                .create_subgroup(gb::CreateSubgroupRequest {
                    class_id: class.id.clone(),
                    name: name.into(),
                })
                .await?
                .into_inner()
                .subgroup
                .ok_or_else(|| anyhow::anyhow!("no group"))?;
            admin
                .classes
                .set_subgroup_members(gb::SetSubgroupMembersRequest {
                    subgroup_id: group.id.clone(),
                    student_ids: members.iter().map(Uuid::to_string).collect(),
                })
                .await?;
            admin
                .curriculum
                .assign_load(gb::AssignLoadRequest {
                    class_id: class.id.clone(),
                    subgroup_id: group.id.clone(),
                    subject_id: english.id.clone(),
                    teacher_id: teacher.to_string(),
                    hours_per_week: 2,
                })
                .await?;
            groups.push(group);
        }
        let in_group = |group: &gb::Subgroup| gb::Slot {
            subgroup_id: group.id.clone(),
            ..slot(2, 4, &english)
        };
        admin
            .timetable
            .set_class_timetable(gb::SetClassTimetableRequest {
                class_id: class.id.clone(),
                slots: vec![
                    in_group(&groups[0]),
                    in_group(&groups[1]),
                    slot(4, 2, &english),
                ],
                apply_from: None,
            })
            .await?;
        let group_b = groups.remove(1);
        let [anna, vera, boris] = [0, 1, 2].map(|n| students[n].to_string());
        Ok(Self {
            _stack: stack,
            admin,
            group_a_teacher,
            group_b_teacher,
            whole_class_teacher,
            class_teacher,
            anna,
            vera,
            boris,
            class,
            english,
            group_b,
            term1,
        })
    }

    /// The English lesson of a group (of the whole class for `None`) on a
    /// day.
    async fn lesson(
        &mut self,
        group: Option<&str>,
        date: (i32, i32, i32),
    ) -> anyhow::Result<gb::Lesson> {
        timetable_of(
            &mut self.admin,
            Of::ClassId(self.class.id.clone()),
            date,
            date,
        )
        .await?
        .into_iter()
        .find(|lesson| lesson.subgroup_name.as_str() == group.unwrap_or_default())
        .ok_or_else(|| anyhow::anyhow!("no lesson of {group:?} on {date:?}"))
    }

    /// The journal page of the first term, of the group named (or none).
    fn page(&self, subgroup_id: &str) -> gb::GetClassJournalRequest {
        gb::GetClassJournalRequest {
            class_id: self.class.id.clone(),
            subject_id: self.english.id.clone(),
            subgroup_id: subgroup_id.into(),
            from_date: self.term1.start_date,
            to_date: self.term1.end_date,
        }
    }

    fn sheet(&self) -> gb::GetTermMarkSheetRequest {
        gb::GetTermMarkSheetRequest {
            class_id: self.class.id.clone(),
            subject_id: self.english.id.clone(),
            period: term_period(1),
        }
    }

    fn term_marks(&self, marks: &[(&str, i32)]) -> gb::SetTermMarksRequest {
        gb::SetTermMarksRequest {
            class_id: self.class.id.clone(),
            subject_id: self.english.id.clone(),
            period: term_period(1),
            marks: marks
                .iter()
                .map(|(student, mark)| gb::TermMarkEntry {
                    student_id: (*student).to_owned(),
                    value: grade(*mark),
                })
                .collect(),
            idempotency_key: String::new(),
        }
    }
}

/// The students of journal rows, sorted.
fn students_of<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    let mut ids: Vec<&str> = ids.into_iter().map(String::as_str).collect();
    ids.sort_unstable();
    ids
}

fn sorted<const N: usize>(ids: [&str; N]) -> Vec<&str> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn a_group_teacher_reads_and_marks_only_their_group_and_the_class_teacher_the_whole_class()
-> anyhow::Result<()> {
    let mut c = SplitClass::new("split").await?;
    let (anna, vera, boris) = (c.anna.clone(), c.vera.clone(), c.boris.clone());
    let group_a_lesson = c.lesson(Some("группа A"), (2026, 9, 8)).await?;
    let group_b_lesson = c.lesson(Some("группа B"), (2026, 9, 8)).await?;
    let whole_lesson = c.lesson(None, (2026, 9, 10)).await?;

    let teacher_a = &mut c.group_a_teacher.gb.clone();
    let ct = &mut c.class_teacher.gb.clone();

    // Each teacher marks their own lesson.
    let work_a = assign(
        teacher_a,
        &group_a_lesson,
        "classwork",
        None,
        "Present Simple",
    )
    .await?;
    set_marks(
        teacher_a,
        &work_a,
        vec![entry(anna.clone(), grade(5)), entry(vera.clone(), grade(4))],
        "",
    )
    .await?;
    let teacher_b = &mut c.group_b_teacher.gb;
    let work_b = assign(teacher_b, &group_b_lesson, "classwork", None, "Past Simple").await?;
    set_marks(teacher_b, &work_b, vec![entry(boris.clone(), grade(3))], "").await?;
    let teacher_all = &mut c.whole_class_teacher.gb;
    let work_all = assign(teacher_all, &whole_lesson, "test", None, "Диктант").await?;
    set_marks(
        teacher_all,
        &work_all,
        vec![
            entry(anna.clone(), grade(4)),
            entry(boris.clone(), grade(2)),
        ],
        "",
    )
    .await?;

    // Group A's teacher keeps neither the whole class's lesson nor group B's.
    let refused = assign(teacher_a, &whole_lesson, "homework", None, "Слова").await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    let refused = set_marks(
        teacher_a,
        &work_all,
        vec![entry(boris.clone(), grade(5))],
        "",
    )
    .await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    let refused = set_marks(teacher_a, &work_b, vec![entry(boris.clone(), grade(5))], "").await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));

    // Without a group named, group A's teacher gets group A's page: their
    // lesson and the whole class's, Anna's and Vera's marks, not Boris's.
    let page = teacher_a
        .reports
        .get_class_journal(c.page(""))
        .await?
        .into_inner();
    assert_eq!(
        students_of(page.rows.iter().map(|row| &row.student_id)),
        sorted([anna.as_str(), vera.as_str()])
    );
    let columns: Vec<_> = page
        .columns
        .iter()
        .map(|c| c.assignment_id.as_str())
        .collect();
    assert_eq!(columns, [work_a.id.as_str(), work_all.id.as_str()]);
    // Naming group B is refused, as before.
    let refused = teacher_a
        .reports
        .get_class_journal(c.page(&c.group_b.id))
        .await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));
    // The mark history follows the page: Anna's, not Boris's.
    let history = |student: &str| gb::GetMarkHistoryRequest {
        assignment_id: work_all.id.clone(),
        student_id: student.to_owned(),
    };
    let annas = teacher_a
        .journal
        .get_mark_history(history(&anna))
        .await?
        .into_inner();
    assert_eq!(annas.changes.len(), 1);
    let refused = teacher_a.journal.get_mark_history(history(&boris)).await;
    assert_eq!(code(refused), Some(Code::PermissionDenied));

    // The term sheet likewise: group A's students only.
    let sheet = teacher_a
        .journal
        .get_term_mark_sheet(c.sheet())
        .await?
        .into_inner();
    assert_eq!(
        students_of(sheet.rows.iter().map(|row| &row.student_id)),
        sorted([anna.as_str(), vera.as_str()])
    );

    // A term mark for Boris among Anna's is refused as not theirs to give,
    // naming his entry, and neither is written.
    let refused = teacher_a
        .journal
        .set_term_marks(c.term_marks(&[(&anna, 5), (&boris, 3)]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("group A's teacher set a term mark for group B"))?;
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert!(
        refused.message().contains("marks[1].student_id")
            && !refused.message().contains("marks[0]"),
        "{refused:?}"
    );
    // A student not of the class at all is a mistake in the request.
    let stranger = Uuid::new_v4().to_string();
    let refused = teacher_a
        .journal
        .set_term_marks(c.term_marks(&[(&anna, 5), (&stranger, 3)]))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a term mark for a student of no class"))?;
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["marks[1].student_id"]);
    let whole_sheet = ct
        .journal
        .get_term_mark_sheet(c.sheet())
        .await?
        .into_inner();
    assert!(
        whole_sheet.rows.iter().all(|row| row.mark.is_none()),
        "{whole_sheet:?}"
    );

    // Group A's own term marks go through, and the answer is group A's.
    let set = teacher_a
        .journal
        .set_term_marks(c.term_marks(&[(&anna, 5), (&vera, 4)]))
        .await?
        .into_inner();
    assert_eq!(
        students_of(set.rows.iter().map(|row| &row.student_id)),
        sorted([anna.as_str(), vera.as_str()])
    );
    assert!(set.rows.iter().all(|row| row.mark.is_some()), "{set:?}");
    let boris_mark = c.term_marks(&[(&boris, 3)]);
    c.group_b_teacher
        .gb
        .journal
        .set_term_marks(boris_mark)
        .await?;

    // Group A's teacher reads group A's final marks; the class teacher, and
    // the whole-class teacher's page, the whole class.
    let finals = teacher_a
        .reports
        .get_final_marks(gb::GetFinalMarksRequest {
            class_id: c.class.id.clone(),
        })
        .await?
        .into_inner()
        .students;
    assert_eq!(
        students_of(finals.iter().map(|student| &student.student_id)),
        sorted([anna.as_str(), vera.as_str()])
    );
    let everyone = sorted([anna.as_str(), vera.as_str(), boris.as_str()]);
    let page = ct.reports.get_class_journal(c.page("")).await?.into_inner();
    assert_eq!(
        students_of(page.rows.iter().map(|row| &row.student_id)),
        everyone
    );
    assert_eq!(page.columns.len(), 3);
    let group_b_page = ct
        .reports
        .get_class_journal(c.page(&c.group_b.id))
        .await?
        .into_inner();
    assert_eq!(
        students_of(group_b_page.rows.iter().map(|row| &row.student_id)),
        [boris.as_str()]
    );
    let whole_sheet = ct
        .journal
        .get_term_mark_sheet(c.sheet())
        .await?
        .into_inner();
    let marks: Vec<_> = whole_sheet
        .rows
        .iter()
        .map(|row| (row.student_id.as_str(), row.mark))
        .collect();
    assert_eq!(marks.len(), 3);
    for (student, mark) in [(&anna, 5), (&vera, 4), (&boris, 3)] {
        assert!(
            marks.contains(&(student.as_str(), grade(mark))),
            "{student}: {marks:?}"
        );
    }
    let finals = ct
        .reports
        .get_final_marks(gb::GetFinalMarksRequest {
            class_id: c.class.id.clone(),
        })
        .await?
        .into_inner()
        .students;
    assert_eq!(
        students_of(finals.iter().map(|student| &student.student_id)),
        everyone
    );
    let whole_page = c.page("");
    let page = c
        .whole_class_teacher
        .gb
        .reports
        .get_class_journal(whole_page)
        .await?
        .into_inner();
    assert_eq!(
        students_of(page.rows.iter().map(|row| &row.student_id)),
        everyone
    );
    Ok(())
}

#[tokio::test]
async fn a_group_teacher_reads_the_diary_and_report_of_their_groups_students_only()
-> anyhow::Result<()> {
    let mut c = SplitClass::new("split.diary").await?;
    let (anna, boris) = (c.anna.clone(), c.boris.clone());
    let group_a_lesson = c.lesson(Some("группа A"), (2026, 9, 8)).await?;
    let group_b_lesson = c.lesson(Some("группа B"), (2026, 9, 8)).await?;
    let teacher_a = &mut c.group_a_teacher.gb.clone();
    let work_a = assign(
        teacher_a,
        &group_a_lesson,
        "classwork",
        None,
        "Present Simple",
    )
    .await?;
    set_marks(teacher_a, &work_a, vec![entry(anna.clone(), grade(5))], "").await?;
    let teacher_b = &mut c.group_b_teacher.gb;
    let work_b = assign(teacher_b, &group_b_lesson, "classwork", None, "Past Simple").await?;
    set_marks(teacher_b, &work_b, vec![entry(boris.clone(), grade(3))], "").await?;

    let week = |student: &str| gb::GetDiaryWeekRequest {
        student_id: student.to_owned(),
        date: day(2026, 9, 8),
    };
    let report = |student: &str| gb::GetStudentReportRequest {
        student_id: student.to_owned(),
        from_date: c.term1.start_date,
        to_date: c.term1.end_date,
    };

    // Group A's teacher reads Anna's diary and report, with her mark.
    let annas_week = teacher_a
        .diary
        .get_diary_week(week(&anna))
        .await?
        .into_inner();
    let marks: Vec<_> = annas_week
        .days
        .iter()
        .flat_map(|day| &day.lessons)
        .flat_map(|lesson| &lesson.assignments)
        .map(|assignment| (assignment.id.as_str(), assignment.mark))
        .collect();
    assert_eq!(marks, [(work_a.id.as_str(), grade(5))]);
    let annas_report = teacher_a
        .reports
        .get_student_report(report(&anna))
        .await?
        .into_inner();
    assert_eq!(annas_report.subjects.len(), 1);
    assert_eq!(annas_report.subjects[0].marks.len(), 1);

    // Boris is group B's: his diary, report, debts and timetable are not
    // group A's teacher's to read, though they teach in his class.
    assert_eq!(
        code(teacher_a.diary.get_diary_week(week(&boris)).await),
        Some(Code::PermissionDenied)
    );
    assert_eq!(
        code(teacher_a.reports.get_student_report(report(&boris)).await),
        Some(Code::PermissionDenied)
    );
    let overdue = gb::ListOverdueRequest {
        student_id: boris.clone(),
    };
    assert_eq!(
        code(teacher_a.diary.list_overdue(overdue).await),
        Some(Code::PermissionDenied)
    );
    let timetable = timetable_of(
        teacher_a,
        Of::StudentId(boris.clone()),
        (2026, 9, 7),
        (2026, 9, 13),
    )
    .await;
    assert_eq!(code(timetable), Some(Code::PermissionDenied));

    // The class teacher, and the teacher of the whole class, read both.
    for reader in [&mut c.class_teacher.gb, &mut c.whole_class_teacher.gb] {
        for student in [&anna, &boris] {
            reader.diary.get_diary_week(week(student)).await?;
            let read = reader
                .reports
                .get_student_report(report(student))
                .await?
                .into_inner();
            assert_eq!(read.subjects.len(), 1, "{student}: {read:?}");
        }
    }
    Ok(())
}
