//! The one call into the kernel the crate makes itself: `adjtimex(2)` with no
//! modes set, which only reads the clock's state (docs/adr/0001).
//!
//! May not depend on anything in the crate.

/// What the kernel reported.
pub struct KernelClock {
    pub synchronized: bool,
    pub max_error_us: i64,
    pub est_error_us: i64,
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
// `c_long` is i64 only on 64-bit targets: the conversion is not useless on all.
#[allow(clippy::useless_conversion)]
pub fn read() -> Result<KernelClock, String> {
    // SAFETY: `timex` is a plain C struct of integers; all zeroes is a valid
    // value and, with `modes == 0`, the documented read-only query. The kernel
    // only writes into the struct we own for the duration of the call.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(format!(
            "adjtimex failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(KernelClock {
        synchronized: state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0,
        max_error_us: i64::from(tx.maxerror),
        est_error_us: i64::from(tx.esterror),
    })
}

#[cfg(not(target_os = "linux"))]
pub fn read() -> Result<KernelClock, String> {
    Err("this system's clock state is read only on Linux".into())
}
