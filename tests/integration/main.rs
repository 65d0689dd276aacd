//! The one integration-test binary: runs the real `runsheet` binary as a user would.
//! Each area has its own module below.

mod common;
mod lint;
