//! The first region and its first admin, from settings, so a fresh
//! installation can be logged into. Idempotent: an existing region or login
//! is left as it is.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;
use time::macros::date;
use uuid::Uuid;

use crate::{
    domain::IdentityError,
    passwords,
    storage::{self, org::OrgUnitRow, people::PersonRow},
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapSettings {
    pub region_name: String,
    pub admin_login: String,
    pub admin_password: SecretString,
}

/// Makes the region and its admin (with a local login) unless they exist.
/// Returns the region.
pub async fn ensure_region(
    pool: &PgPool,
    settings: &BootstrapSettings,
) -> Result<OrgUnitRow, IdentityError> {
    let mut transaction = pool.begin().await?;
    // One bootstrap at a time across replicas.
    sqlx::query("SELECT pg_advisory_xact_lock(7355608)")
        .execute(&mut *transaction)
        .await?;
    let region =
        match storage::org::find_region_by_name(&mut transaction, &settings.region_name).await? {
            Some(region) => region,
            None => {
                let id = Uuid::now_v7();
                let region = OrgUnitRow {
                    id,
                    kind: "region".to_owned(),
                    parent_id: None,
                    name: settings.region_name.clone(),
                    time_zone: "Europe/Samara".to_owned(),
                    path: vec![id],
                };
                storage::org::insert(&mut transaction, &region).await?;
                crate::events::publish(
                    &mut transaction,
                    &region,
                    ("org_unit", id.to_string()),
                    "created",
                    &asurso_proto::events::OrgUnitCreated {
                        org_unit_id: id.to_string(),
                        kind: "region".to_owned(),
                        parent_id: String::new(),
                        name: region.name.clone(),
                        time_zone: region.time_zone.clone(),
                    },
                )
                .await?;
                tracing::info!(region_id = %id, "region created from bootstrap settings");
                region
            }
        };
    if storage::accounts::by_login_for_update(&mut transaction, &settings.admin_login)
        .await?
        .is_none()
    {
        let admin = PersonRow {
            id: Uuid::now_v7(),
            org_unit_id: region.id,
            last_name: "Администратор".to_owned(),
            first_name: "Региональный".to_owned(),
            middle_name: String::new(),
            birth_date: date!(1980 - 01 - 01),
            snils_cipher: None,
            snils_hash: None,
            email: String::new(),
            phone: String::new(),
        };
        storage::people::insert(&mut transaction, &admin).await?;
        let (grant_id, _) =
            storage::grants::grant(&mut transaction, admin.id, "region_admin", region.id, None)
                .await?;
        // The other services know people and grants from these events, as
        // for anyone registered later (the board reads a region admin's
        // place in the region from them).
        crate::events::publish(
            &mut transaction,
            &region,
            ("person", admin.id.to_string()),
            "registered",
            &crate::events::person_registered(&admin),
        )
        .await?;
        crate::events::publish(
            &mut transaction,
            &region,
            ("person", admin.id.to_string()),
            "role_granted",
            &asurso_proto::events::RoleGranted {
                grant_id: grant_id.to_string(),
                person_id: admin.id.to_string(),
                role: "region_admin".to_owned(),
                org_unit_id: region.id.to_string(),
            },
        )
        .await?;
        let hash = passwords::hash(settings.admin_password.expose_secret().to_owned()).await?;
        storage::accounts::insert(
            &mut transaction,
            admin.id,
            &settings.admin_login,
            &hash,
            false,
        )
        .await?;
        tracing::info!(login = %settings.admin_login, "region admin created from bootstrap settings");
    }
    transaction.commit().await?;
    Ok(region)
}
