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
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            bells::set_bell_schedule(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    async fn get_bell_schedule(
        &self,
        request: Request<pb::GetBellScheduleRequest>,
    ) -> Result<Response<pb::GetBellScheduleResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            bells::get_bell_schedule(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    async fn set_class_timetable(
        &self,
        request: Request<pb::SetClassTimetableRequest>,
    ) -> Result<Response<pb::SetClassTimetableResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            class_timetable::set_class_timetable(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    async fn get_class_timetable(
        &self,
        request: Request<pb::GetClassTimetableRequest>,
    ) -> Result<Response<pb::GetClassTimetableResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            class_timetable::get_class_timetable(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    async fn schedule_lesson(
        &self,
        request: Request<pb::ScheduleLessonRequest>,
    ) -> Result<Response<pb::ScheduleLessonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            lessons::schedule_lesson(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    async fn change_lesson(
        &self,
        request: Request<pb::ChangeLessonRequest>,
    ) -> Result<Response<pb::ChangeLessonResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            lessons::change_lesson(&self.0, &caller, request.into_inner()).await?,
        ))
    }

    async fn get_timetable(
        &self,
        request: Request<pb::GetTimetableRequest>,
    ) -> Result<Response<pb::GetTimetableResponse>, Status> {
        let caller = self.0.caller(&request).await?;
        Ok(Response::new(
            view::get_timetable(&self.0, &caller, request.into_inner()).await?,
        ))
    }
}
