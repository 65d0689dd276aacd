//! Damage and read-only files through the real binary: pages of the log
//! overwritten as a failing disk would (found by reading the SQLite file
//! format here, not through SQLite), read commands that must not change a
//! byte of any file (intact logs, other programs' databases, empty and
//! garbage files, an older schema), and a log on a read-only mount or in a
//! read-only directory, which must still be verified, listed, shown,
//! checkpointed and exported.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

use rusqlite::{Connection, OpenFlags};

use crate::common::{
    DRILL_SCRIPT, Input, Rng, drill, drill_run, repo, runsheet, stderr, stdout, suspended_drill_run,
};

// ------------------------------------------------------------------ helpers

/// `runsheet <args>` on `db` with no input.
fn cmd(db: &Path, args: &[&str]) -> Output {
    runsheet(db)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `runsheet run --plain drill` on `db`, answering with `script`. The child
/// may refuse before it reads its input: a closed pipe is fine.
fn plain_run_may_refuse(db: &Path, script: &str) -> Output {
    Input::new(script)
        .may_exit_unread()
        .run(runsheet(db).arg("run").arg("--plain").arg(drill()))
}

/// Run ids in the log, oldest first (read without touching the file).
fn run_ids(db: &Path) -> Vec<String> {
    let conn = read_only(db);
    let mut stmt = conn
        .prepare("SELECT id FROM runs ORDER BY started_at, id")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A connection that reads the file as it is: no locks, no `-wal`/`-shm`
/// created, nothing written (the file must not be open in another process).
fn read_only(db: &Path) -> Connection {
    Connection::open_with_flags(
        format!("file:{}?mode=ro&immutable=1", db.display()),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap()
}

/// SQLite's own page check of the file, as text ("ok" when sound).
fn quick_check(db: &Path) -> String {
    read_only(db)
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap_or_else(|e| format!("error: {e}"))
}

/// A panic or an internal error is a defect whatever the case.
fn panicked(out: &Output) -> Option<String> {
    let err = stderr(out);
    (err.contains("panicked") || out.status.code() == Some(70)).then_some(err)
}

/// What went wrong in one test, collected so that one defect does not hide
/// the next: the test fails at the end with all of them.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// The exit code is `code`, stderr contains `says`, stdout is empty.
    fn refused(&mut self, label: &str, out: &Output, code: i32, says: &str) {
        if let Some(err) = panicked(out) {
            self.0
                .push(format!("{label}: panicked or internal error: {err}"));
        }
        self.check(out.status.code() == Some(code), || {
            format!(
                "{label}: exit {:?}, expected {code}: {}{}",
                out.status.code(),
                stdout(out),
                stderr(out)
            )
        });
        self.check(stderr(out).contains(says), || {
            format!("{label}: stderr does not say {says:?}: {}", stderr(out))
        });
        self.check(out.stdout.is_empty(), || {
            format!("{label}: printed on stdout: {}", stdout(out))
        });
    }

    fn assert_none(self, test: &str) {
        assert!(
            self.0.is_empty(),
            "{test}: {} problem(s):\n- {}",
            self.0.len(),
            self.0.join("\n- ")
        );
    }
}

/// One entry of a directory tree: a directory, or a file's bytes and mtime.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Dir,
    File(Vec<u8>, SystemTime),
}

/// Everything under `dirs`, recursively: names, bytes and modification times.
fn snapshot(dirs: &[&Path]) -> BTreeMap<PathBuf, Entry> {
    fn walk(dir: &Path, into: &mut BTreeMap<PathBuf, Entry>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                into.insert(path.clone(), Entry::Dir);
                walk(&path, into);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                into.insert(path, Entry::File(bytes, meta.modified().unwrap()));
            }
        }
    }
    let mut all = BTreeMap::new();
    for dir in dirs {
        walk(dir, &mut all);
    }
    all
}

/// What differs between two snapshots, one line per path.
fn changes(before: &BTreeMap<PathBuf, Entry>, after: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, entry) in before {
        match after.get(path) {
            None => out.push(format!("{} was removed", path.display())),
            Some(now) if now != entry => out.push(format!("{} changed", path.display())),
            Some(_) => {}
        }
    }
    for path in after.keys().filter(|p| !before.contains_key(*p)) {
        out.push(format!("{} appeared", path.display()));
    }
    out
}

