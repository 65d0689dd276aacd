//! Procedure lint (skeleton).
