//! Training records (docs/training.md): which operator completed a drill or a
//! supervised run of which procedure version (one SHA-256 of source), when
//! and who supervised; per procedure, who is trained on the version in the
//! procedures folder now and who only on an older one (`runsheet training`);
//! and the flags `status` shows: production runs of a version the operator
//! was never trained on, trained operators left out of date by a change.
//! Computed purely from run rows and sign-offs ([`TrainingReport::compute`]);
//! [`read`] reads them.
//!
//! May not depend on the bundle side (`export`), the front ends or the app.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use crate::store::{RunQuery, RunRow, Store, StoreError, time_text};
use crate::text::sanitize_line;
use crate::vocab::Outcome;

/// How an operator was trained on a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TrainedBy {
    /// A completed drill (`run --drill`).
    Drill,
    /// A completed production run in which a second person signed a step
    /// off: the signer is the supervisor.
    Supervised,
}

/// One training record: a completed drill, or a completed supervised run.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TrainingRecord {
    pub run_id: String,
    pub procedure_id: String,
    pub procedure_version: String,
    pub procedure_sha256: String,
    pub operator: String,
    pub operator_name: Option<String>,
    pub by: TrainedBy,
    /// RFC 3339 UTC: when the run ended.
    pub completed_at: String,
    /// Who signed its steps off (the supervisors); may be empty for a drill.
    pub supervisors: Vec<String>,
    #[serde(skip)]
    #[schemars(skip)]
    ended: Option<DateTime<Utc>>,
}

/// The version of a procedure in the procedures folder now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub id: String,
    pub title: String,
    pub version: String,
    pub sha256: String,
}

/// Where an operator stands on a procedure's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    /// Trained on the current version.
    Trained,
    /// Trained only on an older version: the procedure changed since.
    OutOfDate,
    /// Ran it (production) and was never trained on any version.
    NeverTrained,
}

impl Standing {
    fn words(self) -> &'static str {
        match self {
            Standing::Trained => "trained",
            Standing::OutOfDate => "OUT OF DATE",
            Standing::NeverTrained => "NOT TRAINED",
        }
    }
}

/// One operator on one procedure.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OperatorTraining {
    pub operator: String,
    pub operator_name: Option<String>,
    pub standing: Standing,
    /// Their latest training record of the current version, if any.
    pub current: Option<TrainingRecord>,
    /// Their latest training record of another (older) version, if any.
    pub latest_other: Option<TrainingRecord>,
}

/// One procedure's training.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ProcedureTraining {
    pub id: String,
    pub title: String,
    /// The version in the procedures folder now.
    pub version: String,
    pub sha256: String,
    pub operators: Vec<OperatorTraining>,
    /// Production runs by an operator who was never trained on the version
    /// they ran (a supervised run trains its operator and is not listed).
    pub untrained_runs: Vec<UntrainedRun>,
}

/// A production run of a version its operator was never trained on.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct UntrainedRun {
    pub run_id: String,
    pub operator: String,
    pub procedure_version: String,
    pub procedure_sha256: String,
    /// RFC 3339 UTC.
    pub started_at: String,
}

/// `runsheet training [ID] --json` (docs/json.md).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TrainingReport {
    pub procedures: Vec<ProcedureTraining>,
}

/// What training is computed from: every run (drills and production) and
/// every sign-off (its run and who signed).
pub type Inputs = (Vec<RunRow>, Vec<(Uuid, String)>);

/// The runs and sign-offs training is computed from, in one read snapshot.
pub fn read(store: &Store) -> Result<Inputs, StoreError> {
    store.read_snapshot(|s| Ok((s.runs(&RunQuery::default())?, s.sign_offs()?)))
}

