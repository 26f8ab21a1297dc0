//! Subjects and the teaching load.

use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubjectRow {
    pub id: Uuid,
    pub school_id: Uuid,
    pub name: String,
    pub short_name: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoadRow {
    pub id: Uuid,
    pub class_id: Uuid,
    pub subgroup_id: Option<Uuid>,
    pub subject_id: Uuid,
    pub teacher_id: Uuid,
    pub hours_per_week: i32,
}

pub async fn insert_subject(
    connection: &mut PgConnection,
    subject: &SubjectRow,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO subjects (id, school_id, name, short_name) VALUES ($1, $2, $3, $4)")
        .bind(subject.id)
        .bind(subject.school_id)
        .bind(&subject.name)
        .bind(&subject.short_name)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn subject(
    connection: &mut PgConnection,
    id: Uuid,
) -> Result<Option<SubjectRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, school_id, name, short_name FROM subjects WHERE id = $1")
        .bind(id)
        .fetch_optional(connection)
        .await
}

pub async fn subjects(
    connection: &mut PgConnection,
    school: Uuid,
) -> Result<Vec<SubjectRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, school_id, name, short_name FROM subjects WHERE school_id = $1 ORDER BY name",
    )
    .bind(school)
    .fetch_all(connection)
    .await
}

macro_rules! load_columns {
    () => {
        "id, class_id, subgroup_id, subject_id, teacher_id, hours_per_week"
    };
}

pub async fn insert_load(connection: &mut PgConnection, load: &LoadRow) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO teaching_load (",
        load_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(load.id)
    .bind(load.class_id)
    .bind(load.subgroup_id)
    .bind(load.subject_id)
    .bind(load.teacher_id)
    .bind(load.hours_per_week)
    .execute(connection)
    .await
    .map(|_| ())
}

pub async fn load(connection: &mut PgConnection, id: Uuid) -> Result<Option<LoadRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        load_columns!(),
        " FROM teaching_load WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(connection)
    .await
}

pub async fn remove_load(connection: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM teaching_load WHERE id = $1")
        .bind(id)
        .execute(connection)
        .await
        .map(|_| ())
}

pub async fn load_of_class(
    connection: &mut PgConnection,
    class: Uuid,
) -> Result<Vec<LoadRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        load_columns!(),
        " FROM teaching_load WHERE class_id = $1 ORDER BY subject_id, subgroup_id NULLS FIRST"
    ))
    .bind(class)
    .fetch_all(connection)
    .await
}

pub async fn load_of_teacher(
    connection: &mut PgConnection,
    teacher: Uuid,
    year: Uuid,
) -> Result<Vec<LoadRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.id, l.class_id, l.subgroup_id, l.subject_id, l.teacher_id, l.hours_per_week \
         FROM teaching_load l JOIN classes c ON c.id = l.class_id \
         WHERE l.teacher_id = $1 AND c.school_year_id = $2 ORDER BY c.grade, c.name",
    )
    .bind(teacher)
    .bind(year)
    .fetch_all(connection)
    .await
}

/// Whether the teacher teaches anything to the class (or one of its
/// subgroups).
pub async fn teaches_class(
    connection: &mut PgConnection,
    teacher: Uuid,
    class: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM teaching_load WHERE teacher_id = $1 AND class_id = $2)",
    )
    .bind(teacher)
    .bind(class)
    .fetch_one(connection)
    .await
}
