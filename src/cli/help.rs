//! What the command line says about itself beyond the derive definitions:
//! each command's examples (in its `--help`, after the options, and in its
//! man page), and which global options mean nothing to a command (not shown
//! in its help; `--json` is refused there).
//!
//! May not depend on any other module of the crate.

/// Commands that print no data: `--json` is refused and not shown for them.
pub const NO_JSON: &[&str] = &[
    "run",
    "resume",
    "new",
    "render",
    "man",
    "completions",
    "sign-off-text",
    "sign-off",
    "approve",
    "review",
    "prove",
    "anchor",
    "cosign",
    "redact",
    "feed",
];

/// The `--json` outputs with a schema (`runsheet schema OUTPUT`, docs/json/).
pub const JSON_OUTPUTS: &[&str] = &[
    "lint",
    "list",
    "runs",
    "show",
    "status",
    "history",
    "diff",
    "training",
    "verify",
    "checkpoint",
    "key",
    "export",
    "verify-bundle",
    "config",
    "custodian-init",
    "custodian-add",
    "custodian-list",
    "witness-status",
    "error",
];

/// The bundle file whose schema `runsheet schema` also prints (beside the
/// `--json` outputs): evidence.json (docs/json/evidence.schema.json).
pub const EVIDENCE_SCHEMA: &str = "evidence";

/// Commands that never open the evidence log: `--db` and `--key-file` are
/// not shown for them.
pub const NO_LOG: &[&str] = &["render", "new", "schema", "man", "completions"];

