//! Integer ids for the apps, stable for ever: the first time an app is
//! shown one of our things it gets the next number of `webapi_ids`, and the
//! same number every time after, from any replica, after any restart.
//! Numbers are read far more often than made, so both directions are kept
//! in memory too (a bounded map: a number never changes, so nothing in it
//! can go stale).

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
};

use sqlx::PgPool;

use super::WebApiError;

/// What a number stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Person,
    School,
    Year,
    Lesson,
    Assignment,
    /// An assignment type, by its code.
    Type,
    /// A file of an assignment (the gradebook's).
    Attachment,
    Announcement,
    /// A file of an announcement, keyed `announcement/file` (a file may be
    /// shared by several).
    AnnouncementFile,
    Letter,
    /// A file of a letter, keyed `letter/file` (a forward shares its
    /// original's files: each letter's number reaches it through that
    /// letter).
    LetterFile,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::School => "school",
            Self::Year => "year",
            Self::Lesson => "lesson",
            Self::Assignment => "assignment",
            Self::Type => "type",
            Self::Attachment => "attachment",
            Self::Announcement => "announcement",
            Self::AnnouncementFile => "announcement_file",
            Self::Letter => "letter",
            Self::LetterFile => "letter_file",
        }
    }

    fn of(name: &str) -> Option<Self> {
        [
            Self::Person,
            Self::School,
            Self::Year,
            Self::Lesson,
            Self::Assignment,
            Self::Type,
            Self::Attachment,
            Self::Announcement,
            Self::AnnouncementFile,
            Self::Letter,
            Self::LetterFile,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// What a number stands for, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub key: String,
}

/// Entries kept in memory, each way; past this the maps start again empty.
const CACHE_LIMIT: usize = 500_000;

pub struct Ids {
    pool: PgPool,
    numbers: Mutex<HashMap<(Kind, String), i64>>,
    entries: Mutex<HashMap<i64, Entry>>,
}

/// Numbers found, by kind and key.
pub type Numbers = HashMap<(Kind, String), i64>;

impl Ids {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            numbers: Mutex::new(HashMap::new()),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The `/webapi` database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn remember(&self, kind: Kind, key: &str, number: i64) {
        if let Ok(mut numbers) = self.numbers.lock() {
            if numbers.len() >= CACHE_LIMIT {
                numbers.clear();
            }
            numbers.insert((kind, key.to_owned()), number);
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
            entries.insert(
                number,
                Entry {
                    kind,
                    key: key.to_owned(),
                },
            );
        }
    }

    /// The number of one thing, made if it has none yet.
    pub async fn number(&self, kind: Kind, key: &str) -> Result<i64, WebApiError> {
        let found = self.numbers(kind, &[key]).await?;
        found
            .get(key)
            .copied()
            .ok_or_else(|| WebApiError::Internal(format!("no number was made for {key:?}")))
    }

    /// The numbers of things of one kind, by key.
    pub async fn numbers(
        &self,
        kind: Kind,
        keys: &[&str],
    ) -> Result<HashMap<String, i64>, WebApiError> {
        let things: Vec<(Kind, &str)> = keys.iter().map(|key| (kind, *key)).collect();
        let found = self.number_all(&things).await?;
        Ok(found
            .into_iter()
            .map(|((_, key), number)| (key, number))
            .collect())
    }

    /// The numbers of things of any kinds, each made if it has none: those
    /// in memory at once, the rest in one statement (a second one only
    /// when another replica numbered one of them at the same moment). An
    /// empty key (nothing has one) gets no number.
    pub async fn number_all(&self, things: &[(Kind, &str)]) -> Result<Numbers, WebApiError> {
        let mut found = Numbers::new();
        let mut missing: HashSet<(Kind, &str)> = HashSet::new();
        if let Ok(numbers) = self.numbers.lock() {
            for &(kind, key) in things.iter().filter(|(_, key)| !key.is_empty()) {
                match numbers.get(&(kind, key.to_owned())) {
                    Some(number) => {
                        found.insert((kind, key.to_owned()), *number);
                    }
                    None => {
                        missing.insert((kind, key));
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let (kinds, keys): (Vec<&str>, Vec<&str>) = missing
            .iter()
            .map(|(kind, key)| (kind.name(), *key))
            .unzip();
        // New rows come from the insert, the others from the read beside
        // it (whose snapshot cannot see the insert's rows: no thing twice).
        // Inserted in one order, (kind, key), by every request: two that
        // number the same new things at once wait for each other in turn
        // instead of each holding a row the other waits for (a deadlock).
        let mut rows: Vec<(String, String, i64)> = sqlx::query_as(
            "WITH given AS (SELECT * FROM unnest($1::text[], $2::text[]) AS g(kind, key)), \
             made AS (INSERT INTO webapi_ids (kind, key) \
                      SELECT kind, key FROM given ORDER BY kind, key \
                      ON CONFLICT (kind, key) DO NOTHING RETURNING kind, key, id) \
             SELECT kind, key, id FROM made \
             UNION ALL SELECT i.kind, i.key, i.id FROM webapi_ids i JOIN given g USING (kind, key)",
        )
        .bind(&kinds)
        .bind(&keys)
        .fetch_all(&self.pool)
        .await?;
        if rows.len() < missing.len() {
            // Another replica's insert committed after this statement began.
            rows = sqlx::query_as(
                "SELECT i.kind, i.key, i.id FROM webapi_ids i \
                 JOIN unnest($1::text[], $2::text[]) AS g(kind, key) USING (kind, key)",
            )
            .bind(&kinds)
            .bind(&keys)
            .fetch_all(&self.pool)
            .await?;
        }
        for (kind, key, number) in rows {
            if let Some(kind) = Kind::of(&kind) {
                self.remember(kind, &key, number);
                found.insert((kind, key), number);
            }
        }
        Ok(found)
    }

    /// What `number` stands for, when it is one of `kinds`; `field` names
    /// the parameter in the refusal.
    pub async fn resolve(
        &self,
        number: i64,
        kinds: &[Kind],
        field: &str,
    ) -> Result<Entry, WebApiError> {
        let cached = self
            .entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(&number).cloned());
        let entry = match cached {
            Some(entry) => Some(entry),
            None => {
                let row: Option<(String, String)> =
                    sqlx::query_as("SELECT kind, key FROM webapi_ids WHERE id = $1")
                        .bind(number)
                        .fetch_optional(&self.pool)
                        .await?;
                let entry =
                    row.and_then(|(kind, key)| Kind::of(&kind).map(|kind| Entry { kind, key }));
                if let Some(entry) = &entry {
                    self.remember(entry.kind, &entry.key, number);
                }
                entry
            }
        };
        entry
            .filter(|entry| kinds.contains(&entry.kind))
            .ok_or_else(|| WebApiError::NotFound(format!("{field}: {number} — не найдено")))
    }

    /// Parses a number the app sent, then resolves it.
    pub async fn resolve_text(
        &self,
        text: Option<&str>,
        kinds: &[Kind],
        field: &str,
    ) -> Result<Entry, WebApiError> {
        let number = parse_number(text, field)?;
        self.resolve(number, kinds, field).await
    }
}

/// A required integer parameter.
pub fn parse_number(text: Option<&str>, field: &str) -> Result<i64, WebApiError> {
    let text = text
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| WebApiError::BadRequest(format!("{field}: обязательный параметр")))?;
    text.parse::<i64>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| {
            WebApiError::BadRequest(format!("{field}: {text:?} — не целое положительное число"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replicas_numbering_the_same_new_things_at_once_agree_and_never_deadlock()
    -> anyhow::Result<()> {
        let database =
            asurso_testkit::TestDatabase::create(&[&sqlx::migrate!("./migrations")]).await?;
        let replicas = [
            std::sync::Arc::new(Ids::new(database.pool.clone())),
            std::sync::Arc::new(Ids::new(database.pool.clone())),
        ];
        let keys: Vec<String> = (0..300).map(|n| format!("person-{n:04}")).collect();
        for round in 0..12 {
            let keys: Vec<String> = keys.iter().map(|key| format!("{key}-{round}")).collect();
            let mut numbering = tokio::task::JoinSet::new();
            for caller in 0..8 {
                let ids = std::sync::Arc::clone(&replicas[caller % 2]);
                let mut order = keys.clone();
                // Half the callers ask in the opposite order.
                if caller % 2 == 1 {
                    order.reverse();
                }
                numbering.spawn(async move {
                    let asked: Vec<(Kind, &str)> = order
                        .iter()
                        .map(|key| (Kind::Person, key.as_str()))
                        .collect();
                    ids.number_all(&asked)
                        .await
                        .map_err(|error| error.to_string())
                });
            }
            let mut answers = Vec::new();
            while let Some(answer) = numbering.join_next().await {
                answers.push(answer?.map_err(|error| anyhow::anyhow!(error))?);
            }
            for answer in &answers {
                assert_eq!(answer.len(), keys.len(), "every key is numbered");
                assert_eq!(answer, &answers[0], "every caller gets the same numbers");
            }
        }
        Ok(())
    }
}
