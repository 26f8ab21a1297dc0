//! How the seed talks to the services: one person's authenticated clients
//! of identity, the gradebook, attendance and messaging, logging in (making the login first when
//! needed), waiting for the gradebook to catch up with identity's events,
//! and the small conversions its requests share.

use std::{future::Future, time::Duration};

use anyhow::{Context, anyhow};
use asurso_proto::{
    attendance as at, common::CivilDate, gradebook as gb, identity as pb, messaging as msg,
};
use time::{Date, Month};
use tonic::{Code, Status, service::interceptor::InterceptedService, transport::Channel};

use super::DEMO_PASSWORD;
use crate::Layout;

pub use asurso_runtime::auth::Bearer;

type Authed = InterceptedService<Channel, Bearer>;

/// One person's clients of the services.
#[derive(Clone)]
pub(super) struct Actor {
    pub(super) org: pb::org_service_client::OrgServiceClient<Authed>,
    pub(super) people: pb::people_service_client::PeopleServiceClient<Authed>,
    pub(super) access: pb::access_service_client::AccessServiceClient<Authed>,
    pub(super) auth: pb::auth_service_client::AuthServiceClient<Authed>,
    pub(super) calendar: gb::calendar_service_client::CalendarServiceClient<Authed>,
    pub(super) classes: gb::class_service_client::ClassServiceClient<Authed>,
    pub(super) curriculum: gb::curriculum_service_client::CurriculumServiceClient<Authed>,
    pub(super) timetable: gb::timetable_service_client::TimetableServiceClient<Authed>,
    pub(super) journal: gb::journal_service_client::JournalServiceClient<Authed>,
    pub(super) attendance: at::attendance_service_client::AttendanceServiceClient<Authed>,
    pub(super) mail: msg::mail_service_client::MailServiceClient<Authed>,
    pub(super) board: msg::announcement_service_client::AnnouncementServiceClient<Authed>,
}

pub(super) struct Channels {
    identity: Channel,
    gradebook: Channel,
    attendance: Channel,
    messaging: Channel,
}

impl Channels {
    pub(super) async fn connect(layout: &Layout) -> anyhow::Result<Self> {
        Ok(Self {
            identity: Channel::from_shared(layout.identity_url())?
                .connect()
                .await?,
            gradebook: Channel::from_shared(layout.gradebook_url())?
                .connect()
                .await?,
            attendance: Channel::from_shared(layout.url("attendance"))?
                .connect()
                .await?,
            messaging: Channel::from_shared(layout.url("messaging"))?
                .connect()
                .await?,
        })
    }

    pub(super) fn actor(&self, token: &str) -> anyhow::Result<Actor> {
        let bearer = Bearer::new(token)?;
        let id = |channel: &Channel| InterceptedService::new(channel.clone(), bearer.clone());
        Ok(Actor {
            org: pb::org_service_client::OrgServiceClient::new(id(&self.identity)),
            people: pb::people_service_client::PeopleServiceClient::new(id(&self.identity)),
            access: pb::access_service_client::AccessServiceClient::new(id(&self.identity)),
            auth: pb::auth_service_client::AuthServiceClient::new(id(&self.identity)),
            calendar: gb::calendar_service_client::CalendarServiceClient::new(id(&self.gradebook)),
            classes: gb::class_service_client::ClassServiceClient::new(id(&self.gradebook)),
            curriculum: gb::curriculum_service_client::CurriculumServiceClient::new(id(
                &self.gradebook
            )),
            timetable: gb::timetable_service_client::TimetableServiceClient::new(id(
                &self.gradebook
            )),
            journal: gb::journal_service_client::JournalServiceClient::new(id(&self.gradebook)),
            attendance: at::attendance_service_client::AttendanceServiceClient::new(id(
                &self.attendance
            )),
            mail: msg::mail_service_client::MailServiceClient::new(id(&self.messaging)),
            board: msg::announcement_service_client::AnnouncementServiceClient::new(id(
                &self.messaging
            )),
        })
    }