/// The training records among `runs`: completed drills and completed
/// production runs with a second person's sign-off, oldest first.
pub fn records(runs: &[RunRow], sign_offs: &[(Uuid, String)]) -> Vec<TrainingRecord> {
    let mut signers: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for (id, by) in sign_offs {
        let list = signers.entry(*id).or_default();
        if !list.contains(by) {
            list.push(by.clone());
        }
    }
    let mut out: Vec<TrainingRecord> = runs
        .iter()
        .filter(|r| r.outcome.as_deref() == Some(Outcome::Completed.as_str()))
        .filter_map(|r| {
            let supervisors = signers.get(&r.id).cloned().unwrap_or_default();
            let by = if r.drill {
                TrainedBy::Drill
            } else if !supervisors.is_empty() {
                TrainedBy::Supervised
            } else {
                return None;
            };
            Some(TrainingRecord {
                run_id: r.id.hyphenated().to_string(),
                procedure_id: r.procedure_id.clone(),
                procedure_version: r.procedure_version.clone(),
                procedure_sha256: r.procedure_sha256.clone(),
                operator: r.operator.clone(),
                operator_name: r.operator_name.clone(),
                by,
                completed_at: r.ended_at.map(time_text).unwrap_or_default(),
                supervisors,
                ended: r.ended_at,
            })
        })
        .collect();
    out.sort_by(|a, b| a.ended.cmp(&b.ended).then(a.run_id.cmp(&b.run_id)));
    out
}

impl TrainingReport {
    /// Training per procedure of `current` (the folder's versions; those
    /// without runs or records are listed with no operators).
    pub fn compute(
        current: &[Current],
        runs: &[RunRow],
        sign_offs: &[(Uuid, String)],
    ) -> TrainingReport {
        let records = records(runs, sign_offs);
        let procedures = current
            .iter()
            .map(|c| procedure_training(c, runs, &records))
            .collect();
        TrainingReport { procedures }
    }

    /// The report as a terminal shows it.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.procedures.is_empty() {
            out.push_str("No procedures found.\n");
            return out;
        }
        for p in &self.procedures {
            let _ = writeln!(
                out,
                "{} v{} — {} (sha256 {})",
                sanitize_line(&p.id),
                sanitize_line(&p.version),
                sanitize_line(&p.title),
                short(&p.sha256)
            );
            if p.operators.is_empty() {
                out.push_str("  nobody trained or ran it yet\n");
            }
            for o in &p.operators {
                let who = match &o.operator_name {
                    Some(n) => format!("{} ({})", o.operator, n),
                    None => o.operator.clone(),
                };
                let detail = match (&o.current, &o.latest_other) {
                    (Some(r), _) => record_words(r),
                    (None, Some(r)) => format!(
                        "trained on v{} ({}) only: {}",
                        r.procedure_version,
                        short(&r.procedure_sha256),
                        record_words(r)
                    ),
                    (None, None) => "ran it without a drill or a supervised run".into(),
                };
                let _ = writeln!(
                    out,
                    "  {:<12} {:<12} {}",
                    sanitize_line(&who),
                    o.standing.words(),
                    sanitize_line(&detail)
                );
            }
            for u in &p.untrained_runs {
                let _ = writeln!(
                    out,
                    "  ! run {} by {} of v{} ({}), a version they were never trained on",
                    u.run_id,
                    sanitize_line(&u.operator),
                    sanitize_line(&u.procedure_version),
                    short(&u.procedure_sha256)
                );
            }
            out.push('\n');
        }
        out
    }
}

impl ProcedureTraining {
    /// What `status` flags for this procedure, in words (empty: nothing):
    /// trained operators out of date now, and the untrained runs started on
    /// or after `since` (status's window; `None`: every one).
    pub fn flags(&self, since: Option<chrono::NaiveDate>) -> Vec<String> {
        let mut out = Vec::new();
        let stale: Vec<&str> = self
            .operators
            .iter()
            .filter(|o| o.standing == Standing::OutOfDate)
            .map(|o| o.operator.as_str())
            .collect();
        if !stale.is_empty() {
            out.push(format!(
                "changed to v{}: trained operators out of date ({})",
                self.version,
                stale.join(", ")
            ));
        }
        let mut untrained: BTreeSet<(String, String)> = BTreeSet::new();
        for u in &self.untrained_runs {
            let started = chrono::DateTime::parse_from_rfc3339(&u.started_at)
                .map(|t| t.with_timezone(&chrono::Utc).date_naive());
            // A time that does not read is flagged rather than hidden.
            if since.is_some_and(|d| started.is_ok_and(|s| s < d)) {
                continue;
            }
            untrained.insert((u.operator.clone(), u.procedure_version.clone()));
        }
        for (who, version) in untrained {
            out.push(format!("{who} ran v{version} without training on it"));
        }
        out
    }
}

