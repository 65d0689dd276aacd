//! (skeleton; see docs/ARCHITECTURE.md)
