//! The one integration-test binary: runs the real `runsheet` binary as a user would.
//! Each area has its own module below.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anchor;
mod audit;
mod change_notice;
mod cli;
mod clock;
mod common;
mod crash;
mod custody;
mod damage;
mod ecosystem;
mod evidence;
mod evidence_schema;
mod evlink;
mod faults;
mod feed;
mod feed_ocsf;
mod forge;
mod history;
mod injection;
mod json_outputs;
mod lint;
mod oscal;
mod output;
mod packet;
mod paper;
mod redaction;
mod reliability;
mod safe_runs;
mod sign_off;
mod spreadsheet;
mod tamper;
mod tui_e2e;
mod window;
mod witness;
