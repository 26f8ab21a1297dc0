//! The gateway over real sockets, in front of identity and the gradebook on
//! real PostgreSQL and NATS, with the development ESIA for browser logins.

mod browser;
mod edge;
mod support;
mod webapi;
