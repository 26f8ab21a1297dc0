//! The contracts of ASU RSO: prost messages and tonic clients and servers
//! generated from the `.proto` files beside this crate, one module per proto
//! package (`asurso::gradebook::v1`, `asurso::events::v1`, ...).
//!
//! Generated code lives in OUT_DIR and is never edited or committed; this
//! crate holds no logic of its own beyond naming what was generated.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/asurso.rs"));

/// The encoded `FileDescriptorSet` of every contract (well-known imports
/// included), served by gRPC reflection so `grpcurl` can list and call the API.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/asurso_descriptor.bin"));

pub use asurso::attendance::v1 as attendance;
pub use asurso::common::v1 as common;
pub use asurso::events::v1 as events;
pub use asurso::gradebook::v1 as gradebook;
pub use asurso::identity::v1 as identity;
pub use asurso::messaging::v1 as messaging;
pub use asurso::notifications::v1 as notifications;
