//! Procedure render (skeleton).