/// Each command's examples: the command line, and what it does.
pub const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "lint",
        &[
            (
                "runsheet lint",
                "check every procedure in the procedures folder",
            ),
            (
                "runsheet lint procedures/backup-customer-data.toml --strict",
                "one file; warnings (an overdue review) fail too",
            ),
        ],
    ),
    (
        "list",
        &[
            (
                "runsheet list",
                "the procedures, their versions and review dates",
            ),
            (
                "runsheet --json list | jq -r '.[].id'",
                "their ids, for a script",
            ),
        ],
    ),
    (
        "render",
        &[
            (
                "runsheet render backup-customer-data --format html --out backup.html",
                "the procedure as a document for its review",
            ),
            (
                "runsheet render incident-triage -f mermaid",
                "its flow as a Mermaid chart",
            ),
            (
                "runsheet render backup-customer-data --diff 1.1 -f html --out change.html",
                "what changed since version 1.1, for the ISMS change record",
            ),
        ],
    ),
    (
        "new",
        &[(
            "runsheet new patch-database",
            "a commented starter procedure in the procedures folder",
        )],
    ),
    (
        "schema",
        &[(
            "runsheet schema > procedure.schema.json",
            "the JSON Schema, for an editor's completion and checks",
        )],
    ),
    (
        "config",
        &[
            ("runsheet config", "every setting, and where it came from"),
            ("runsheet --json config", "the same as JSON"),
        ],
    ),
    (
        "run",
        &[
            (
                "runsheet run backup-customer-data",
                "the nightly backup, full-screen",
            ),
            (
                "runsheet run onboarding-new-hire --operator 'Alice Example'",
                "with your display name recorded beside your OS user",
            ),
            (
                "runsheet run backup-customer-data --plain",
                "line by line (a serial console, a screen reader, a script)",
            ),
        ],
    ),
    (
        "resume",
        &[
            ("runsheet resume", "your most recent open run"),
            (
                "runsheet resume 01a2351c",
                "a run, by a unique start of its id",
            ),
            (
                "runsheet resume 01a2351c --take-over --reason 'Bob went home sick'",
                "take over another operator's run (recorded as a handover)",
            ),
        ],
    ),
    (
        "runs",
        &[
            ("runsheet runs --open", "the runs still open"),
            (
                "runsheet runs --procedure backup-customer-data --since 2026-11-01 --limit 10",
                "the ten newest backup runs since November",
            ),
            (
                "runsheet --json runs --status failed",
                "the failed runs, as JSON",
            ),
        ],
    ),
    (
        "show",
        &[
            ("runsheet show 01a2351c", "one run's timeline"),
            ("runsheet --json show 01a2351c", "its events, as JSON"),
        ],
    ),
    (
        "history",
        &[
            (
                "runsheet history restore-test",
                "every version: approvals, reviews, runs, and which is the file",
            ),
            ("runsheet --json history restore-test", "the same as JSON"),
        ],
    ),
    (
        "diff",
        &[
            (
                "runsheet diff restore-test",
                "what changed from the previous version to the file",
            ),
            (
                "runsheet diff restore-test run:01a2351c current",
                "since the version an old run used",
            ),
            (
                "runsheet diff restore-test 1.1 1.2 --format html --out change-1.2.html",
                "the change record, for the ISMS",
            ),
        ],
    ),
    (
        "sign-off-text",
        &[(
            "runsheet sign-off-text 01a2351c | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n runsheet-signoff@team-lead > signoff.sig",
            "sign the waiting step off with your SSH key",
        )],
    ),
    (
        "sign-off",
        &[
            (
                "runsheet sign-off 01a2351c",
                "sign the run's waiting step off as your own login",
            ),
            (
                "runsheet sign-off 01a2351c --signature signoff.sig",
                "hand in an SSH signature instead",
            ),
        ],
    ),
    (
        "approve",
        &[
            (
                "runsheet approve backup-customer-data",
                "approve the file's exact content as your login (an approver in allowed_signers)",
            ),
            (
                "runsheet approve backup-customer-data --text | ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n runsheet-signoff@approver > approval.sig",
                "sign the approval text with your SSH key",
            ),
            (
                "runsheet approve backup-customer-data --signature approval.sig",
                "record the SSH-signed approval",
            ),
        ],
    ),
    (
        "review",
        &[
            (
                "runsheet review backup-customer-data --outcome unchanged --note 'still matches the backup setup'",
                "record a review; the next one is due after the procedure's interval",
            ),
            (
                "runsheet review patch-window --outcome changed --note 'new maintenance window' --next 2027-03-01",
                "record that it needs a change, with the next review date",
            ),
        ],
    ),
    (
        "verify",
        &[
            ("runsheet verify", "check the whole log"),
            (
                "runsheet verify --trusted checkpoint.txt --key log.vkey",
                "and that it only grew since a checkpoint kept elsewhere, with the key you hold",
            ),
        ],
    ),
    (
        "checkpoint",
        &[
            ("runsheet checkpoint", "the latest signed checkpoint"),
            (
                "runsheet checkpoint --sign --out checkpoint.txt",
                "sign one covering every record, into a file",
            ),
        ],
    ),
    (
        "feed",
        &[
            (
                "runsheet feed --out /var/log/runsheet/feed.jsonl",
                "append the events since the last feed, one OCSF JSON line each",
            ),
            (
                "runsheet feed --rotated --out /var/log/runsheet/feed.jsonl",
                "after logrotate moved the file away: continue where the feed stood",
            ),
        ],
    ),
    (
        "key",
        &[(
            "runsheet key > log.vkey",
            "the log's public key, for auditors and witnesses",
        )],
    ),
    (
        "prove",
        &[
            (
                "runsheet prove --run 01a2351c --out proofs",
                "inclusion proofs of a run's events",
            ),
            (
                "runsheet prove --from checkpoint.txt",
                "that the log only grew since that checkpoint",
            ),
        ],
    ),
    (
        "anchor",
        &[
            (
                "runsheet anchor",
                "the latest checkpoint, with a QR code to photograph",
            ),
            (
                "runsheet anchor --append logbook.txt --no-qr",
                "appended to a file outside the log's reach",
            ),
            (
                "runsheet anchor --git anchors",
                "committed into another git repository",
            ),
        ],
    ),
    (
        "cosign",
        &[(
            "runsheet cosign --witness witness.vkey --via 'ssh sec@witness-host runsheet witness cosign -'",
            "have a witness check the log grew and cosign it",
        )],
    ),
    (
        "witness",
        &[
            (
                "runsheet witness init --name sec.example.com/witness",
                "make a witness's state and key",
            ),
            ("runsheet witness status", "the logs it witnesses"),
        ],
    ),
    (
        "custodian",
        &[
            (
                "runsheet custodian init --custodian-key custodian.key --name dpo@example.com",
                "a custodian's key, kept away from the log",
            ),
            ("runsheet custodian list", "the custodians the log knows"),
        ],
    ),
    (
        "redact",
        &[
            (
                "runsheet redact --seq 42 --reason 'personal data typed by mistake' --custodian-key custodian.key",
                "erase one record's content, signed and recorded",
            ),
            (
                "runsheet redact --due --dry-run --custodian-key custodian.key",
                "what the retention rules would erase",
            ),
        ],
    ),
    (
        "export",
        &[
            (
                "runsheet export --out audit-2026-11 --since 2026-11-01 --until 2026-11-30",
                "November's audit bundle",
            ),
            (
                "runsheet export --out backups --control A.8.13",
                "the runs of procedures linked to A.8.13",
            ),
        ],
    ),
    (
        "verify-bundle",
        &[
            (
                "runsheet verify-bundle audit-2026-11",
                "check a bundle on its own",
            ),
            (
                "runsheet verify-bundle audit-2026-11 --key log.vkey",
                "and its signatures, with the log's key you hold",
            ),
        ],
    ),
    (
        "status",
        &[
            (
                "runsheet status",
                "each procedure: last run, missed days, review due",
            ),
            (
                "runsheet status --strict --days 7",
                "fail when anything is overdue (cron, monitoring)",
            ),
        ],
    ),
    (
        "training",
        &[
            (
                "runsheet training",
                "who is trained on each procedure's current version",
            ),
            (
                "runsheet training restore-test --json",
                "one procedure, as JSON",
            ),
        ],
    ),
    (
        "completions",
        &[(
            "runsheet completions bash > ~/.local/share/bash-completion/completions/runsheet",
            "bash completion for your user",
        )],
    ),
    (
        "man",
        &[
            ("runsheet man | man -l -", "read runsheet(1)"),
            (
                "runsheet man --out ~/.local/share/man/man1",
                "write a page per command: man runsheet-run",
            ),
        ],
    ),
];

