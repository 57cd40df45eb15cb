//! Hotmart postback v2 decoding, without I/O: the wire format the api's
//! receiver checks and the worker's applier applies.
//!
//! Two layers. [`parse_envelope`] checks only what the webhook receiver needs to
//! authenticate and dedupe, because the receiver must answer within milliseconds;
//! [`decode`] turns a stored envelope into a typed [`HotmartEvent`] for the job
//! that applies it to the domain.
//!
//! Hotmart's payloads vary between accounts and over time (ids as numbers or
//! strings, dates as epoch milliseconds or ISO-8601, "CANCELED" and "CANCELLED",
//! payment links under changing names), so the scalar helpers accept every shape
//! seen. A field is an error only when the event cannot be applied without it,
//! and errors name the field, never its value: payloads carry personal data.

mod decode;
mod envelope;
mod event;
mod scalars;
mod vocabulary;

pub use self::decode::*;
pub use self::envelope::*;
pub use self::event::*;
pub use self::scalars::*;
pub use self::vocabulary::*;

#[cfg(test)]
mod tests;
