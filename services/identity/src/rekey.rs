//! Rotating the master key: `identity rekey` moves every value sealed under
//! `crypto.previous_master_key` to `crypto.master_key` (SNILS and its
//! lookup hash, the token signing keys, app passwords, federation logins in
//! progress) in one transaction, so the database is under one key or the
//! other, never half and half. A value already under the new key is left
//! as it is, so the command can be run again; a value neither key opens
//! stops it, naming the row, with nothing changed.
//!
//! Identity's replicas are stopped meanwhile (docs/OPERATIONS.md): a
//! running one would seal new values with the old key.

use secrecy::SecretString;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::crypto::{self, CryptoError, Sealed, Secrets};

#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error("crypto.previous_master_key is not set: it names the key to move from")]
    NoPreviousKey,
    #[error("{0}")]
    Key(String),
    #[error(
        "{table} {row}: opened by neither the master key nor the previous one; nothing changed"
    )]
    Unreadable { table: &'static str, row: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What a run moved, by table; `unchanged` were under the new key already.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rekeyed {
    pub people: u64,
    pub signing_keys: u64,
    pub app_passwords: u64,
    pub federation_logins: u64,
    pub unchanged: u64,
}

/// Moves every sealed value from `previous` to `current`.
pub async fn rekey(
    pool: &PgPool,
    current: &SecretString,
    previous: Option<&SecretString>,
) -> Result<Rekeyed, RekeyError> {
    let previous = previous.ok_or(RekeyError::NoPreviousKey)?;
    let current = Secrets::from_master(current)
        .map_err(|error| RekeyError::Key(format!("crypto.master_key: {error}")))?;
    let previous = Secrets::from_master(previous).map_err(|_| {
        RekeyError::Key(
            "crypto.previous_master_key: must be 32 bytes in standard base64".to_owned(),
        )
    })?;
    let mut tx = pool.begin().await?;
    // Nothing else writes these while the move runs.
    sqlx::query(
        "LOCK TABLE people, signing_keys, app_passwords, federation_logins IN SHARE ROW EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await?;
    let mut done = Rekeyed::default();
    rekey_people(&mut tx, &current, &previous, &mut done).await?;

    for column in &COLUMNS {
        let (moved, unchanged) = rekey_column(&mut tx, &current, &previous, column).await?;
        *(column.tally)(&mut done) += moved;
        done.unchanged += unchanged;
    }
    tx.commit().await?;
    Ok(done)
}

/// A sealed column of a table small enough to read at once, and how to
/// find its rows again.
struct Column {
    table: &'static str,
    key: &'static str,
    key_type: &'static str,
    sealed: &'static str,
    /// Which rows (a WHERE clause, or empty).
    rows: &'static str,
    kind: Sealed,
    /// Whether an error may name the row by its key (a login's state is a
    /// secret of its own).
    named: bool,
    /// Where the report counts what moved.
    tally: fn(&mut Rekeyed) -> &mut u64,
}

const COLUMNS: [Column; 3] = [
    Column {
        table: "signing_keys",
        key: "kid",
        key_type: "text",
        sealed: "private_cipher",
        rows: "",
        kind: Sealed::SigningKey,
        named: true,
        tally: |done| &mut done.signing_keys,
    },
    Column {
        table: "app_passwords",
        key: "id",
        key_type: "uuid",
        sealed: "secret",
        rows: "",
        kind: Sealed::LoginSecret(crypto::APP_PASSWORD_SECRET),
        named: true,
        tally: |done| &mut done.app_passwords,
    },
    Column {
        table: "federation_logins",
        key: "state",
        key_type: "text",
        sealed: "pkce_verifier",
        rows: "WHERE consumed_at IS NULL",
        kind: Sealed::LoginSecret(crypto::PKCE_VERIFIER),
        named: false,
        tally: |done| &mut done.federation_logins,
    },
];

/// Moves one column's values; returns (moved, already under the new key).
async fn rekey_column(
    tx: &mut Transaction<'_, Postgres>,
    current: &Secrets,
    previous: &Secrets,
    column: &Column,
) -> Result<(u64, u64), RekeyError> {
    let Column {
        table,
        key,
        key_type,
        sealed,
        rows,
        kind,
        named,
        ..
    } = *column;
    let found: Vec<(String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {key}::text, {sealed} FROM {table} {rows}"
    )))
    .fetch_all(&mut **tx)
    .await?;
    let (mut keys, mut resealed, mut unchanged) = (Vec::new(), Vec::new(), 0);
    for (row, value) in found {
        let shown = if named {
            row.as_str()
        } else {
            "(a login in progress)"
        };
        match moved(current, previous, kind, &value, table, shown)? {
            Some(value) => {
                keys.push(row);
                resealed.push(value);
            }
            None => unchanged += 1,
        }
    }
    if !keys.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET {sealed} = u.sealed \
             FROM UNNEST($1::text[], $2::bytea[]) AS u(key, sealed) \
             WHERE {table}.{key} = u.key::{key_type}"
        )))
        .bind(&keys)
        .bind(&resealed)
        .execute(&mut **tx)
        .await?;
    }
    Ok((keys.len() as u64, unchanged))
}

/// SNILS: the ciphertext moves, and the lookup hash is computed again under
/// the new key (in batches: a region holds hundreds of thousands).
async fn rekey_people(
    tx: &mut Transaction<'_, Postgres>,
    current: &Secrets,
    previous: &Secrets,
    done: &mut Rekeyed,
) -> Result<(), RekeyError> {
    const BATCH: usize = 5_000;
    let people: Vec<(Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT id, snils_cipher FROM people WHERE snils_cipher IS NOT NULL")
            .fetch_all(&mut **tx)
            .await?;
    for chunk in people.chunks(BATCH) {
        let (mut ids, mut ciphers, mut hashes) = (Vec::new(), Vec::new(), Vec::new());
        for (id, sealed) in chunk {
            let row = id.to_string();
            let Some(resealed) = moved(current, previous, Sealed::Snils, sealed, "people", &row)?
            else {
                done.unchanged += 1;
                continue;
            };
            let snils = current
                .decrypt_snils(&resealed)
                .map_err(|_| RekeyError::Unreadable {
                    table: "people",
                    row: row.clone(),
                })?;
            ids.push(*id);
            hashes.push(current.snils_hash(&snils));
            ciphers.push(resealed);
        }
        if ids.is_empty() {
            continue;
        }
        sqlx::query(
            "UPDATE people SET snils_cipher = u.cipher, snils_hash = u.hash \
             FROM UNNEST($1::uuid[], $2::bytea[], $3::bytea[]) AS u(id, cipher, hash) \
             WHERE people.id = u.id",
        )
        .bind(&ids)
        .bind(&ciphers)
        .bind(&hashes)
        .execute(&mut **tx)
        .await?;
        done.people += ids.len() as u64;
    }
    Ok(())
}

fn moved(
    current: &Secrets,
    previous: &Secrets,
    kind: Sealed,
    sealed: &[u8],
    table: &'static str,
    row: &str,
) -> Result<Option<Vec<u8>>, RekeyError> {
    current
        .reseal(previous, kind, sealed)
        .map_err(|_: CryptoError| RekeyError::Unreadable {
            table,
            row: row.to_owned(),
        })
}
