//! Classes, their subgroups, and enrolments.

use sqlx::PgConnection;
use time::Date;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClassRow {
    pub id: Uuid,
    pub school_id: Uuid,
    pub school_year_id: Uuid,
    pub name: String,
    pub grade: i32,
    pub class_teacher_id: Option<Uuid>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubgroupRow {
    pub id: Uuid,
    pub class_id: Uuid,
    pub name: String,
    pub student_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnrolmentRow {
    pub id: Uuid,
    pub class_id: Uuid,
    pub student_id: Uuid,
    pub student_name: String,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub end_reason: String,
}

/// Literal SQL pieces shared by queries, so each query stays a `&'static str`.
macro_rules! class_columns {
    () => {
        "id, school_id, school_year_id, name, grade, class_teacher_id"
    };
}

pub async fn insert(connection: &mut PgConnection, class: &ClassRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO classes (id, school_id, school_year_id, name, grade) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(class.id)
    .bind(class.school_id)
    .bind(class.school_year_id)
    .bind(&class.name)
    .bind(class.grade)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn get(connection: &mut PgConnection, id: Uuid) -> Result<Option<ClassRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        class_columns!(),
        " FROM classes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(connection)
    .await
}

pub async fn of_year(
    connection: &mut PgConnection,
    year: Uuid,
) -> Result<Vec<ClassRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        class_columns!(),
        " FROM classes WHERE school_year_id = $1 ORDER BY grade, name"
    ))
    .bind(year)
    .fetch_all(connection)
    .await
}

pub async fn set_class_teacher(
    connection: &mut PgConnection,
    class: Uuid,
    teacher: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE classes SET class_teacher_id = $2 WHERE id = $1")
        .bind(class)
        .bind(teacher)
        .execute(connection)
        .await
        .map(|_| ())
}

macro_rules! subgroup_select {
    () => {
        "SELECT g.id, g.class_id, g.name, \
     COALESCE(array_agg(m.student_id ORDER BY m.student_id) FILTER (WHERE m.student_id IS NOT NULL), '{}') AS student_ids \
     FROM subgroups g LEFT JOIN subgroup_members m ON m.subgroup_id = g.id"
    };
}

pub async fn subgroups(
    connection: &mut PgConnection,
    classes: &[Uuid],
) -> Result<Vec<SubgroupRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        subgroup_select!(),
        " WHERE g.class_id = ANY($1) GROUP BY g.id ORDER BY g.name"
    ))
    .bind(classes)
    .fetch_all(connection)
    .await
}

pub async fn subgroup(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<SubgroupRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        subgroup_select!(),
        " WHERE g.id = $1 GROUP BY g.id"
    ))
    .bind(id)
    .fetch_optional(connection)
    .await
}

pub async fn insert_subgroup(
    connection: &mut PgConnection,
    id: Uuid,
    class: Uuid,
    name: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO subgroups (id, class_id, name) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(class)
        .bind(name)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn set_subgroup_members(
    connection: &mut PgConnection,
    subgroup: Uuid,
    students: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM subgroup_members WHERE subgroup_id = $1")
        .bind(subgroup)
        .execute(&mut *connection)
        .await?;
    sqlx::query(
        "INSERT INTO subgroup_members (subgroup_id, student_id) \
         SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(subgroup)
    .bind(students)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Serialises enrolment changes of one student (two admins moving the same
/// student at once must not both succeed).
pub async fn lock_student(connection: &mut PgConnection, student: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
        .bind(student)
        .execute(connection)
        .await
        .map(|_| ())
}

macro_rules! enrolment_select {
    () => {
        "SELECT e.id, e.class_id, e.student_id, \
     COALESCE(concat_ws(' ', p.last_name, p.first_name), '') AS student_name, \
     e.start_date, e.end_date, e.end_reason \
     FROM enrolments e LEFT JOIN known_people p ON p.id = e.student_id"
    };
}

/// The student's enrolments that include any day from `from` on.
pub async fn of_student_from(
    connection: &mut PgConnection,
    student: Uuid,
    from: Date,
) -> Result<Vec<EnrolmentRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        enrolment_select!(),
        " WHERE e.student_id = $1 AND (e.end_date IS NULL OR e.end_date >= $2) \
         ORDER BY e.start_date"
    ))
    .bind(student)
    .bind(from)
    .fetch_all(connection)
    .await
}

/// The student's enrolment in `class` on `date`.
pub async fn in_class_on(
    connection: &mut PgConnection,
    class: Uuid,
    student: Uuid,
    date: Date,
) -> Result<Option<EnrolmentRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        enrolment_select!(),
        " WHERE e.class_id = $1 AND e.student_id = $2 \
         AND e.start_date <= $3 AND (e.end_date IS NULL OR e.end_date >= $3)"
    ))
    .bind(class)
    .bind(student)
    .bind(date)
    .fetch_optional(connection)
    .await
}

