//! A run as a pure state machine: `decide(run, command, meta) -> events`, then
//! `apply(run, event)` once the events are durable. Resume replays stored events
//! through the same `apply`, so it cannot drift from the live path.
//!
//! May not depend on rusqlite, ratatui, crossterm, the system clock or any IO.

mod action;
mod event;
mod run;

pub use action::{Action, Refusal};
pub use event::*;
pub use run::*;

#[cfg(test)]
mod tests;
