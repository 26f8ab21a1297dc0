//! Identity in this process on a database and NATS namespace of its own,
//! clients that carry a token, and a small region to test in: what every
//! service's tests need to log people in and act as them (feature
//! `harness`; never part of the service's build). The servers, databases
//! and namespaces come from the test kit; identity offers the rest itself,
//! so the kit never depends on a service.

use std::time::Duration;

use crate::{Application, CONFIG, MIGRATOR, Settings, bootstrap::BootstrapSettings};
use asurso_proto::{common::CivilDate, identity as pb};
use asurso_runtime::{
    db,
    events::{EventBus, streams},
    settings::NatsSettings,
};
use asurso_testkit::{Spawned, TestDatabase};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

pub const ADMIN_LOGIN: &str = "region.admin";
pub const ADMIN_PASSWORD: &str = "region-admin-password";

pub use asurso_runtime::auth::Bearer;

pub type Authed = InterceptedService<Channel, Bearer>;

pub struct Clients {
    pub org: pb::org_service_client::OrgServiceClient<Authed>,
    pub people: pb::people_service_client::PeopleServiceClient<Authed>,
    pub access: pb::access_service_client::AccessServiceClient<Authed>,
    pub auth: pb::auth_service_client::AuthServiceClient<Authed>,
    pub audit: pb::audit_service_client::AuditServiceClient<Authed>,
    pub federation: pb::federation_service_client::FederationServiceClient<Authed>,
    pub app_passwords: pb::app_password_service_client::AppPasswordServiceClient<Authed>,
}

/// Settings for a test instance; `local` gives the development master key.
pub fn settings(database_url: &str, nats: &NatsSettings) -> anyhow::Result<Settings> {
    // The embedded local settings, pointed at the test's own servers.
    let mut settings: Settings = CONFIG.load()?;
    settings.database.url = database_url.to_owned().into();
    settings.nats = nats.clone();
    settings.grpc.port = 0;
    settings.outbox.poll_interval = Duration::from_millis(20);
    settings.bootstrap = Some(BootstrapSettings {
        region_name: "Самарская область".to_owned(),
        admin_login: ADMIN_LOGIN.to_owned(),
        admin_password: ADMIN_PASSWORD.to_owned().into(),
    });
    Ok(settings)
}

pub fn nats_settings(url: &str) -> NatsSettings {
    NatsSettings {
        url: url.to_owned(),
        namespace: asurso_testkit::namespace(),
        replicas: 1,
        duplicate_window: Duration::from_secs(120),
    }
}

pub struct Identity {
    pub address: String,
    pub db: TestDatabase,
    pub bus: EventBus,
    /// The NATS server and namespace it publishes in: other services under
    /// test join it there.
    pub nats: NatsSettings,
    serving: Spawned,
}

impl Identity {
    /// Identity in this process.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        asurso_testkit::init_tracing();
        let db = identity_database().await?;
        let nats = nats_settings(&asurso_testkit::nats_url().await?);
        let bus = EventBus::connect(&nats, "identity-tests").await?;
        bus.ensure_stream(streams::IDENTITY).await?;
        Self::serve(db, bus, nats, adjust).await
    }

    /// Identity on `db` and `bus`, its settings adjusted.
    async fn serve(
        db: TestDatabase,
        bus: EventBus,
        nats: NatsSettings,
        adjust: impl FnOnce(&mut Settings),
    ) -> anyhow::Result<Self> {
        let mut settings = settings(&db.url, &nats)?;
        adjust(&mut settings);
        let app = Application::build_with(settings, db.pool.clone(), bus.clone()).await?;
        let address = format!("http://{}", app.local_addr());
        let serving = asurso_testkit::spawn("identity", |shutdown| app.run_until_stopped(shutdown));
        Ok(Self {
            address,
            db,
            bus,
            nats,
            serving,
        })
    }

    pub async fn anonymous(&self) -> anyhow::Result<Clients> {
        self.clients(None).await
    }

    /// Clients acting as the bootstrap region admin.
    pub async fn region_admin(&self) -> anyhow::Result<(Clients, pb::LoginResponse)> {
        let login = self.login(ADMIN_LOGIN, ADMIN_PASSWORD).await?;
        let clients = self.clients(Some(&access_token(&login))).await?;
        Ok((clients, login))
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.serving.stop().await
    }

    /// Stops this identity and starts another on the same database and
    /// NATS, with its settings adjusted (a restart with a new key, say).
    pub async fn restart_with(self, adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        let Self {
            db,
            bus,
            nats,
            serving,
            ..
        } = self;
        serving.stop().await?;
        Self::serve(db, bus, nats, adjust).await
    }
}

