//! Unit tests of the witness state.
