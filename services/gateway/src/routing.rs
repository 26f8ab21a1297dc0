//! The routing table: which service owns each proto package, and a channel
//! to it. Routes are settings, not code: a new service is a new row.

use std::{
    collections::{BTreeMap, HashMap},
    sync::OnceLock,
    time::Duration,
};

use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, health_check_response, health_client::HealthClient},
    server::HealthReporter,
};

use crate::{GatewayError, RouteSettings};

/// Identity's package: logins and token keys come from its upstream.
pub const IDENTITY_PACKAGE: &str = "asurso.identity.v1";

/// The largest header block the gateway takes from a service: a gRPC
/// status (message and details) travels in headers, and an answer over the
/// limit fails the whole call, so the caller would see UNAVAILABLE ("the
/// service is unavailable") instead of the service's refusal. The services
/// keep their refusals under 8 KiB (`asurso_runtime::errors`); this is set
/// well above that and above hyper's 16 KiB default, so an answer a little
/// larger than intended still reaches a caller who can take it, while a
/// runaway one cannot make the gateway buffer without bound.
pub const MAX_UPSTREAM_HEADER_BYTES: u32 = 64 * 1024;

/// A call's path, `/asurso.gradebook.v1.DiaryService/GetDiaryWeek`, in parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodPath<'a> {
    /// `asurso.gradebook.v1.DiaryService`
    pub service: &'a str,
    /// `GetDiaryWeek`
    pub method: &'a str,
    /// `asurso.gradebook.v1`
    pub package: &'a str,
}

impl<'a> MethodPath<'a> {
    pub fn parse(path: &'a str) -> Option<Self> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let (package, name) = service.rsplit_once('.')?;
        let plain = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        if !(plain(package) && plain(name) && plain(method)) || method.contains('.') {
            return None;
        }
        Some(Self {
            service,
            method,
            package,
        })
    }
}

/// A service behind the gateway.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub channel: Channel,
}

/// Package → upstream.
#[derive(Debug)]
pub struct Upstreams {
    by_package: HashMap<String, Upstream>,
}

impl Upstreams {
    /// Channels connect lazily: the gateway starts (and answers UNAVAILABLE
    /// for a service not up yet) in any order with the services.
    pub fn new(
        routes: &[RouteSettings],
        addresses: &BTreeMap<String, String>,
    ) -> Result<Self, GatewayError> {
        let mut channels: HashMap<&str, Channel> = HashMap::new();
        let mut by_package = HashMap::new();
        for route in routes {
            let address = addresses.get(&route.upstream).ok_or_else(|| {
                GatewayError::Settings(format!(
                    "routes: package {} names upstream {:?}, which upstreams does not list",
                    route.package, route.upstream
                ))
            })?;
            let channel = match channels.get(route.upstream.as_str()) {
                Some(channel) => channel.clone(),
                None => {
                    let channel = Endpoint::from_shared(address.clone())
                        .map_err(|error| {
                            GatewayError::Settings(format!("upstreams.{}: {error}", route.upstream))
                        })?
                        .connect_timeout(Duration::from_secs(2))
                        .http2_max_header_list_size(MAX_UPSTREAM_HEADER_BYTES)
                        .tcp_nodelay(true)
                        .http2_keep_alive_interval(Duration::from_secs(30))
                        .keep_alive_while_idle(true)
                        .connect_lazy();
                    channels.insert(&route.upstream, channel.clone());
                    channel
                }
            };
            let upstream = Upstream {
                name: route.upstream.clone(),
                channel,
            };
            if by_package.insert(route.package.clone(), upstream).is_some() {
                return Err(GatewayError::Settings(format!(
                    "routes: package {} is routed twice",
                    route.package
                )));
            }
        }
        Ok(Self { by_package })
    }

    pub fn of(&self, package: &str) -> Option<&Upstream> {
        self.by_package.get(package)
    }

    /// Mirrors each upstream's health onto the names of the services it
    /// serves, so a health check of `asurso.gradebook.v1.DiaryService` at the
    /// gateway says whether such calls can be answered now.
    pub async fn report_health(&self, reporter: &HealthReporter) {
        for (package, upstream) in &self.by_package {
            let answer = tokio::time::timeout(
                Duration::from_secs(2),
                HealthClient::new(upstream.channel.clone()).check(HealthCheckRequest {
                    service: String::new(),
                }),
            )
            .await;
            let serving = matches!(
                answer,
                Ok(Ok(ref response))
                    if response.get_ref().status() == health_check_response::ServingStatus::Serving
            );
            let status = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            for service in services_of(package) {
                reporter.set_service_status(service, status).await;
            }
        }
    }
}

/// Every service of the public API, by package, as compiled into the proto
/// crate.
pub fn public_services() -> &'static BTreeMap<String, Vec<String>> {
    static SERVICES: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let mut services: BTreeMap<String, Vec<String>> = BTreeMap::new();
        // Compiled in by the proto crate's build: decoding cannot fail for a
        // set that built; an empty map would only refuse every call.
        if let Ok(set) = prost_types::FileDescriptorSet::decode(asurso_proto::FILE_DESCRIPTOR_SET) {
            for file in set.file {
                let package = file.package().to_owned();
                for service in file.service {
                    let name = format!("{package}.{}", service.name());
                    let methods = service
                        .method
                        .iter()
                        .map(|method| format!("{name}/{}", method.name()));
                    services.entry(package.clone()).or_default().extend(methods);
                }
            }
        }
        services
    })
}

/// The full names of the services in `package`.
pub fn services_of(package: &str) -> Vec<String> {
    let mut names: Vec<String> = public_services()
        .get(package)
        .into_iter()
        .flatten()
        .filter_map(|method| {
            method
                .split_once('/')
                .map(|(service, _)| service.to_owned())
        })
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_split_into_package_service_and_method() {
        let path = MethodPath::parse("/asurso.gradebook.v1.DiaryService/GetDiaryWeek");
        assert_eq!(
            path,
            Some(MethodPath {
                service: "asurso.gradebook.v1.DiaryService",
                method: "GetDiaryWeek",
                package: "asurso.gradebook.v1",
            })
        );
        for bad in [
            "",
            "/",
            "/DiaryService/GetDiaryWeek",
            "/asurso.gradebook.v1.DiaryService",
            "/asurso.gradebook.v1.DiaryService/",
            "/asurso.gradebook.v1.DiaryService/Get/Week",
            "/asurso.gradebook.v1.DiaryService/Get.Week",
            "/asurso gradebook.v1.DiaryService/GetDiaryWeek",
            "asurso.gradebook.v1.DiaryService/GetDiaryWeek",
        ] {
            assert_eq!(MethodPath::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_public_api_is_read_from_the_contracts() {
        let gradebook = services_of("asurso.gradebook.v1");
        assert!(gradebook.contains(&"asurso.gradebook.v1.DiaryService".to_owned()));
        assert!(services_of("asurso.events.v1").is_empty());
    }

    #[test]
    fn a_route_to_an_unknown_upstream_is_a_settings_error() {
        let routes = [RouteSettings {
            package: "asurso.gradebook.v1".into(),
            upstream: "gradbook".into(),
        }];
        let error = Upstreams::new(&routes, &BTreeMap::new())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("\"gradbook\""), "{error}");
    }
}
