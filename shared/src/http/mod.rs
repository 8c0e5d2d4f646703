//! HTTP: API Gateway's events read into requests and answers written back (`gateway`), request
//! parsing (cookie, bearer, origin, JSON bodies), routes, and response building (session JSON,
//! cookies, CORS, the authorizer's answer). [`ApiError`] is the only place errors become status
//! codes.
//!
//! Above `session` (it maps the operations' errors to statuses) and below the handlers: it
//! parses and builds, and calls no operation itself.

pub mod authorizer;
pub(crate) mod bodies;
pub mod cookies;
mod error;
pub(crate) mod form;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod origin;
pub(crate) mod paging;
pub(crate) mod request;
pub(crate) mod response;
mod routes;
mod settings;

pub use error::ApiError;
pub use request::{Credential, Transport};
pub use response::SessionBody;
pub use routes::{Matched, Route};
pub use settings::HttpSettings;