// ------------------------------------------------------- SQLite file format

const INTERIOR_INDEX: u8 = 0x02;
const INTERIOR_TABLE: u8 = 0x05;
const LEAF_INDEX: u8 = 0x0a;
const LEAF_TABLE: u8 = 0x0d;

/// A SQLite database file read as bytes (https://sqlite.org/fileformat.html).
struct Pages {
    data: Vec<u8>,
    size: usize,
}

impl Pages {
    fn read(db: &Path) -> Pages {
        let data = std::fs::read(db).unwrap();
        assert!(data.starts_with(b"SQLite format 3\0"), "not a SQLite file");
        // Offset 16: the page size, big-endian; 1 means 65536.
        let size = match u16::from_be_bytes([data[16], data[17]]) {
            1 => 65536,
            n => usize::from(n),
        };
        assert_eq!(data.len() % size, 0, "the file is whole pages");
        Pages { data, size }
    }

    fn count(&self) -> u32 {
        u32::try_from(self.data.len() / self.size).unwrap()
    }

    /// File offset of page `n` (1-based).
    fn start(&self, n: u32) -> usize {
        (n as usize - 1) * self.size
    }

    fn page(&self, n: u32) -> &[u8] {
        &self.data[self.start(n)..self.start(n) + self.size]
    }

    /// File offset of page `n`'s b-tree header (page 1 has the file header first).
    fn header(&self, n: u32) -> usize {
        self.start(n) + if n == 1 { 100 } else { 0 }
    }

    fn kind(&self, n: u32) -> u8 {
        self.data[self.header(n)]
    }

    fn is_btree(&self, n: u32) -> bool {
        matches!(
            self.kind(n),
            INTERIOR_INDEX | INTERIOR_TABLE | LEAF_INDEX | LEAF_TABLE
        )
    }

    fn u16_at(&self, at: usize) -> usize {
        usize::from(u16::from_be_bytes([self.data[at], self.data[at + 1]]))
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.data[at..at + 4].try_into().unwrap())
    }

    /// Offset within the page where the cell content area starts (header
    /// offset 5; 0 means 65536). The cells, the used part, run from there to
    /// the end of the page.
    fn content_start(&self, n: u32) -> usize {
        match self.u16_at(self.header(n) + 5) {
            0 => 65536,
            v => v,
        }
    }

    /// The child page of an interior page's first cell (the cell pointer
    /// array follows the 12-byte interior header; a cell starts with the
    /// 4-byte child page number).
    fn first_child(&self, n: u32) -> u32 {
        let cell = self.u16_at(self.header(n) + 12);
        self.u32_at(self.start(n) + cell)
    }

    /// From page `n` down the left edge of its b-tree to a leaf.
    fn leftmost_leaf(&self, mut n: u32) -> u32 {
        while matches!(self.kind(n), INTERIOR_TABLE | INTERIOR_INDEX) {
            n = self.first_child(n);
        }
        n
    }

    /// A page of an overflow chain holding `pattern`: not a b-tree page,
    /// and its next-page pointer (its first 4 bytes) names another such page,
    /// so the whole page is in use.
    fn overflow_page_with(&self, pattern: &[u8]) -> Option<u32> {
        let holds = |n: u32| {
            n >= 2
                && n <= self.count()
                && !self.is_btree(n)
                && self.page(n).windows(pattern.len()).any(|w| w == pattern)
        };
        (2..=self.count()).find(|&n| holds(n) && holds(self.u32_at(self.start(n))))
    }
}

/// A b-tree's root page, from `sqlite_schema`.
fn root_page(db: &Path, name: &str) -> u32 {
    read_only(db)
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .unwrap()
}

// ------------------------------------------------------------- 1. damage

