//! Procedure parsing (skeleton).