pub fn access_token(login: &pb::LoginResponse) -> String {
    login
        .tokens
        .as_ref()
        .map(|t| t.access_token.clone())
        .unwrap_or_default()
}

pub async fn clients(address: &str, token: Option<&str>) -> anyhow::Result<Clients> {
    let channel = Channel::from_shared(address.to_owned())?.connect().await?;
    let bearer = Bearer::optional(token)?;
    Ok(Clients {
        org: pb::org_service_client::OrgServiceClient::with_interceptor(
            channel.clone(),
            bearer.clone(),
        ),
        people: pb::people_service_client::PeopleServiceClient::with_interceptor(
            channel.clone(),
            bearer.clone(),
        ),
        access: pb::access_service_client::AccessServiceClient::with_interceptor(
            channel.clone(),
            bearer.clone(),
        ),
        auth: pb::auth_service_client::AuthServiceClient::with_interceptor(
            channel.clone(),
            bearer.clone(),
        ),
        audit: pb::audit_service_client::AuditServiceClient::with_interceptor(
            channel.clone(),
            bearer.clone(),
        ),
        federation: pb::federation_service_client::FederationServiceClient::with_interceptor(
            channel.clone(),
            bearer.clone(),
        ),
        app_passwords: pb::app_password_service_client::AppPasswordServiceClient::with_interceptor(
            channel, bearer,
        ),
    })
}

/// A region with one municipality and two schools, each with an admin who
/// has a local login.
pub struct World {
    pub identity: Identity,
    pub admin: Clients,
    pub region: Uuid,
    pub municipality: Uuid,
    pub school_a: Uuid,
    pub school_b: Uuid,
    pub admin_a: Clients,
    pub admin_b: Clients,
}

pub fn person(last: &str, first: &str, snils: &str, birth: (i32, i32, i32)) -> pb::PersonData {
    pb::PersonData {
        last_name: last.into(),
        first_name: first.into(),
        middle_name: String::new(),
        birth_date: Some(CivilDate {
            year: birth.0,
            month: birth.1,
            day: birth.2,
        }),
        snils: snils.into(),
        contacts: None,
    }
}

pub use asurso_testkit::snils;

impl World {
    pub async fn new() -> anyhow::Result<Self> {
        Self::new_with(|_| {}).await
    }

    /// The world, with identity's settings adjusted first.
    pub async fn new_with(adjust: impl FnOnce(&mut Settings)) -> anyhow::Result<Self> {
        let identity = Identity::start_with(adjust).await?;
        let (mut admin, login) = identity.region_admin().await?;
        let region = Uuid::parse_str(
            &login
                .active_grant
                .as_ref()
                .map(|g| g.org_unit_id.clone())
                .unwrap_or_default(),
        )?;
        let municipality = admin
            .org
            .create_municipality(pb::CreateMunicipalityRequest {
                region_id: region.to_string(),
                name: "Тольятти".into(),
                idempotency_key: String::new(),
            })
            .await?
            .into_inner()
            .municipality
            .map(|unit| unit.id)
            .unwrap_or_default();
        let mut schools = Vec::new();
        for name in ["Школа № 1", "Школа № 2"] {
            let school = admin
                .org
                .create_school(pb::CreateSchoolRequest {
                    municipality_id: municipality.clone(),
                    name: name.into(),
                    time_zone: "Europe/Samara".into(),
                    idempotency_key: String::new(),
                })
                .await?
                .into_inner()
                .school
                .map(|unit| unit.id)
                .unwrap_or_default();
            schools.push(Uuid::parse_str(&school)?);
        }
        let mut admins = Vec::new();
        for (n, school) in schools.iter().enumerate() {
            let (clients, _) = identity_user(
                &identity,
                &mut admin,
                *school,
                pb::Role::SchoolAdmin,
                &format!("admin{n}"),
                9000 + u32::try_from(n)?,
            )
            .await?;
            admins.push(clients);
        }
        let admin_b = admins.pop().ok_or_else(|| anyhow::anyhow!("no admin"))?;
        let admin_a = admins.pop().ok_or_else(|| anyhow::anyhow!("no admin"))?;
        Ok(Self {
            identity,
            admin,
            region,
            municipality: Uuid::parse_str(&municipality)?,
            school_a: schools[0],
            school_b: schools[1],
            admin_a,
            admin_b,
        })
    }

