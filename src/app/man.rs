//! Man pages: runsheet(1) and a page per command (runsheet-run(1) …, the
//! witness and custodian commands' own too), each with what clap knows of
//! the options, then ENVIRONMENT, FILES, EXIT STATUS, EXAMPLES and SEE ALSO.

use std::path::Path;

use roff::{Roff, bold, italic, roman};

use crate::error::{Error, Result, code};

/// The environment variables runsheet reads, and what for.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("RUNSHEET_DB", "the evidence log (--db)"),
    (
        "RUNSHEET_PROCEDURES",
        "the procedures folder (--procedures)",
    ),
    (
        "RUNSHEET_KEY_FILE",
        "the log's signing key file (--key-file)",
    ),
    ("RUNSHEET_CONFIG", "the configuration file (--config)"),
    (
        "RUNSHEET_OPERATOR",
        "your display name, recorded beside your OS user (--operator)",
    ),
    (
        "RUNSHEET_ALLOWED_SIGNERS",
        "the allowed-signers file sign-offs are checked against (--allowed-signers)",
    ),
    (
        "RUNSHEET_BUSY_TIMEOUT_MS",
        "how long a write waits for another runsheet process, in milliseconds (default 5000; anything but a whole number is an error)",
    ),
    ("NO_COLOR", "no colours (as --no-color)"),
    (
        "SUDO_USER, SUDO_UID",
        "set by sudo: when sudo (as root) started runsheet, the user it ran it for is the operator or signer",
    ),
];

/// The files runsheet reads and writes.
const FILES: &[(&str, &str)] = &[
    (
        "~/.config/runsheet/config.toml",
        "the configuration file (the platform config directory's runsheet/config.toml)",
    ),
    (
        "~/.local/share/runsheet/evidence.sqlite3",
        "the default evidence log (the platform data directory's)",
    ),
    ("LOG.key", "the log's signing key, mode 0600 (--key-file)"),
    ("LOG.leases/", "one lock file per run being driven"),
    (
        "LOG.drafts/",
        "drafts of notes being written, until recorded",
    ),
    (
        "./procedures/",
        "the procedures folder when it exists (else the platform config directory's runsheet/procedures)",
    ),
    (
        "PROCEDURES/allowed_signers",
        "who may sign off in which role (git's allowed-signers format)",
    ),
];

/// Every page: (file name, roff text).
pub fn pages(cmd: clap::Command) -> Vec<(String, String)> {
    let mut out = Vec::new();
    collect(&cmd, None, &mut out);
    out
}

fn collect(cmd: &clap::Command, top: Option<&str>, out: &mut Vec<(String, String)>) {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string();
    out.push((format!("{name}.1"), page(cmd, top)));
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let top = top.unwrap_or_else(|| sub.get_name());
        collect(sub, Some(top), out);
    }
}

/// One page; `top` is the runsheet command it belongs to (none: runsheet(1)).
fn page(cmd: &clap::Command, top: Option<&str>) -> String {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    for render in [
        clap_mangen::Man::render_title,
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ] {
        // Writing into memory cannot fail.
        let _ = render(&man, &mut buf);
    }
    if cmd.get_subcommands().next().is_some() {
        let _ = man.render_subcommands_section(&mut buf);
    }
    let mut roff = Roff::new();
    section(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    section(&mut roff, "FILES", FILES);
    let codes: Vec<(String, &str)> = code::ALL.iter().map(|(c, w)| (c.to_string(), *w)).collect();
    let codes: Vec<(&str, &str)> = codes.iter().map(|(c, w)| (c.as_str(), *w)).collect();
    section(&mut roff, "EXIT STATUS", &codes);
    let examples = crate::cli::help::examples(top.unwrap_or("run"));
    let examples: Vec<(&str, &str)> = match top {
        // runsheet(1): one example of each command that has some.
        None => crate::cli::help::EXAMPLES
            .iter()
            .filter_map(|(_, e)| e.first().copied())
            .collect(),
        Some(_) => examples.to_vec(),
    };
    if !examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for (line, what) in examples {
            roff.control("TP", []);
            roff.text([bold(line)]);
            roff.text([roman(what)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let see: Vec<String> = match top {
        None => crate::cli::help::EXAMPLES
            .iter()
            .map(|(n, _)| format!("runsheet-{n}(1)"))
            .collect(),
        Some(_) => vec!["runsheet(1)".into()],
    };
    roff.text([roman(see.join(", "))]);
    roff.text([
        roman(". The documentation: "),
        italic("docs/"),
        roman(" in runsheet's source."),
    ]);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push_str(&roff.to_roff());
    text
}

/// A section of tagged paragraphs.
fn section(roff: &mut Roff, title: &str, rows: &[(&str, &str)]) {
    roff.control("SH", [title]);
    for (tag, text) in rows {
        roff.control("TP", []);
        roff.text([bold(*tag)]);
        roff.text([roman(*text)]);
    }
}

/// Write every page into `dir` (created if missing; pages there are replaced).
pub fn write_all(cmd: clap::Command, dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
    let mut names = Vec::new();
    for (name, text) in pages(cmd) {
        let path = dir.join(&name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, &e))?;
        names.push(name);
    }
    Ok(names)
}
