//! Local helpers shared by the dev-tools binaries and the tests: the table's stream read back
//! from DynamoDB Local and delivered to `session-events` as Lambda's event source mapping
//! delivers it ([`stream`], [`pump`]); the webhook queues on moto and the stand-in for their
//! event source mapping ([`queue`]); replaying the webhooks of the failure queue ([`replay`]).

pub mod invoke;
pub mod pump;
pub mod queue;
pub mod replay;
pub mod stream;