    /// School A's admin registers a student there; returns the response.
    pub async fn student(
        &mut self,
        last: &str,
        first: &str,
        seed: u32,
    ) -> anyhow::Result<pb::RegisterPersonResponse> {
        Ok(self
            .admin_a
            .people
            .register_person(pb::RegisterPersonRequest {
                org_unit_id: self.school_a.to_string(),
                person: Some(person(last, first, &snils(seed), (2014, 3, 3))),
                role: pb::Role::Student.into(),
                idempotency_key: String::new(),
            })
            .await?
            .into_inner())
    }

    /// Registers someone in `school` with `role`, gives them a local login
    /// and logs them in (password changed from the temporary one).
    pub async fn user(
        &mut self,
        school: Uuid,
        role: pb::Role,
        login: &str,
        seed: u32,
    ) -> anyhow::Result<(Clients, Uuid)> {
        let (clients, person) =
            identity_user(&self.identity, &mut self.admin, school, role, login, seed).await?;
        Ok((clients, person))
    }
}

/// Registers a person through `registrar`, creates their login, and returns
/// their clients and id.
pub async fn identity_user(
    identity: &impl Service,
    registrar: &mut Clients,
    unit: Uuid,
    role: pb::Role,
    login: &str,
    seed: u32,
) -> anyhow::Result<(Clients, Uuid)> {
    let (token, person) = identity_login(identity, registrar, unit, role, login, seed).await?;
    Ok((identity.clients(Some(&token)).await?, person))
}

/// Registers a person through `registrar`, creates their login, logs them in
/// (the temporary password replaced) and returns their access token and id.
pub async fn identity_login(
    identity: &impl Service,
    registrar: &mut Clients,
    unit: Uuid,
    role: pb::Role,
    login: &str,
    seed: u32,
) -> anyhow::Result<(String, Uuid)> {
    let registered = registrar
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: unit.to_string(),
            person: Some(person("Петров", "Иван", &snils(seed), (1985, 5, 17))),
            role: role.into(),
            idempotency_key: String::new(),
        })
        .await?
        .into_inner();
    let person_id = registered.person.map(|p| p.id).unwrap_or_default();
    let temporary = registrar
        .auth
        .create_local_account(pb::CreateLocalAccountRequest {
            person_id: person_id.clone(),
            login: login.into(),
        })
        .await?
        .into_inner()
        .temporary_password;
    // A temporary password cannot log in; it can only be replaced.
    let refused = identity
        .login(login, &temporary)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        refused.is_some_and(|e| e.contains("temporary password")),
        "a temporary password logged in"
    );
    replace_temporary_password(identity, login, temporary).await?;
    let login = identity.login(login, &password_of(login)).await?;
    Ok((access_token(&login), Uuid::parse_str(&person_id)?))
}

/// Replaces the temporary password an admin handed out for `login` with the
/// one `password_of` gives, as its holder does before logging in.
pub async fn replace_temporary_password(
    identity: &impl Service,
    login: &str,
    temporary: String,
) -> anyhow::Result<()> {
    identity
        .clients(None)
        .await?
        .auth
        .change_password(pb::ChangePasswordRequest {
            current_password: temporary,
            new_password: password_of(login),
            login: login.to_owned(),
        })
        .await?;
    Ok(())
}

/// The password test users end up with.
pub fn password_of(login: &str) -> String {
    format!("{login}-secret-password")
}

/// Something identity-shaped to log in to: in this process or a binary.
#[allow(async_fn_in_trait)]
pub trait Service {
    fn address(&self) -> &str;

    async fn clients(&self, token: Option<&str>) -> anyhow::Result<Clients> {
        clients(self.address(), token).await
    }

    async fn login(&self, login: &str, password: &str) -> anyhow::Result<pb::LoginResponse> {
        let mut auth = clients(self.address(), None).await?.auth;
        Ok(auth
            .login(pb::LoginRequest {
                login: login.into(),
                password: password.into(),
                grant_id: String::new(),
            })
            .await?
            .into_inner())
    }
}

impl Service for Identity {
    fn address(&self) -> &str {
        &self.address
    }
}

/// Identity at an address (a separate process).
pub struct Remote {
    pub address: String,
}

impl Service for Remote {
    fn address(&self) -> &str {
        &self.address
    }
}

/// A database with identity's migrations, of this test's own.
pub async fn identity_database() -> anyhow::Result<TestDatabase> {
    TestDatabase::create(&[&db::runtime_migrator(), &MIGRATOR]).await
}
