//! The directory held in memory for the read path: revoked grants,
//! guardian links, schools with the units above them and the rights cells,
//! so that a diary read asks the database nothing about its caller.
//!
//! Every replica keeps its own copy. The tables are loaded whole when
//! listening starts; after that, each change to them is heard through
//! PostgreSQL's `NOTIFY` (sent by triggers on the tables, delivered when
//! the writing transaction commits, whichever replica's consumer wrote
//! it), so a revoked grant or an unlinked guardian stops reading within
//! milliseconds of the event's commit. While the memory is loading, or
//! when the listening connection is lost, it answers nothing
//! ([`Memory::known`] is `None`) and the callers ask the database, as
//! before: never a stale "yes".

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use asurso_proto::identity::Role;
use asurso_runtime::{
    Shutdown,
    listen::{self, Listening},
    rights::{Matrix, Right, cells_from_rows},
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::storage::School;

/// The channel the directory's triggers notify on.
pub const CHANNEL: &str = "asurso_directory";

/// Rights cells as stored: (role, right, allowed, adjustable).
type Cells = Vec<(String, String, bool, bool)>;

/// What the directory's tables hold, as of the last notification heard.
#[derive(Default)]
pub struct Known {
    revoked: HashSet<Uuid>,
    /// (parent, student).
    guardians: HashSet<(Uuid, Uuid)>,
    schools: HashMap<Uuid, School>,
    cells: HashMap<Uuid, Cells>,
    /// The effective matrix of each school asked about since its cells (or
    /// its region's) last changed.
    matrices: Mutex<HashMap<Uuid, Arc<Matrix>>>,
}

impl Known {
    pub fn grant_revoked(&self, grant: Uuid) -> bool {
        self.revoked.contains(&grant)
    }

    pub fn is_guardian(&self, parent: Uuid, student: Uuid) -> bool {
        self.guardians.contains(&(parent, student))
    }

    pub fn school(&self, id: Uuid) -> Option<&School> {
        self.schools.get(&id)
    }

    /// The matrix in force at a school: defaults, its region's cells, its
    /// own (as [`crate::access::matrix_at`] reads them from the tables).
    pub fn matrix_at(&self, school: &School) -> Arc<Matrix> {
        let mut matrices = self.matrices.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(matrix) = matrices.get(&school.id) {
            return Arc::clone(matrix);
        }
        let of = |unit: Option<Uuid>| {
            unit.and_then(|unit| self.cells.get(&unit))
                .map(|cells| cells_from_rows(cells.clone()))
                .unwrap_or_default()
        };
        let matrix = Arc::new(Matrix::effective(
            &of(school.region_id),
            &of(Some(school.id)),
        ));
        matrices.insert(school.id, Arc::clone(&matrix));
        matrix
    }

    /// Whether the matrix of any of these schools gives `role` the right;
    /// `None` when one of them is not known here (the database decides).
    pub fn allows_at_any(&self, schools: &[Uuid], role: Role, right: Right) -> Option<bool> {
        let mut allowed = false;
        for id in schools {
            let school = self.schools.get(id)?;
            allowed = allowed || self.matrix_at(school).allows(role, right);
        }
        Some(allowed)
    }

    /// Bytes held, roughly: what a region's size costs (see ARCHITECTURE).
    pub fn bytes(&self) -> usize {
        let uuid = std::mem::size_of::<Uuid>();
        // hashbrown: a power of two of slots, each the entry and one
        // control byte, at most 7/8 of them full.
        let set =
            |capacity: usize, entry: usize| (capacity * 8 / 7).next_power_of_two() * (entry + 1);
        set(self.revoked.capacity(), uuid)
            + set(self.guardians.capacity(), 2 * uuid)
            + set(
                self.schools.capacity(),
                uuid + std::mem::size_of::<School>(),
            )
            + self
                .schools
                .values()
                .map(|school| school.name.len() + school.time_zone.len())
                .sum::<usize>()
            + self
                .cells
                .values()
                .flatten()
                .map(|(role, name, _, _)| 56 + role.len() + name.len())
                .sum::<usize>()
    }

    /// Reports the state's size on `/metrics` (`state="directory"`): its
    /// entries are the guardian links, what grows with the region.
    fn record(&self) {
        asurso_runtime::metrics::record_state("directory", self.guardians.len(), self.bytes());
    }

    /// The matrices are computed again from the cells when next asked.
    fn forget_matrices(&mut self) {
        self.matrices
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// The directory in memory, shared by a service's handlers.
#[derive(Default)]
pub struct Memory {
    known: RwLock<Option<Known>>,
}

impl Memory {
    /// Reads the memory; `None` while it is loading or not listening, when
    /// the caller asks the database instead.
    pub fn known<R>(&self, read: impl FnOnce(&Known) -> R) -> Option<R> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        known.as_ref().map(read)
    }

    fn write(&self, change: impl FnOnce(&mut Known)) {
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = known.as_mut() {
            change(known);
            known.record();
        }
    }

    /// Answers nothing until loaded again.
    fn forget(&self) {
        *self.known.write().unwrap_or_else(PoisonError::into_inner) = None;
        asurso_runtime::metrics::record_state("directory", 0, 0);
    }

    /// Loads the tables and keeps up with them until `shutdown`.
    pub async fn listen(self: Arc<Self>, pool: PgPool, shutdown: Shutdown) {
        let listening = Listener { memory: self, pool };
        listen::listen(listening.pool.clone(), &[CHANNEL], &listening, shutdown).await;
    }
}

struct Listener {
    memory: Arc<Memory>,
    pool: PgPool,
}

/// The whole of the tables.
async fn load(pool: &PgPool) -> Result<Known, sqlx::Error> {
    let revoked: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM known_grants WHERE revoked")
        .fetch_all(pool)
        .await?;
    let guardians: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT parent_id, student_id FROM guardians")
            .fetch_all(pool)
            .await?;
    let cells: Vec<(Uuid, String, String, bool, bool)> =
        sqlx::query_as("SELECT org_unit_id, role, name, allowed, adjustable FROM right_cells")
            .fetch_all(pool)
            .await?;
    let mut by_unit = HashMap::<Uuid, Cells>::new();
    for (unit, role, name, allowed, adjustable) in cells {
        by_unit
            .entry(unit)
            .or_default()
            .push((role, name, allowed, adjustable));
    }
    Ok(Known {
        revoked: revoked.into_iter().collect(),
        guardians: guardians.into_iter().collect(),
        schools: schools(pool).await?,
        cells: by_unit,
        matrices: Mutex::default(),
    })
}

async fn schools(pool: &PgPool) -> Result<HashMap<Uuid, School>, sqlx::Error> {
    let schools: Vec<School> = sqlx::query_as(
        "SELECT s.id, s.name, s.time_zone, m.id AS municipality_id, r.id AS region_id \
         FROM known_org_units s \
         LEFT JOIN known_org_units m ON m.id = s.parent_id \
         LEFT JOIN known_org_units r ON r.id = m.parent_id \
         WHERE s.kind = 'school'",
    )
    .fetch_all(pool)
    .await?;
    Ok(schools
        .into_iter()
        .map(|school| (school.id, school))
        .collect())
}

async fn cells_of(pool: &PgPool, unit: Uuid) -> Result<Cells, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    crate::storage::right_cells(&mut connection, unit).await
}

impl Listening for Listener {
    async fn resumed(&self) {
        match load(&self.pool).await {
            Ok(known) => {
                tracing::info!(
                    guardians = known.guardians.len(),
                    schools = known.schools.len(),
                    bytes = known.bytes(),
                    "the directory is in memory"
                );
                known.record();
                *self
                    .memory
                    .known
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(known);
            }
            // Nothing is answered from memory until the next load.
            Err(error) => {
                tracing::warn!(%error, "cannot load the directory into memory");
                self.lost();
            }
        }
    }

    fn lost(&self) {
        self.memory.forget();
    }

    #[tracing::instrument(name = "directory change", skip(self, _channel))]
    async fn heard(&self, _channel: &str, payload: &str) {
        let mut words = payload.split(' ');
        let kind = words.next().unwrap_or_default();
        let ids: Vec<Uuid> = words
            .filter_map(|word| Uuid::parse_str(word).ok())
            .collect();
        match (kind, ids.as_slice()) {
            ("revoked", [grant]) => self.memory.write(|known| {
                known.revoked.insert(*grant);
            }),
            ("linked", [parent, student]) => self.memory.write(|known| {
                known.guardians.insert((*parent, *student));
            }),
            ("unlinked", [parent, student]) => self.memory.write(|known| {
                known.guardians.remove(&(*parent, *student));
            }),
            ("unit", [_]) => match schools(&self.pool).await {
                Ok(schools) => self.memory.write(|known| {
                    known.schools = schools;
                    known.forget_matrices();
                }),
                Err(error) => self.reload(&error).await,
            },
            ("cells", [unit]) => match cells_of(&self.pool, *unit).await {
                Ok(cells) => self.memory.write(|known| {
                    known.cells.insert(*unit, cells);
                    // A region's cells are in every school's matrix below it.
                    known.forget_matrices();
                }),
                Err(error) => self.reload(&error).await,
            },
            _ => tracing::warn!(payload, "a directory notification not understood"),
        }
    }
}

impl Listener {
    /// A change could not be read: load the whole again (or answer nothing
    /// from memory rather than something stale).
    async fn reload(&self, error: &sqlx::Error) {
        tracing::warn!(%error, "cannot read a directory change; loading it whole");
        self.resumed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_answered_from_memory_before_it_is_loaded_or_once_it_is_lost() {
        let memory = Arc::new(Memory::default());
        assert_eq!(memory.known(|known| known.grant_revoked(Uuid::nil())), None);

        let (parent, student) = (Uuid::from_u128(1), Uuid::from_u128(2));
        *memory.known.write().unwrap_or_else(PoisonError::into_inner) = Some(Known {
            guardians: [(parent, student)].into_iter().collect(),
            ..Known::default()
        });
        assert_eq!(
            memory.known(|known| known.is_guardian(parent, student)),
            Some(true)
        );
        assert_eq!(
            memory.known(|known| known.is_guardian(student, parent)),
            Some(false)
        );
        // A school not known here is the database's to decide.
        assert_eq!(
            memory.known(|known| known.allows_at_any(
                &[Uuid::from_u128(3)],
                Role::Parent,
                asurso_runtime::rights::right::DIARY_READ
            )),
            Some(None)
        );

        memory.forget();
        assert_eq!(
            memory.known(|known| known.is_guardian(parent, student)),
            None
        );
    }
}
