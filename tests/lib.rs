//! The whole system for black-box tests: the development ESIA, identity,
//! the gradebook and the gateway as processes of their own (the binaries
//! `make test` builds), on the suite's PostgreSQL and NATS, with the demo
//! region seeded; and a client that reaches it only through the gateway.

use std::time::Duration;

use asurso_devstack::{
    Infra, Layout, StopSignal, Supervisor,
    seed::{self, Bearer},
};
use asurso_proto::{common::CivilDate, gradebook as gb, identity as pb};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub struct System {
    pub layout: Layout,
    pub demo: seed::Demo,
    infra: Infra,
    supervisor: Supervisor,
}

impl System {
    /// Starts everything on free ports, in a NATS namespace and databases
    /// of its own; identity's access tokens live `access_ttl` seconds.
    pub async fn start(access_ttl: u32) -> anyhow::Result<Self> {
        Self::start_with(access_ttl, Vec::new()).await
    }

    /// As [`System::start`], with more settings for the processes
    /// (`GATEWAY_LIMITS__SESSION_PER_SECOND`, …).
    pub async fn start_with(
        access_ttl: u32,
        settings: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        Self::start_in(access_ttl, settings, None).await
    }

    /// As [`System::start`], each service running in its image's root
    /// filesystem, `<roots>/<name>` (tests/images.rs).
    pub async fn start_in_images(
        access_ttl: u32,
        roots: std::path::PathBuf,
    ) -> anyhow::Result<Self> {
        Self::start_in(access_ttl, Vec::new(), Some(roots)).await
    }

    async fn start_in(
        access_ttl: u32,
        settings: Vec<(String, String)>,
        image_roots: Option<std::path::PathBuf>,
    ) -> anyhow::Result<Self> {
        let infra = Infra::configured(
            asurso_testkit::postgres_url().await?,
            asurso_testkit::nats_url().await?,
        );
        let name = asurso_testkit::namespace();
        let mut layout = Layout::free(&format!("e2e_{name}"))?;
        layout.image_roots = image_roots;
        // Every service that speaks on the bus (those with a database; the
        // gateway's setting is ignored).
        for service in asurso_devstack::SERVICES.iter().filter(|s| s.database) {
            layout.env.push((
                format!("{}_NATS__NAMESPACE", service.env_prefix),
                name.clone(),
            ));
        }
        layout.env.push((
            "IDENTITY_TOKENS__ACCESS_TTL".to_owned(),
            access_ttl.to_string(),
        ));
        layout.env.extend(settings);
        let stop = StopSignal::listen()?;
        let children = asurso_devstack::start_services(&infra, &layout, &stop).await?;
        // As under `make run`: a process that dies is started again.
        let supervisor = asurso_devstack::supervise(children);
        let demo = match seed::seed(&layout).await {
            // A fresh region has nothing people changed: a conflict here is
            // a service refusing the demo's own writes.
            Ok(demo) if !demo.conflicts.is_empty() => {
                supervisor.stop().await;
                anyhow::bail!("seeding a fresh region met conflicts: {:?}", demo.conflicts);
            }
            Ok(demo) => demo,
            Err(error) => {
                supervisor.stop().await;
                return Err(error);
            }
        };
        Ok(Self {
            layout,
            demo,
            infra,
            supervisor,
        })
    }

    /// The process id of one of the system's processes (`gradebook`, …),
    /// while it runs.
    pub async fn pid(&self, process: &'static str) -> Option<u32> {
        self.supervisor.pid(process).await
    }

    /// The URL of the database of the service called `name`, for what only
    /// a bench's set-up may do behind the services' backs.
    pub fn database_url(&self, name: &str) -> Option<String> {
        self.layout
            .services()
            .iter()
            .find(|service| service.name == name && service.database)
            .map(|service| self.infra.database_url(&self.layout, service))
    }

    /// A channel to the gateway: the only way in.
    pub async fn gateway(&self) -> anyhow::Result<Channel> {
        Ok(Channel::from_shared(self.layout.gateway_url())?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?)
    }

    /// The gateway, carrying `token`.
    pub async fn as_caller(
        &self,
        token: &str,
    ) -> anyhow::Result<InterceptedService<Channel, Bearer>> {
        Ok(InterceptedService::new(
            self.gateway().await?,
            Bearer::new(token)?,
        ))
    }