fn procedure_training(
    c: &Current,
    runs: &[RunRow],
    records: &[TrainingRecord],
) -> ProcedureTraining {
    let mine: Vec<&TrainingRecord> = records.iter().filter(|r| r.procedure_id == c.id).collect();
    // Every operator with a record, or a production run, of the procedure.
    let mut operators: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for r in &mine {
        operators
            .entry(&r.operator)
            .or_insert_with(|| r.operator_name.clone());
    }
    let production: Vec<&RunRow> = runs
        .iter()
        .filter(|r| r.procedure_id == c.id && !r.drill)
        .collect();
    for r in &production {
        operators
            .entry(&r.operator)
            .or_insert_with(|| r.operator_name.clone());
    }
    let latest = |who: &str, current: bool| {
        mine.iter()
            .rev()
            .find(|r| r.operator == who && (r.procedure_sha256 == c.sha256) == current)
            .map(|r| (*r).clone())
    };
    let operators = operators
        .into_iter()
        .map(|(who, name)| {
            let current = latest(who, true);
            let latest_other = latest(who, false);
            let standing = match (&current, &latest_other) {
                (Some(_), _) => Standing::Trained,
                (None, Some(_)) => Standing::OutOfDate,
                (None, None) => Standing::NeverTrained,
            };
            OperatorTraining {
                operator: who.to_string(),
                operator_name: name,
                standing,
                current,
                latest_other,
            }
        })
        .collect();
    let trained_on: BTreeSet<(&str, &str)> = mine
        .iter()
        .map(|r| (r.operator.as_str(), r.procedure_sha256.as_str()))
        .collect();
    let mut untrained_runs: Vec<UntrainedRun> = production
        .iter()
        .filter(|r| !trained_on.contains(&(r.operator.as_str(), r.procedure_sha256.as_str())))
        .map(|r| UntrainedRun {
            run_id: r.id.hyphenated().to_string(),
            operator: r.operator.clone(),
            procedure_version: r.procedure_version.clone(),
            procedure_sha256: r.procedure_sha256.clone(),
            started_at: time_text(r.started_at),
        })
        .collect();
    untrained_runs.sort_by(|a, b| a.started_at.cmp(&b.started_at));
    ProcedureTraining {
        id: c.id.clone(),
        title: c.title.clone(),
        version: c.version.clone(),
        sha256: c.sha256.clone(),
        operators,
        untrained_runs,
    }
}