pub async fn insert_enrolment(
    connection: &mut PgConnection,
    id: Uuid,
    class: Uuid,
    student: Uuid,
    start: Date,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO enrolments (id, class_id, student_id, start_date) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(class)
    .bind(student)
    .bind(start)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn end_enrolment(
    connection: &mut PgConnection,
    id: Uuid,
    end: Date,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE enrolments SET end_date = $2, end_reason = $3 WHERE id = $1")
        .bind(id)
        .bind(end)
        .bind(reason)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn enrolment(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<EnrolmentRow>, sqlx::Error> {
    sqlx::query_as(concat!(enrolment_select!(), " WHERE e.id = $1"))
        .bind(id)
        .fetch_optional(connection)
        .await
}

/// The class's students on `on`, or every enrolment it had.
pub async fn of_class(
    connection: &mut PgConnection,
    class: Uuid,
    on: Option<Date>,
) -> Result<Vec<EnrolmentRow>, sqlx::Error> {
    sqlx::query_as(concat!(enrolment_select!(), " WHERE e.class_id = $1 \
         AND ($2::date IS NULL OR (e.start_date <= $2 AND (e.end_date IS NULL OR e.end_date >= $2))) \
         ORDER BY student_name, e.start_date"))
    .bind(class)
    .bind(on)
    .fetch_all(connection)
    .await
}

/// Whether the student is enrolled in the class on any day of the year.
pub async fn ever_in_class(
    connection: &mut PgConnection,
    class: Uuid,
    student: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM enrolments WHERE class_id = $1 AND student_id = $2)",
    )
    .bind(class)
    .bind(student)
    .fetch_one(connection)
    .await
}

/// Schools where the student has been enrolled in a class.
pub async fn schools_of_student(
    connection: &mut PgConnection,
    student: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT c.school_id FROM enrolments e JOIN classes c ON c.id = e.class_id \
         WHERE e.student_id = $1",
    )
    .bind(student)
    .fetch_all(connection)
    .await
}

/// Whether the teacher works with the student in a class of `school` the
/// student has been enrolled in: as its class teacher, or teaching the
/// student there, to the whole class or to a group the student is in. A
/// group's teacher does not work with the class's other groups' students.
pub async fn works_with_student(
    connection: &mut PgConnection,
    teacher: Uuid,
    student: Uuid,
    school: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM enrolments e JOIN classes c ON c.id = e.class_id \
         WHERE e.student_id = $2 AND c.school_id = $3 AND (c.class_teacher_id = $1 OR EXISTS \
             (SELECT 1 FROM teaching_load l WHERE l.class_id = c.id AND l.teacher_id = $1 \
              AND (l.subgroup_id IS NULL OR EXISTS (SELECT 1 FROM subgroup_members m \
                  WHERE m.subgroup_id = l.subgroup_id AND m.student_id = e.student_id)))))",
    )
    .bind(teacher)
    .bind(student)
    .bind(school)
    .fetch_one(connection)
    .await
}

/// Whether one of the parent's children has been enrolled in the class.
pub async fn has_child_in(
    connection: &mut PgConnection,
    parent: Uuid,
    class: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM enrolments e JOIN guardians g ON g.student_id = e.student_id \
         WHERE e.class_id = $2 AND g.parent_id = $1)",
    )
    .bind(parent)
    .bind(class)
    .fetch_one(connection)
    .await
}
