//! System tools some tests drive (a browser, a log shipper, an OSCAL
//! validator), installed by `.ci/tools`. Without one, such a test says it
//! skipped and passes — unless `RUNSHEET_TEST_TOOLS=required` (set by
//! `.ci/run`), when the missing tool fails it.

use std::path::{Path, PathBuf};

/// Where `.ci/tools` puts what does not come from the distribution (a Python
/// virtual environment with the validators): `$RUNSHEET_TOOLS`, or
/// `/opt/runsheet-tools`.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("RUNSHEET_TOOLS")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/opt/runsheet-tools"), PathBuf::from)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program `name`: from the tools' virtual environment, `/usr/sbin`
/// (rsyslogd), or `PATH`. `None` (after saying the test skipped) when it is
/// not installed and tools are not required; a panic naming `.ci/tools`
/// when they are.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let venv = tools_dir().join("venv/bin").join(name);
    let sbin = Path::new("/usr/sbin").join(name);
    let found = [venv, sbin]
        .into_iter()
        .find(|p| is_executable(p))
        .or_else(|| on_path(name));
    if found.is_none() {
        let required = std::env::var("RUNSHEET_TEST_TOOLS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "{test}: `{name}` is not installed; run .ci/tools (as root) to install the tools the tests drive"
        );
        eprintln!(
            "SKIPPED {test}: `{name}` is not installed (run .ci/tools as root to install it)"
        );
    }
    found
}