    /// Stops every process (SIGTERM, then a wait) and drops the databases.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.supervisor.stop().await;
        self.infra.drop_databases(&self.layout).await
    }
}

/// Settings that open the gateway's rate limits wide, for runs whose every
/// call should reach the services behind it (the limits are tested on
/// their own).
pub fn unthrottled() -> Vec<(String, String)> {
    [
        "GATEWAY_LIMITS__SESSION_PER_SECOND",
        "GATEWAY_LIMITS__SESSION_BURST",
        "GATEWAY_LIMITS__ANONYMOUS_PER_SECOND",
        "GATEWAY_LIMITS__ANONYMOUS_BURST",
        "GATEWAY_LIMITS__LOGIN_PER_MINUTE",
        "GATEWAY_LIMITS__LOGIN_BURST",
    ]
    .map(|key| (key.to_owned(), "100000".to_owned()))
    .to_vec()
}

/// A password login through the gateway: the access token and its expiry.
pub async fn login(system: &System, login: &str) -> anyhow::Result<(String, i64)> {
    let answer = pb::auth_service_client::AuthServiceClient::new(system.gateway().await?)
        .login(pb::LoginRequest {
            login: login.into(),
            password: seed::DEMO_PASSWORD.into(),
            grant_id: String::new(),
        })
        .await?
        .into_inner();
    let tokens = answer.tokens.ok_or_else(|| anyhow::anyhow!("no tokens"))?;
    let expires = tokens.access_expires_at.map_or(0, |at| at.seconds);
    Ok((tokens.access_token, expires))
}

/// Logs in through ESIA as a browser does, at the gateway: start, the
/// provider's page, the callback; the session cookie's access token.
pub async fn browser_login(system: &System, oid: &str) -> anyhow::Result<String> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(Duration::from_secs(20))
        .build()?;
    let gateway = system.layout.gateway_url();
    let started = browser
        .get(format!("{gateway}/auth/esia/start"))
        .send()
        .await?;
    anyhow::ensure!(
        started.status().is_redirection(),
        "start: {}",
        started.status()
    );
    let at_esia = asurso_esia_dev::browser::redirect_target(&started)?;
    let callback = asurso_esia_dev::browser::pick_person(&browser, &at_esia, oid).await?;
    anyhow::ensure!(
        callback.as_str().starts_with(&gateway),
        "ESIA sent the browser to {callback}"
    );
    let landed = browser.get(callback).send().await?;
    anyhow::ensure!(
        landed.status().is_redirection(),
        "callback: {} {}",
        landed.status(),
        landed.text().await.unwrap_or_default()
    );
    landed
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| cookie.strip_prefix("asurso_access="))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no session cookie after the callback"))
}

/// A teacher's lessons from `from` to `to`, through the gateway.
pub async fn teacher_lessons(
    system: &System,
    token: &str,
    teacher_id: &str,
    from: time::Date,
    to: time::Date,
) -> anyhow::Result<Vec<gb::Lesson>> {
    let day = |date: time::Date| CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    };
    Ok(
        gb::timetable_service_client::TimetableServiceClient::new(system.as_caller(token).await?)
            .get_timetable(gb::GetTimetableRequest {
                of: Some(gb::get_timetable_request::Of::TeacherId(
                    teacher_id.to_owned(),
                )),
                from_date: Some(day(from)),
                to_date: Some(day(to)),
            })
            .await?
            .into_inner()
            .lessons,
    )
}

/// A lesson of `class` taught by the school's first teacher, today or
/// before, in the demo weeks.
pub async fn past_lesson(
    system: &System,
    teacher_token: &str,
    teacher_id: &str,
    class_id: &str,
) -> anyhow::Result<gb::Lesson> {
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = asurso_devstack::seed::journal_weeks(today)?;
    teacher_lessons(system, teacher_token, teacher_id, from, to.min(today))
        .await?
        .into_iter()
        .find(|lesson| lesson.class_id == class_id)
        .ok_or_else(|| anyhow::anyhow!("no past lesson of the class in the demo weeks"))
}
