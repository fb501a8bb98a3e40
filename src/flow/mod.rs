//! The ground-floor plumbing every stage uses and none of them owns.
//!
//! - [`ack`]: delivery acknowledgements, how an input learns that a record's outcome has left
//!   the daemon (the at-least-once contract).
//! - [`channel`]: bounded, metered channels, the only kind of edge in the stage graph.
//! - [`retry`]: the one retry/backoff policy (`Retry-After` aware) of every outbound call:
//!   webhook and broker outputs, dead-letter brokers, intel fan-out, the LLM worker.
//!
//! Nothing here knows a wire format, a rule or a verdict; the stages above import it and the
//! [`crate::pipeline`] wires them together with it.

pub mod ack;
pub mod channel;
pub mod retry;
