//! Local helpers shared by the dev-tools binaries and the tests: the table's stream read back
//! from DynamoDB Local and delivered to `session-events` as Lambda's event source mapping
//! delivers it ([`stream`], [`pump`]).

pub mod pump;
pub mod stream;
