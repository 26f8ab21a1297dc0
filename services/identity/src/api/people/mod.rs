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
        asurso_runtime::handle!(self.0, request, register::register_person)
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        asurso_runtime::handle!(self.0, request, register::get_person)
    }

    async fn update_person(
        &self,
        request: Request<pb::UpdatePersonRequest>,
    ) -> Result<Response<pb::UpdatePersonResponse>, Status> {
        asurso_runtime::handle!(self.0, request, register::update_person)
    }

    async fn import_people(
        &self,
        request: Request<pb::ImportPeopleRequest>,
    ) -> Result<Response<pb::ImportPeopleResponse>, Status> {
        asurso_runtime::handle!(self.0, request, import::import_people)
    }

    async fn link_guardian(
        &self,
        request: Request<pb::LinkGuardianRequest>,
    ) -> Result<Response<pb::LinkGuardianResponse>, Status> {
        asurso_runtime::handle!(self.0, request, guardians::link_guardian)
    }

    async fn unlink_guardian(
        &self,
        request: Request<pb::UnlinkGuardianRequest>,
    ) -> Result<Response<pb::UnlinkGuardianResponse>, Status> {
        asurso_runtime::handle!(self.0, request, guardians::unlink_guardian)
    }

    async fn list_children(
        &self,
        request: Request<pb::ListChildrenRequest>,
    ) -> Result<Response<pb::ListChildrenResponse>, Status> {
        asurso_runtime::handle!(self.0, request, guardians::list_children)
    }
}