/// The long note's words: unique, so its pages can be found in the file.
fn long_note() -> String {
    (0..600)
        .map(|i| format!("damage-note-{i:05}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the 64 bytes go.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// A leaf page of the `events` table, at its first cell.
    EventsLeaf,
    /// The `events` table's root, an interior page, at its first cell.
    EventsInterior,
    /// An overflow page of the long note's payload, from its start (the
    /// next-page pointer and the first data bytes).
    Overflow,
    /// A leaf page of the `events_by_run` index, at its first cell.
    IndexLeaf,
}

/// The file offset of 64 bytes inside the used part of the page `place` names.
fn target(db: &Path, pages: &Pages, place: Place) -> (u32, usize) {
    let in_cells = |n: u32, kind: u8| {
        assert_eq!(pages.kind(n), kind, "page {n} of {place:?}");
        let from = pages.content_start(n);
        assert!(
            from + 64 <= pages.size,
            "{place:?}: page {n} has only {} bytes of cells",
            pages.size - from
        );
        (n, pages.start(n) + from)
    };
    match place {
        Place::EventsLeaf => {
            let n = pages.leftmost_leaf(root_page(db, "events"));
            in_cells(n, LEAF_TABLE)
        }
        Place::EventsInterior => in_cells(root_page(db, "events"), INTERIOR_TABLE),
        Place::Overflow => {
            let n = pages
                .overflow_page_with(b"damage-note-")
                .expect("the long note spills into overflow pages");
            (n, pages.start(n))
        }
        Place::IndexLeaf => {
            let n = pages.leftmost_leaf(root_page(db, "events_by_run"));
            in_cells(n, LEAF_INDEX)
        }
    }
}

/// The log the damage tests copy: a drill run, one with a ~10 KB note (its
/// payload spills into overflow pages), then drill runs until the `events`
/// table's root is an interior page with at least 64 bytes of cells; and a
/// checkpoint taken of it.
struct Damageable {
    dir: tempfile::TempDir,
    db: PathBuf,
    checkpoint: PathBuf,
    run: String,
}

fn damageable() -> Damageable {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    let out = plain_run_may_refuse(&db, &DRILL_SCRIPT.replace("all good", &long_note()));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    for _ in 0..40 {
        let pages = Pages::read(&db);
        let root = root_page(&db, "events");
        if pages.kind(root) == INTERIOR_TABLE && pages.content_start(root) + 64 <= pages.size {
            break;
        }
        drill_run(&db);
    }
    let checkpoint = dir.path().join("cp.json");
    let out = cmd(&db, &["checkpoint", "--out", checkpoint.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !dir.path().join("log.sqlite3-wal").exists(),
        "no runsheet process has the log open"
    );
    let run = run_ids(&db).remove(0);
    Damageable {
        dir,
        db,
        checkpoint,
        run,
    }
}

#[test]
fn damaged_pages_fail_verify_and_every_read_command_refuses_to_show_them() {
    let base = damageable();
    let out = cmd(&base.db, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "intact: {}", stdout(&out));
    let cp = base.checkpoint.to_str().unwrap();
    let mut problems = Problems::default();
    let mut table = Vec::new();
    for place in [
        Place::EventsLeaf,
        Place::EventsInterior,
        Place::Overflow,
        Place::IndexLeaf,
    ] {
        for fill in [0xff_u8, 0x00] {
            let label = format!("{place:?} ← 64×{fill:#04x}");
            let dir = tempfile::tempdir_in(base.dir.path()).unwrap();
            let db = dir.path().join("damaged.sqlite3");
            let mut pages = Pages::read(&base.db);
            let (page, at) = target(&base.db, &pages, place);
            pages.data[at..at + 64].fill(fill);
            std::fs::write(&db, &pages.data).unwrap();
            let check = quick_check(&db);
            assert_ne!(check, "ok", "{label}: SQLite must see the damage");

            let mut codes = Vec::new();
            let out = cmd(&db, &["verify"]);
            codes.push(out.status.code());
            problems.check(
                out.status.code() == Some(1) && stdout(&out).starts_with("FAILED: damaged"),
                || {
                    format!(
                        "{label}: verify: exit {:?}: {}{}",
                        out.status.code(),
                        stdout(&out),
                        stderr(&out)
                    )
                },
            );
            let out = cmd(&db, &["verify", "--checkpoint", cp]);
            codes.push(out.status.code());
            problems.check(
                out.status.code() == Some(1) && stdout(&out).starts_with("FAILED: damaged"),
                || {
                    format!(
                        "{label}: verify --checkpoint: exit {:?}: {}{}",
                        out.status.code(),
                        stdout(&out),
                        stderr(&out)
                    )
                },
            );
            let out = cmd(&db, &["--json", "verify"]);
            codes.push(out.status.code());
            let problem = serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .map(|v| v["finding"]["problem"].clone());
            problems.check(
                out.status.code() == Some(1) && problem.as_ref().is_ok_and(|p| p == "damaged"),
                || {
                    format!(
                        "{label}: --json verify: exit {:?}, problem {problem:?}: {}",
                        out.status.code(),
                        stderr(&out)
                    )
                },
            );
            for args in [
                vec!["runs"],
                vec!["show", base.run.as_str()],
                vec!["status"],
                vec!["checkpoint"],
            ] {
                let out = cmd(&db, &args);
                codes.push(out.status.code());
                problems.refused(&format!("{label}: {args:?}"), &out, 4, "damaged");
            }
            let bundle = dir.path().join("bundle");
            let out = cmd(&db, &["export", "--out", bundle.to_str().unwrap()]);
            codes.push(out.status.code());
            problems.refused(&format!("{label}: export"), &out, 4, "damaged");
            let left: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("bundle"))
                .collect();
            problems.check(left.is_empty(), || format!("{label}: export left {left:?}"));

            // Writing on: whatever a run manages to append, the file stays damaged.
            let run = plain_run_may_refuse(&db, DRILL_SCRIPT);
            codes.push(run.status.code());
            if let Some(err) = panicked(&run) {
                problems.0.push(format!("{label}: run panicked: {err}"));
            }
            let out = cmd(&db, &["verify"]);
            problems.check(
                out.status.code() == Some(1) && stdout(&out).starts_with("FAILED: damaged"),
                || {
                    format!(
                        "{label}: verify after a run (exit {:?}): exit {:?}: {}{}",
                        run.status.code(),
                        out.status.code(),
                        stdout(&out),
                        stderr(&out)
                    )
                },
            );
            let codes: Vec<String> = codes
                .iter()
                .map(|c| c.map_or("-".into(), |c| c.to_string()))
                .collect();
            table.push(format!(
                "| {label} | page {page} | {} | {} |",
                check.lines().nth(1).unwrap_or(&check).replace('|', "\\|"),
                codes.join(" | ")
            ));
        }
    }
    println!(
        "\n| damage | where | quick_check | verify | verify --checkpoint | --json verify | runs | show | status | checkpoint | export | run after |"
    );
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in table {
        println!("{row}");
    }
    problems.assert_none("damaged pages");
}

// --------------------------------------------- 2. read commands change nothing

/// The read commands on `db`: each with its arguments (`run` for `show`,
/// the bundle for `verify-bundle`).
fn read_commands<'a>(run: &'a str, bundle: &'a str) -> Vec<Vec<&'a str>> {
    vec![
        vec!["verify"],
        vec!["--json", "verify"],
        vec!["runs"],
        vec!["show", run],
        vec!["status"],
        vec!["history", "drill"],
        vec!["diff", "drill", "1.0", "1.0", "--format", "html"],
        vec!["checkpoint"],
        vec!["verify-bundle", bundle],
    ]
}

/// An intact log with completed runs, an open run and an exported bundle
/// (in `bundle_dir`, outside the log's directory).
struct Intact {
    dir: tempfile::TempDir,
    db: PathBuf,
    bundle_dir: tempfile::TempDir,
    bundle: PathBuf,
    run: String,
}

fn intact() -> Intact {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    drill_run(&db);
    drill_run(&db);
    let run = suspended_drill_run(&db);
    let bundle_dir = tempfile::tempdir().unwrap();
    let bundle = bundle_dir.path().join("bundle");
    let out = cmd(&db, &["export", "--out", bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    Intact {
        dir,
        db,
        bundle_dir,
        bundle,
        run,
    }
}

#[test]
fn read_commands_change_no_byte_of_an_intact_log_and_create_no_file() {
    let log = intact();
    assert!(
        !log.dir.path().join("log.sqlite3-wal").exists(),
        "no runsheet process has the log open"
    );
    let bundle = log.bundle.to_str().unwrap();
    let mut problems = Problems::default();
    for args in read_commands(&log.run, bundle) {
        let before = snapshot(&[log.dir.path(), log.bundle_dir.path()]);
        let out = cmd(&log.db, &args);
        problems.check(out.status.code() == Some(0), || {
            format!(
                "{args:?}: exit {:?}: {}{}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            )
        });
        let after = snapshot(&[log.dir.path(), log.bundle_dir.path()]);
        let changed = changes(&before, &after);
        problems.check(changed.is_empty(), || format!("{args:?}: {changed:?}"));
    }
    problems.assert_none("intact log");
}

/// A file that is not a runsheet log: what each read command must say of it.
struct NotALog {
    name: &'static str,
    make: fn(&Path),
    /// `verify`'s exit code: 1 (a failed verification) or 4 (refused).
    verify_exit: i32,
    /// What every other command's message says.
    says: &'static str,
}

fn not_logs() -> Vec<NotALog> {
    vec![
        NotALog {
            name: "another program's SQLite database",
            make: |path| {
                let conn = Connection::open(path).unwrap();
                conn.execute_batch(
                    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);
                     INSERT INTO notes (text) VALUES ('keep me');",
                )
                .unwrap();
            },
            verify_exit: 4,
            says: "not a runsheet evidence log",
        },
        NotALog {
            name: "another program's SQLite database in WAL mode",
            make: |path| {
                let conn = Connection::open(path).unwrap();
                let _: String = conn
                    .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                    .unwrap();
                conn.execute_batch(
                    "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT);
                     INSERT INTO notes (text) VALUES ('keep me');",
                )
                .unwrap();
            },
            verify_exit: 4,
            says: "not a runsheet evidence log",
        },
        NotALog {
            name: "an empty (0-byte) file",
            make: |path| std::fs::write(path, b"").unwrap(),
            verify_exit: 1,
            says: "damaged",
        },
        NotALog {
            name: "a file of random bytes",
            // A fixed seed: random-looking, the same every time.
            make: |path| std::fs::write(path, Rng(0x9e37_79b9_7f4a_7c15).bytes(16384)).unwrap(),
            verify_exit: 1,
            says: "damaged",
        },
    ]
}

#[test]
fn read_commands_refuse_files_that_are_not_logs_and_leave_them_as_they_were() {
    let log = intact();
    let bundle = log.bundle.to_str().unwrap();
    let mut problems = Problems::default();
    for case in not_logs() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("file.sqlite3");
        (case.make)(&db);
        let before = snapshot(&[dir.path(), log.bundle_dir.path()]);
        let names: Vec<_> = before
            .keys()
            .filter(|p| p.starts_with(dir.path()))
            .collect();
        assert_eq!(names, [&db], "{}: only the file itself", case.name);
        for args in read_commands(&log.run, bundle) {
            let label = format!("{}: {args:?}", case.name);
            let out = cmd(&db, &args);
            if args.contains(&"verify") && case.verify_exit == 1 {
                if let Some(err) = panicked(&out) {
                    problems.0.push(format!("{label}: panicked: {err}"));
                }
                problems.check(out.status.code() == Some(1), || {
                    format!(
                        "{label}: exit {:?}: {}{}",
                        out.status.code(),
                        stdout(&out),
                        stderr(&out)
                    )
                });
                let damaged = if args.contains(&"--json") {
                    serde_json::from_slice::<serde_json::Value>(&out.stdout)
                        .is_ok_and(|v| v["finding"]["problem"] == "damaged")
                } else {
                    stdout(&out).starts_with("FAILED: damaged")
                };
                problems.check(damaged, || {
                    format!("{label}: no damaged finding: {}", stdout(&out))
                });
            } else {
                problems.refused(&label, &out, 4, case.says);
            }
            let changed = changes(&before, &snapshot(&[dir.path(), log.bundle_dir.path()]));
            problems.check(changed.is_empty(), || format!("{label}: {changed:?}"));
        }
    }
    problems.assert_none("not a log");
}

/// The log a previous runsheet release wrote (schema version 2), in a
/// directory of its own.
fn schema2_log() -> (tempfile::TempDir, PathBuf) {
    let fixture = repo().join("tests/fixtures/logs/schema2.sqlite3");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("schema2.sqlite3");
    std::fs::copy(&fixture, &db).unwrap();
    let version: i64 = read_only(&db)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2, "{}", fixture.display());
    (dir, db)
}

#[test]
fn read_commands_read_an_older_schema_without_migrating_it() {
    let (dir, db) = schema2_log();
    let mut problems = Problems::default();
    for args in [
        vec!["verify"],
        vec!["--json", "verify"],
        vec!["runs"],
        vec!["status"],
    ] {
        let before = snapshot(&[dir.path()]);
        let out = cmd(&db, &args);
        problems.check(out.status.code() == Some(0), || {
            format!(
                "{args:?}: exit {:?}: {}{}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            )
        });
        if args == ["verify"] {
            problems.check(stdout(&out).starts_with("OK"), || {
                format!("verify: {}", stdout(&out))
            });
        }
        let changed = changes(&before, &snapshot(&[dir.path()]));
        problems.check(changed.is_empty(), || format!("{args:?}: {changed:?}"));
    }
    // An older log holds no signed checkpoint: `checkpoint` says how to get
    // one and, being a read command, neither migrates nor makes a key.
    let before = snapshot(&[dir.path()]);
    let out = cmd(&db, &["checkpoint"]);
    problems.refused("checkpoint", &out, 3, "checkpoint --sign` upgrades it");
    let changed = changes(&before, &snapshot(&[dir.path()]));
    problems.check(changed.is_empty(), || format!("checkpoint: {changed:?}"));
    problems.assert_none("schema 2");
}

// ------------------------------------------------ 3. read-only mount or directory

/// A directory this process (root included) cannot write, undone when dropped.
enum ReadOnlyDir {
    /// A read-only bind mount of another directory, at this path.
    Mount(PathBuf),
    /// This directory with the immutable attribute (`chattr +i`): no entry can
    /// be created, removed or renamed in it, though its files can be written.
    Immutable(PathBuf),
}

/// Run a system tool; its error output when it fails.
fn tool(program: &str, args: &[&OsStr]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {args:?}: {}", stderr(&out).trim()))
    }
}

impl ReadOnlyDir {
    /// `src` bind-mounted read-only at `at`.
    fn mount(src: &Path, at: &Path) -> Result<ReadOnlyDir, String> {
        tool(
            "mount",
            &[OsStr::new("--bind"), src.as_os_str(), at.as_os_str()],
        )?;
        let guard = ReadOnlyDir::Mount(at.to_path_buf());
        tool(
            "mount",
            &[
                OsStr::new("-o"),
                OsStr::new("remount,ro,bind"),
                at.as_os_str(),
            ],
        )?;
        guard.probe()
    }

    /// `dir` made immutable.
    fn immutable(dir: &Path) -> Result<ReadOnlyDir, String> {
        tool("chattr", &[OsStr::new("+i"), dir.as_os_str()])?;
        ReadOnlyDir::Immutable(dir.to_path_buf()).probe()
    }

    fn path(&self) -> &Path {
        match self {
            ReadOnlyDir::Mount(p) | ReadOnlyDir::Immutable(p) => p,
        }
    }

    /// Is it really read-only here? (Dropping the guard on failure undoes it.)
    fn probe(self) -> Result<ReadOnlyDir, String> {
        let probe = self.path().join("probe");
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
                Err(format!("{} is still writable", self.path().display()))
            }
            Err(_) => Ok(self),
        }
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        let undone = match self {
            ReadOnlyDir::Mount(at) => tool("umount", &[at.as_os_str()])
                .or_else(|_| tool("umount", &[OsStr::new("-l"), at.as_os_str()])),
            ReadOnlyDir::Immutable(dir) => tool("chattr", &[OsStr::new("-i"), dir.as_os_str()]),
        };
        if let Err(e) = undone {
            eprintln!("could not undo the read-only directory: {e}");
        }
    }
}

