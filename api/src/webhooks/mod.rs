//! Webhook receivers: authenticate, store the raw event, answer fast. The
//! domain work happens in the worker.

pub mod chatwoot;
pub mod hotmart;
pub mod intake;
pub mod whatsapp;
