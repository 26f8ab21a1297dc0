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
    /// A file of an announcement: its owner is the announcement.
    AnnouncementFile,
    Letter,
    /// A file of a letter: its owner is the letter.
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
    pub owner: Option<String>,
}

/// Entries kept in memory, each way; past this the maps start again empty.
const CACHE_LIMIT: usize = 200_000;

pub struct Ids {
    pool: PgPool,
    numbers: Mutex<HashMap<(Kind, String), i64>>,
    entries: Mutex<HashMap<i64, Entry>>,
}

fn remember<K: std::hash::Hash + Eq, V>(map: &Mutex<HashMap<K, V>>, key: K, value: V) {
    if let Ok(mut map) = map.lock() {
        if map.len() >= CACHE_LIMIT {
            map.clear();
        }
        map.insert(key, value);
    }
}

impl Ids {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            numbers: Mutex::new(HashMap::new()),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The number of one thing, made if it has none yet.
    pub async fn number(&self, kind: Kind, key: &str) -> Result<i64, WebApiError> {
        self.number_owned(kind, key, None).await
    }

    /// As [`Ids::number`], for a thing reached through its owner.
    pub async fn number_owned(
        &self,
        kind: Kind,
        key: &str,
        owner: Option<&str>,
    ) -> Result<i64, WebApiError> {
        let found = self
            .numbers(kind, &[(key.to_owned(), owner.map(str::to_owned))])
            .await?;
        found
            .get(key)
            .copied()
            .ok_or_else(|| WebApiError::Internal(format!("no number was made for {key}")))
    }

    /// The numbers of many things of one kind (each made if it has none),
    /// by key: two statements at most, whatever their count.
    pub async fn numbers(
        &self,
        kind: Kind,
        things: &[(String, Option<String>)],
    ) -> Result<HashMap<String, i64>, WebApiError> {
        let mut found = HashMap::new();
        let mut missing: Vec<&(String, Option<String>)> = Vec::new();
        let mut seen = HashSet::new();
        if let Ok(numbers) = self.numbers.lock() {
            for thing in things {
                match numbers.get(&(kind, thing.0.clone())) {
                    Some(number) => {
                        found.insert(thing.0.clone(), *number);
                    }
                    None if seen.insert(&thing.0) => missing.push(thing),
                    None => {}
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let keys: Vec<String> = missing.iter().map(|(key, _)| key.clone()).collect();
        let owners: Vec<Option<String>> = missing.iter().map(|(_, owner)| owner.clone()).collect();
        // Those numbered already, then the rest numbered now. A replica
        // numbering the same thing at the same moment wins the race; the
        // read after the insert finds its number.
        let mut rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, id FROM webapi_ids WHERE kind = $1 AND key = ANY($2)")
                .bind(kind.name())
                .bind(&keys)
                .fetch_all(&self.pool)
                .await?;
        if rows.len() < keys.len() {
            let known: HashSet<&str> = rows.iter().map(|(key, _)| key.as_str()).collect();
            let (new_keys, new_owners): (Vec<String>, Vec<Option<String>>) = keys
                .iter()
                .zip(&owners)
                .filter(|(key, _)| !known.contains(key.as_str()))
                .map(|(key, owner)| (key.clone(), owner.clone()))
                .unzip();
            sqlx::query(
                "INSERT INTO webapi_ids (kind, key, owner) \
                 SELECT $1, key, owner FROM unnest($2::text[], $3::text[]) AS t(key, owner) \
                 ON CONFLICT (kind, key) DO NOTHING",
            )
            .bind(kind.name())
            .bind(&new_keys)
            .bind(&new_owners)
            .execute(&self.pool)
            .await?;
            rows =
                sqlx::query_as("SELECT key, id FROM webapi_ids WHERE kind = $1 AND key = ANY($2)")
                    .bind(kind.name())
                    .bind(&keys)
                    .fetch_all(&self.pool)
                    .await?;
        }
        let owner_of: HashMap<&String, &Option<String>> = keys.iter().zip(owners.iter()).collect();
        for (key, number) in rows {
            remember(&self.numbers, (kind, key.clone()), number);
            remember(
                &self.entries,
                number,
                Entry {
                    kind,
                    key: key.clone(),
                    owner: owner_of.get(&key).and_then(|owner| (*owner).clone()),
                },
            );
            found.insert(key, number);
        }
        Ok(found)
    }

    /// What `number` stands for, when it is a `kind`; `field` names the
    /// parameter in the refusal.
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
                let row: Option<(String, String, Option<String>)> =
                    sqlx::query_as("SELECT kind, key, owner FROM webapi_ids WHERE id = $1")
                        .bind(number)
                        .fetch_optional(&self.pool)
                        .await?;
                let entry = row.and_then(|(kind, key, owner)| {
                    Kind::of(&kind).map(|kind| Entry { kind, key, owner })
                });
                if let Some(entry) = &entry {
                    remember(&self.entries, number, entry.clone());
                    remember(&self.numbers, (entry.kind, entry.key.clone()), number);
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
