//! Chatwoot in the background: the [`applier`] applies stored deliveries
//! (labels become conversation tags, customers remember their
//! conversation); [`labels`] speaks Chatwoot's labels API and runs the
//! jobs that put labels on a customer's conversation.

pub mod applier;
pub mod labels;
