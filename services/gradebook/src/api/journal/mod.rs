//! The journal a teacher keeps: assignments with attachments
//! (`assignments`), marks with their history (`marks`), term and final
//! marks (`term_marks`). Here each call is only authenticated and handed
//! to its handler, whose error becomes the gRPC status.

mod assignments;
mod marks;
mod term_marks;

use asurso_proto::gradebook as pb;
use tonic::{Request, Response, Status};

use super::Shared;

pub use assignments::{assignment_type, attachment_info, attachments_by_assignment};
pub use marks::{mark_value, stored_value};

pub struct JournalApi(pub Shared);

#[tonic::async_trait]
impl pb::journal_service_server::JournalService for JournalApi {
    async fn list_assignment_types(
        &self,
        request: Request<pb::ListAssignmentTypesRequest>,
    ) -> Result<Response<pb::ListAssignmentTypesResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assignments::list_assignment_types)
    }

    async fn create_assignment(
        &self,
        request: Request<pb::CreateAssignmentRequest>,
    ) -> Result<Response<pb::CreateAssignmentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assignments::create_assignment)
    }

    async fn change_assignment(
        &self,
        request: Request<pb::ChangeAssignmentRequest>,
    ) -> Result<Response<pb::ChangeAssignmentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assignments::change_assignment)
    }

    async fn list_assignments(
        &self,
        request: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assignments::list_assignments)
    }

    async fn add_attachment(
        &self,
        request: Request<pb::AddAttachmentRequest>,
    ) -> Result<Response<pb::AddAttachmentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assignments::add_attachment)
    }

    async fn get_attachment(
        &self,
        request: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<pb::GetAttachmentResponse>, Status> {
        asurso_runtime::handle!(self.0, request, assignments::get_attachment)
    }

    async fn set_marks(
        &self,
        request: Request<pb::SetMarksRequest>,
    ) -> Result<Response<pb::SetMarksResponse>, Status> {
        asurso_runtime::handle!(self.0, request, marks::set_marks)
    }

    async fn get_mark_history(
        &self,
        request: Request<pb::GetMarkHistoryRequest>,
    ) -> Result<Response<pb::GetMarkHistoryResponse>, Status> {
        asurso_runtime::handle!(self.0, request, marks::get_mark_history)
    }

    async fn get_term_mark_sheet(
        &self,
        request: Request<pb::GetTermMarkSheetRequest>,
    ) -> Result<Response<pb::GetTermMarkSheetResponse>, Status> {
        asurso_runtime::handle!(self.0, request, term_marks::get_term_mark_sheet)
    }

    async fn set_term_marks(
        &self,
        request: Request<pb::SetTermMarksRequest>,
    ) -> Result<Response<pb::SetTermMarksResponse>, Status> {
        asurso_runtime::handle!(self.0, request, term_marks::set_term_marks)
    }
}
