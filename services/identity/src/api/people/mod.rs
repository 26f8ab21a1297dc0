//! People, guardian links and the CSV import: the gRPC service, each call
//! handed to the module that owns it.

mod guardians;
mod import;
mod register;
mod view;

use asurso_proto::identity as pb;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use super::Shared;

pub use import::{MAX_CSV_BYTES, MAX_CSV_ROWS};
pub use view::{audit_read, person_view};

pub struct PeopleApi(pub Shared);

fn today() -> time::Date {
    OffsetDateTime::now_utc().date()
}

#[tonic::async_trait]
impl pb::people_service_server::PeopleService for PeopleApi {
    async fn register_person(
        &self,
        request: Request<pb::RegisterPersonRequest>,
    ) -> Result<Response<pb::RegisterPersonResponse>, Status> {
        register::register_person(&self.0, request).await
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        register::get_person(&self.0, request).await
    }

    async fn update_person(
        &self,
        request: Request<pb::UpdatePersonRequest>,
    ) -> Result<Response<pb::UpdatePersonResponse>, Status> {
        register::update_person(&self.0, request).await
    }

    async fn import_people(
        &self,
        request: Request<pb::ImportPeopleRequest>,
    ) -> Result<Response<pb::ImportPeopleResponse>, Status> {
        import::import_people(&self.0, request).await
    }

    async fn link_guardian(
        &self,
        request: Request<pb::LinkGuardianRequest>,
    ) -> Result<Response<pb::LinkGuardianResponse>, Status> {
        guardians::link_guardian(&self.0, request).await
    }

    async fn unlink_guardian(
        &self,
        request: Request<pb::UnlinkGuardianRequest>,
    ) -> Result<Response<pb::UnlinkGuardianResponse>, Status> {
        guardians::unlink_guardian(&self.0, request).await
    }

    async fn list_children(
        &self,
        request: Request<pb::ListChildrenRequest>,
    ) -> Result<Response<pb::ListChildrenResponse>, Status> {
        guardians::list_children(&self.0, request).await
    }
}