/// A log with two completed runs and an open one, in `dir`; returns the
/// open run's id and a completed run's id.
fn log_with_open_run(db: &Path) -> (String, String) {
    drill_run(db);
    drill_run(db);
    let open = suspended_drill_run(db);
    let done = run_ids(db).remove(0);
    (open, done)
}

/// Everything a read-only log must still do, and nothing it may change.
fn read_only_log_serves_readers(label: &str, ro: &ReadOnlyDir, db: &Path, runs: &(String, String)) {
    let (open, done) = (runs.0.as_str(), runs.1.as_str());
    let out_dir = tempfile::tempdir().unwrap();
    let before = snapshot(&[ro.path()]);
    let mut problems = Problems::default();
    let ok = |problems: &mut Problems, args: &[&str], says: &str| -> Output {
        let out = cmd(db, args);
        problems.check(
            out.status.code() == Some(0) && stdout(&out).contains(says),
            || {
                format!(
                    "{label}: {args:?}: exit {:?}, expected 0 and {says:?}: {}{}",
                    out.status.code(),
                    stdout(&out),
                    stderr(&out)
                )
            },
        );
        out
    };
    ok(&mut problems, &["verify"], "OK");
    ok(&mut problems, &["runs"], open);
    ok(&mut problems, &["show", done], done);
    ok(&mut problems, &["status"], "Status on");
    let cp = out_dir.path().join("cp.json");
    ok(
        &mut problems,
        &["checkpoint", "--out", cp.to_str().unwrap()],
        "",
    );
    problems.check(cp.exists(), || format!("{label}: no checkpoint written"));
    let bundle = out_dir.path().join("bundle");
    let bundle = bundle.to_str().unwrap();
    ok(
        &mut problems,
        &["export", "--out", bundle],
        "The export is NOT recorded in the log",
    );
    let out = ok(&mut problems, &["verify-bundle", bundle], "OK");
    problems.check(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("NOTE:") && l.contains("recorded in no log")),
        || {
            format!(
                "{label}: verify-bundle has no NOTE that the export is unrecorded: {}",
                stdout(&out)
            )
        },
    );

    // Writing is refused before anything is shown or recorded.
    let out = Input::new("\n\n12\n")
        .may_exit_unread()
        .run(runsheet(db).args(["resume", "--plain", open]));
    problems.refused(&format!("{label}: resume"), &out, 4, "read-only");
    let out = plain_run_may_refuse(db, DRILL_SCRIPT);
    problems.refused(&format!("{label}: run"), &out, 4, "read-only");

    let changed = changes(&before, &snapshot(&[ro.path()]));
    problems.check(changed.is_empty(), || format!("{label}: {changed:?}"));
    problems.assert_none(label);
}

#[test]
fn a_log_on_a_read_only_mount_is_verified_listed_shown_checkpointed_and_exported() {
    let src = tempfile::tempdir().unwrap();
    let db = src.path().join("log.sqlite3");
    let runs = log_with_open_run(&db);
    let mnt = tempfile::tempdir().unwrap();
    let ro = match ReadOnlyDir::mount(src.path(), mnt.path()) {
        Ok(ro) => ro,
        Err(why) => {
            eprintln!("SKIPPED: a read-only bind mount is not possible here ({why})");
            return;
        }
    };
    read_only_log_serves_readers(
        "read-only mount",
        &ro,
        &mnt.path().join("log.sqlite3"),
        &runs,
    );
}

#[test]
fn a_log_in_a_read_only_directory_is_verified_listed_shown_checkpointed_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.sqlite3");
    let runs = log_with_open_run(&db);
    let ro = match ReadOnlyDir::immutable(dir.path()) {
        Ok(ro) => ro,
        Err(why) => {
            eprintln!("SKIPPED: `chattr +i` does not make a directory read-only here ({why})");
            return;
        }
    };
    read_only_log_serves_readers("read-only directory", &ro, &db, &runs);
}
