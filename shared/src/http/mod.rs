//! HTTP: request parsing (cookie, bearer, JSON body), routes, responses and the handlers the
//! functions run. `ApiError` is the only place errors become status codes.

pub mod authorizer;
pub mod cookies;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod handlers;
pub mod origin;
mod request;
mod response;
mod routes;

pub use error::ApiError;
pub use request::{Credential, Transport};
pub use response::SessionBody;
pub use routes::{Matched, Route};
