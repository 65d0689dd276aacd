//! Procedures: the model, parsing TOML/JSON with source locations, lint, render
//! and the step-aware diff between two versions.
//!
//! May not depend on the engine, the store, the TUI or the exports.

pub mod diff;
pub mod lint;
pub mod model;
pub mod parse;
pub mod render;
pub mod template;
#[cfg(test)]
pub(crate) mod test_support;

pub use model::*;