/// "drill completed 2026-12-03 10:00:00Z (run 0190…), supervised by bob".
fn record_words(r: &TrainingRecord) -> String {
    let how = match r.by {
        TrainedBy::Drill => "drill",
        TrainedBy::Supervised => "supervised run",
    };
    let sup = if r.supervisors.is_empty() {
        ", unsupervised".to_string()
    } else {
        format!(", supervised by {}", r.supervisors.join(", "))
    };
    let when = crate::report::shown_time(&r.completed_at);
    format!(
        "{how} of v{} completed {when} (run {}){sup}",
        r.procedure_version,
        r.run_id.get(..8).unwrap_or(&r.run_id)
    )
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const OLD: &str = "a1";
    const NEW: &str = "b2";

    /// Run `n` of procedure `p` (hash `sha`: v1.0 or v1.1) by `who`, a
    /// drill or not, on day `day` of November 2026; completed unless `open`.
    fn run(n: u128, who: &str, sha: &str, drill: bool, day: u32, open: bool) -> RunRow {
        let at = Utc.with_ymd_and_hms(2026, 11, day, 2, 0, 0).unwrap();
        RunRow {
            id: Uuid::from_u128(n),
            procedure_id: "p".into(),
            procedure_version: if sha == OLD { "1.0" } else { "1.1" }.into(),
            procedure_title: "P".into(),
            procedure_sha256: sha.into(),
            controls: vec![],
            source_path: "p.toml".into(),
            operator: who.into(),
            operator_name: None,
            host: "h".into(),
            runsheet_version: "0".into(),
            started_at: at,
            ended_at: (!open).then_some(at),
            outcome: (!open).then(|| "completed".into()),
            drill,
            event_count: 3,
            last_at: at,
        }
    }

    fn current() -> Vec<Current> {
        vec![Current {
            id: "p".into(),
            title: "P".into(),
            version: "1.1".into(),
            sha256: NEW.into(),
        }]
    }

    fn standing(t: &TrainingReport, who: &str) -> Standing {
        t.procedures[0]
            .operators
            .iter()
            .find(|o| o.operator == who)
            .map(|o| o.standing)
            .unwrap_or_else(|| panic!("{who} not listed"))
    }

    #[test]
    fn a_completed_drill_or_supervised_run_of_the_current_version_trains_an_open_drill_does_not() {
        let runs = [
            run(1, "alice", NEW, true, 1, false),
            run(2, "bob", NEW, false, 2, false),
            run(3, "carol", NEW, true, 3, true),
        ];
        let sign_offs = [(Uuid::from_u128(2), "dana".to_string())];
        let t = TrainingReport::compute(&current(), &runs, &sign_offs);
        assert_eq!(standing(&t, "alice"), Standing::Trained);
        assert_eq!(standing(&t, "bob"), Standing::Trained);
        let bob = &t.procedures[0].operators[1];
        assert_eq!(
            bob.current.as_ref().map(|r| r.by),
            Some(TrainedBy::Supervised)
        );
        assert_eq!(
            bob.current.as_ref().map(|r| r.supervisors.clone()),
            Some(vec!["dana".to_string()])
        );
        // An unfinished drill is no training record, and no production run.
        assert!(
            t.procedures[0]
                .operators
                .iter()
                .all(|o| o.operator != "carol")
        );
        assert!(t.procedures[0].untrained_runs.is_empty());
        assert!(t.procedures[0].flags(None).is_empty());
    }

    #[test]
    fn a_change_leaves_trained_operators_out_of_date_and_an_untrained_run_is_flagged() {
        let runs = [
            run(1, "alice", OLD, true, 1, false),
            // alice runs the new version without training on it.
            run(2, "alice", NEW, false, 2, false),
            // erin never trained at all.
            run(3, "erin", OLD, false, 3, true),
        ];
        let t = TrainingReport::compute(&current(), &runs, &[]);
        assert_eq!(standing(&t, "alice"), Standing::OutOfDate);
        assert_eq!(standing(&t, "erin"), Standing::NeverTrained);
        let untrained: Vec<&str> = t.procedures[0]
            .untrained_runs
            .iter()
            .map(|u| u.operator.as_str())
            .collect();
        assert_eq!(untrained, ["alice", "erin"]);
        assert_eq!(
            t.procedures[0].flags(None),
            [
                "changed to v1.1: trained operators out of date (alice)",
                "alice ran v1.1 without training on it",
                "erin ran v1.0 without training on it",
            ]
        );
        // status's window: only the runs started in it are flagged (erin's
        // run is of 2026-11-03, alice's of 11-02); who is out of date is
        // flagged whatever the window.
        let since = |d| chrono::NaiveDate::from_ymd_opt(2026, 11, d);
        assert_eq!(
            t.procedures[0].flags(since(3)),
            [
                "changed to v1.1: trained operators out of date (alice)",
                "erin ran v1.0 without training on it",
            ]
        );
        assert_eq!(
            t.procedures[0].flags(since(4)),
            ["changed to v1.1: trained operators out of date (alice)"]
        );
    }
}
