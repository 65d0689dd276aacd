//! run state (todo)
