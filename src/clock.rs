//! Clock provenance (ISO/IEC 27001:2022 A.8.17): what the kernel says about the
//! system clock's synchronisation when a session starts, so an auditor can judge
//! the timestamps recorded after it.
//!
//! May not depend on the store, the engine, the front ends or the exports.

mod kernel;

use serde::{Deserialize, Serialize};

/// The system clock's state as the kernel reports it (`adjtimex(2)`, read only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClockState {
    /// Where the state came from: `adjtimex` or `unavailable`.
    pub source: String,
    /// True when the kernel says the clock is synchronised (no `STA_UNSYNC`,
    /// state not `TIME_ERROR`); false when it says it is not; `None` when it
    /// could not be asked.
    pub synchronized: Option<bool>,
    /// The kernel's maximum error bound, in microseconds (it grows by 500 ppm
    /// while nothing disciplines the clock, up to 16 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_error_us: Option<i64>,
    /// The kernel's estimated error, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub est_error_us: Option<i64>,
    /// Why the state could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ClockState {
    /// One line for people: `synchronised (max error 12.5 ms, estimated 0.3 ms)`.
    pub fn describe(&self) -> String {
        let errors = match (self.max_error_us, self.est_error_us) {
            (Some(max), Some(est)) => format!(
                " (max error {}, estimated {})",
                micros_text(max),
                micros_text(est)
            ),
            _ => String::new(),
        };
        match self.synchronized {
            Some(true) => format!("synchronised{errors}"),
            Some(false) => format!("NOT synchronised{errors}"),
            None => format!(
                "unknown ({})",
                self.error.as_deref().unwrap_or("not reported")
            ),
        }
    }
}

fn micros_text(us: i64) -> String {
    if us.abs() >= 1_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else if us.abs() >= 1_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// Ask the kernel now. Never fails: an unanswerable question is recorded as such.
pub fn kernel_state() -> ClockState {
    match kernel::read() {
        Ok(k) => ClockState {
            source: "adjtimex".into(),
            synchronized: Some(k.synchronized),
            max_error_us: Some(k.max_error_us),
            est_error_us: Some(k.est_error_us),
            error: None,
        },
        Err(e) => ClockState {
            source: "unavailable".into(),
            synchronized: None,
            max_error_us: None,
            est_error_us: None,
            error: Some(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_answers_on_linux() {
        let s = kernel_state();
        if cfg!(target_os = "linux") {
            assert_eq!(s.source, "adjtimex", "{s:?}");
            assert!(s.synchronized.is_some());
            assert!(s.max_error_us.is_some_and(|m| m >= 0), "{s:?}");
        }
    }

    #[test]
    fn descriptions_say_what_the_kernel_said() {
        let mut s = ClockState {
            source: "adjtimex".into(),
            synchronized: Some(true),
            max_error_us: Some(12_500),
            est_error_us: Some(300),
            error: None,
        };
        assert_eq!(
            s.describe(),
            "synchronised (max error 12.5 ms, estimated 300 µs)"
        );
        s.synchronized = Some(false);
        s.max_error_us = Some(16_000_000);
        assert_eq!(
            s.describe(),
            "NOT synchronised (max error 16.0 s, estimated 300 µs)"
        );
        let u = ClockState {
            source: "unavailable".into(),
            synchronized: None,
            max_error_us: None,
            est_error_us: None,
            error: Some("not Linux".into()),
        };
        assert_eq!(u.describe(), "unknown (not Linux)");
        assert_eq!(
            serde_json::to_string(&u).expect("json"),
            r#"{"source":"unavailable","synchronized":null,"error":"not Linux"}"#
        );
    }
}