/// The examples of command `name`.
pub fn examples(name: &str) -> &'static [(&'static str, &'static str)] {
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[], |(_, e)| e)
}

/// A command's examples as its `--help` shows them.
fn examples_text(name: &str) -> Option<String> {
    let e = examples(name);
    if e.is_empty() {
        return None;
    }
    let mut out = String::from("Examples:\n");
    for (cmd, what) in e {
        out.push_str(&format!("  {cmd}\n      {what}\n"));
    }
    Some(out)
}

/// `cmd` (the derived command line) with each command's examples after
/// its options, and the global options that mean nothing to a command
/// hidden from its help.
pub fn decorate(cmd: clap::Command) -> clap::Command {
    let mut cmd = cmd.after_help(
        "Examples:\n  runsheet run backup-customer-data\n      run a procedure, full-screen\n  runsheet runs --open\n      the runs still open\n\n`runsheet <COMMAND> --help` has each command's examples; `runsheet man --out DIR` writes a page per command.",
    );
    cmd.build();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let hide = |id: &str| {
            (id == "json" && NO_JSON.contains(&name.as_str()))
                || ((id == "db" || id == "key_file") && NO_LOG.contains(&name.as_str()))
        };
        let text = examples_text(&name);
        cmd = cmd.mut_subcommand(&name, |s| {
            let s = s.mut_args(|a| {
                if hide(a.get_id().as_str()) {
                    a.hide(true)
                } else {
                    a
                }
            });
            match &text {
                Some(t) => s.after_help(t.clone()),
                None => s,
            }
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell line's words: split at blanks, single quotes keep blanks.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        let mut any = false;
        for c in line.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    any = true;
                }
                c if c.is_whitespace() && !quoted => {
                    if any {
                        out.push(std::mem::take(&mut word));
                        any = false;
                    }
                }
                c => {
                    word.push(c);
                    any = true;
                }
            }
        }
        if any {
            out.push(word);
        }
        out
    }

    /// Every example is a command line runsheet accepts, of the command it
    /// is listed under (up to a pipe or a redirection).
    #[test]
    fn every_example_parses_as_the_command_it_is_listed_under() {
        for (name, examples) in EXAMPLES {
            for (line, _) in *examples {
                let cut = line.find(['|', '>', '<']).map_or(*line, |i| &line[..i]);
                let args = words(cut);
                assert_eq!(args[0], "runsheet", "{line}");
                let cli = crate::cli::parse_from(&args, &|_| false)
                    .unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(cli.sources.command, *name, "{line}");
            }
        }
    }

    /// Every command has examples, and every listed command exists.
    #[test]
    fn every_command_has_examples() {
        let cmd = crate::cli::command();
        let names: Vec<&str> = cmd
            .get_subcommands()
            .map(|s| s.get_name())
            .filter(|n| *n != "help")
            .collect();
        for n in &names {
            assert!(!examples(n).is_empty(), "`{n}` has no examples");
        }
        for (n, _) in EXAMPLES {
            assert!(
                names.contains(n),
                "examples for a command that is not one: {n}"
            );
        }
        for n in NO_JSON.iter().chain(NO_LOG) {
            assert!(names.contains(n), "{n}");
        }
    }

    #[test]
    fn status_takes_exactly_the_outcomes_runs_can_have() {
        let mut words = vec![crate::vocab::OPEN];
        words.extend(crate::vocab::Outcome::ALL.iter().map(|o| o.as_str()));
        assert_eq!(crate::cli::OUTCOMES.to_vec(), words);
    }

    #[test]
    fn words_are_split_as_a_shell_would() {
        assert_eq!(
            words("runsheet run x --operator 'Alice Example'"),
            ["runsheet", "run", "x", "--operator", "Alice Example"]
        );
    }
}
