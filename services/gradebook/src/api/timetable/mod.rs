//! The bell schedule (`bells`), a class's weekly timetable
//! (`class_timetable`) and the lessons laid out from it (`layout`),
//! lessons scheduled and changed one by one (`lessons`), and the
//! timetable of a class, teacher or student (`view`). Here each call is
//! only authenticated and handed to its handler, whose error becomes the
//! gRPC status.

mod bells;
mod class_timetable;
mod layout;
mod lessons;
mod view;

use asurso_proto::gradebook as pb;
use tonic::{Request, Response, Status};

use super::Shared;

pub use lessons::lesson_status;

pub struct TimetableApi(pub Shared);

#[tonic::async_trait]
impl pb::timetable_service_server::TimetableService for TimetableApi {
    async fn set_bell_schedule(
        &self,
        request: Request<pb::SetBellScheduleRequest>,
    ) -> Result<Response<pb::SetBellScheduleResponse>, Status> {
        asurso_runtime::handle!(self.0, request, bells::set_bell_schedule)
    }

    async fn get_bell_schedule(
        &self,
        request: Request<pb::GetBellScheduleRequest>,
    ) -> Result<Response<pb::GetBellScheduleResponse>, Status> {
        asurso_runtime::handle!(self.0, request, bells::get_bell_schedule)
    }

    async fn set_class_timetable(
        &self,
        request: Request<pb::SetClassTimetableRequest>,
    ) -> Result<Response<pb::SetClassTimetableResponse>, Status> {
        asurso_runtime::handle!(self.0, request, class_timetable::set_class_timetable)
    }

    async fn get_class_timetable(
        &self,
        request: Request<pb::GetClassTimetableRequest>,
    ) -> Result<Response<pb::GetClassTimetableResponse>, Status> {
        asurso_runtime::handle!(self.0, request, class_timetable::get_class_timetable)
    }

    async fn schedule_lesson(
        &self,
        request: Request<pb::ScheduleLessonRequest>,
    ) -> Result<Response<pb::ScheduleLessonResponse>, Status> {
        asurso_runtime::handle!(self.0, request, lessons::schedule_lesson)
    }

    async fn change_lesson(
        &self,
        request: Request<pb::ChangeLessonRequest>,
    ) -> Result<Response<pb::ChangeLessonResponse>, Status> {
        asurso_runtime::handle!(self.0, request, lessons::change_lesson)
    }

    async fn get_timetable(
        &self,
        request: Request<pb::GetTimetableRequest>,
    ) -> Result<Response<pb::GetTimetableResponse>, Status> {
        asurso_runtime::handle!(self.0, request, view::get_timetable)
    }
}