    /// Logs in with a password; the access token.
    pub(super) async fn login(&self, login: &str, password: &str) -> Result<String, Status> {
        let answer = pb::auth_service_client::AuthServiceClient::new(self.identity.clone())
            .login(pb::LoginRequest {
                login: login.to_owned(),
                password: password.to_owned(),
                grant_id: String::new(),
            })
            .await?
            .into_inner();
        answer
            .tokens
            .map(|tokens| tokens.access_token)
            .ok_or_else(|| Status::internal("no tokens"))
    }

    /// The person's local login with the demo password, made (or its
    /// password reset) by `admin` when it does not work yet; logged in.
    pub(super) async fn ensure_login(
        &self,
        admin: &mut Actor,
        person_id: &str,
        login: &str,
    ) -> anyhow::Result<Actor> {
        if let Ok(token) = self.login(login, DEMO_PASSWORD).await {
            return self.actor(&token);
        }
        let temporary = admin
            .auth
            .create_local_account(pb::CreateLocalAccountRequest {
                person_id: person_id.to_owned(),
                login: login.to_owned(),
            })
            .await
            .with_context(|| format!("a login for {login}"))?
            .into_inner()
            .temporary_password;
        pb::auth_service_client::AuthServiceClient::new(self.identity.clone())
            .change_password(pb::ChangePasswordRequest {
                current_password: temporary,
                new_password: DEMO_PASSWORD.to_owned(),
                login: login.to_owned(),
            })
            .await
            .with_context(|| format!("the password of {login}"))?;
        let token = self.login(login, DEMO_PASSWORD).await?;
        self.actor(&token)
    }
}

/// Calls until the gradebook has caught up with identity's events (a new
/// school, person or grant reaches it a moment after identity answered).
/// `also` names more codes that mean "not known yet" for this call.
pub(super) async fn patiently<T, F, Fut>(
    what: &str,
    also: &[Code],
    mut call: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(status)
                if (matches!(
                    status.code(),
                    Code::FailedPrecondition
                        | Code::NotFound
                        | Code::PermissionDenied
                        | Code::Unavailable
                ) || also.contains(&status.code()))
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => return Err(anyhow!("{what}: {status}")),
        }
    }
}
/// Accepts "already there" as done.
pub(super) fn exists_is_fine<T>(outcome: Result<T, Status>) -> Result<(), Status> {
    match outcome {
        Ok(_) => Ok(()),
        Err(status) if status.code() == Code::AlreadyExists => Ok(()),
        Err(status) => Err(status),
    }
}

// What the requests of every part of the seed are built from.

pub(super) fn civil(date: Date) -> Option<CivilDate> {
    Some(CivilDate {
        year: date.year(),
        month: i32::from(u8::from(date.month())),
        day: i32::from(date.day()),
    })
}

pub(super) fn date(year: i32, month: u8, day: u8) -> anyhow::Result<Date> {
    Ok(Date::from_calendar_date(
        year,
        Month::try_from(month)?,
        day,
    )?)
}

pub(super) fn birth(ddmmyyyy: &str) -> Option<CivilDate> {
    let mut parts = ddmmyyyy.split('.').map(|part| part.parse::<i32>().ok());
    let (day, month, year) = (parts.next()??, parts.next()??, parts.next()??);
    Some(CivilDate { year, month, day })
}

pub(super) fn person_data(
    last: &str,
    first: &str,
    middle: &str,
    snils: &str,
    birth_date: Option<CivilDate>,
) -> pb::PersonData {
    pb::PersonData {
        last_name: last.to_owned(),
        first_name: first.to_owned(),
        middle_name: middle.to_owned(),
        birth_date,
        snils: snils.to_owned(),
        contacts: None,
    }
}

pub(super) async fn register(
    registrar: &mut Actor,
    unit: &str,
    role: pb::Role,
    person: pb::PersonData,
    key: &str,
) -> anyhow::Result<String> {
    let answer = registrar
        .people
        .register_person(pb::RegisterPersonRequest {
            org_unit_id: unit.to_owned(),
            person: Some(person),
            role: role.into(),
            idempotency_key: key.to_owned(),
        })
        .await
        .with_context(|| format!("registering {key}"))?
        .into_inner();
    answer
        .person
        .map(|person| person.id)
        .ok_or_else(|| anyhow!("{key}: no person in the answer"))
}
