//! The whole system for black-box tests: the development ESIA, identity,
//! the gradebook and the gateway as processes of their own (the binaries
//! `make test` builds), on the suite's PostgreSQL and NATS, with the demo
//! region seeded; and a client that reaches it only through the gateway.

use std::time::Duration;

use asurso_devstack::{
    Children, Infra, Layout, StopSignal,
    seed::{self, Bearer},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

pub struct System {
    pub layout: Layout,
    pub demo: seed::Demo,
    infra: Infra,
    children: Children,
}

impl System {
    /// Starts everything on free ports, in a NATS namespace and databases
    /// of its own; identity's access tokens live `access_ttl` seconds.
    pub async fn start(access_ttl: u32) -> anyhow::Result<Self> {
        let infra = Infra::configured(
            asurso_testkit::postgres_url().await?,
            asurso_testkit::nats_url().await?,
        );
        let name = asurso_testkit::namespace();
        let mut layout = Layout::free(&format!("e2e_{name}"))?;
        for prefix in ["IDENTITY", "GRADEBOOK"] {
            layout
                .env
                .push((format!("{prefix}_NATS__NAMESPACE"), name.clone()));
        }
        layout.env.push((
            "IDENTITY_TOKENS__ACCESS_TTL".to_owned(),
            access_ttl.to_string(),
        ));
        let stop = StopSignal::listen()?;
        let mut children = asurso_devstack::start_services(&infra, &layout, &stop).await?;
        let demo = match seed::seed(&layout).await {
            Ok(demo) => demo,
            Err(error) => {
                asurso_devstack::stop_children(&mut children).await;
                return Err(error);
            }
        };
        Ok(Self {
            layout,
            demo,
            infra,
            children,
        })
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
    pub async fn stop(mut self) -> anyhow::Result<()> {
        asurso_devstack::stop_children(&mut self.children).await;
        self.infra.drop_databases(&self.layout).await
    }
}
