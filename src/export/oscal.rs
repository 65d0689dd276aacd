//! `oscal/assessment-results.json`: the export as an OSCAL 1.2 (1.2.1)
//! Assessment Results document for GRC tools (docs/audit-bundle.md, "OSCAL
//! assessment results"): one result for the export's period, the Annex A
//! controls of the exported runs as its reviewed controls, an observation
//! per run, a finding per control, and back-matter resources carrying the
//! SHA-256 of every procedure source and every other data file.
//!
//! Streamed like the other bundle files: during the run pass each run's
//! observation UUID is spooled under each of its controls (for the
//! findings' related observations); between the passes the head is written
//! (metadata, the result up to its reviewed controls); during the event
//! pass the format threads describe each run as an observation and the
//! merge thread appends it; at the end the findings (from the summary, the
//! cadence coverage and the spool) and the back-matter (every other data
//! file's hash) close the file. Memory holds the summary's per-control and
//! per-procedure data, never per-run data.
//!
//! May not open or query the store (`bundle` hands it the rows, the summary
//! and the files; it uses only the store's row type and its time and
//! canonical-JSON text), nor depend on the front ends or the app.

pub mod ids;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use self::ids::Ids;
use self::model::*;
use super::bundle::Formats;
use super::bundle::file::BundleFile;
use super::manifest::FileEntry;
use super::{ReportMeta, Summary, filters_json, filters_text, period_text};
use crate::error::Error;
use crate::procedure::lint::annex_a_control;
use crate::report::{RunStats, outcome_text};
use crate::store::{RunRow, canonical_json, time_text};
use crate::text::natural::Natural;

/// The file's path in the bundle.
pub const FILE: &str = "oscal/assessment-results.json";
/// Its folder.
pub const DIR: &str = "oscal";
/// The OSCAL version the document is written for (and validated against).
pub const OSCAL_VERSION: &str = "1.2.1";
/// The catalog the control ids name.
pub const CATALOG: &str = "ISO/IEC 27001:2022 Annex A";
/// Observation methods OSCAL defines (the file uses TEST and EXAMINE).
pub const METHODS: [&str; 4] = ["EXAMINE", "INTERVIEW", "TEST", "UNKNOWN"];

/// What the "No OSCAL assessment plan" resource says (also its content).
const NO_PLAN: &str = "runsheet has no OSCAL assessment plan. What was assessed is whether the documented procedures (the procedure resources) were followed, run by run, as the evidence log recorded; the controls assessed are the ones the procedures name.";

/// The spool of (control, observation UUID) lines, beside the bundle.
const RELATED_SPOOL: &str = ".oscal.related";

fn io_err(path: &Path, e: &io::Error) -> Error {
    Error::io(path, e)
}

fn json<T: serde::Serialize>(v: &T) -> io::Result<String> {
    serde_json::to_string(v).map_err(io::Error::other)
}

/// What a format thread needs to describe a run as an observation.
#[derive(Debug, Clone)]
pub struct Observer {
    ids: Ids,
    formats: Formats,
}

impl Observer {
    /// TEST when a step's command ran from the runner (its exit code and
    /// output are evidence), else EXAMINE (the operator's recorded
    /// confirmations, answers, values and notes are examined).
    pub fn method(commands_ran: u64) -> &'static str {
        if commands_ran > 0 { "TEST" } else { "EXAMINE" }
    }

    /// One run's observation, as one line of JSON.
    pub fn observation(
        &self,
        row: &RunRow,
        stats: &RunStats,
        commands_ran: u64,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let id = row.id.hyphenated().to_string();
        let outcome = outcome_text(row);
        let mut props = Props::default();
        props
            .add("run-id", &id)
            .add("outcome", outcome)
            .add("started-at", time_text(row.started_at))
            .add("ended-at", row.ended_at.map(time_text).unwrap_or_default())
            .add("operator", &row.operator)
            .add("operator-name", row.operator_name.as_deref().unwrap_or(""))
            .add("host", &row.host)
            .add("procedure-id", &row.procedure_id)
            .add("procedure-version", &row.procedure_version)
            .add("procedure-sha256", &row.procedure_sha256)
            .add("events", stats.events.to_string())
            .add("commands-ran", commands_ran.to_string())
            .add("deviations", stats.deviations().to_string())
            .add("runsheet-version", &row.runsheet_version);
        for c in &row.controls {
            props.add("control", c);
        }
        let d = &stats.deviations;
        let description = format!(
            "Run {id} of procedure {} version {} ({}), by {} on {}, started {}{}: {outcome}. \
             {} events; {} step commands ran from the runner; {} deviations ({} skipped steps, {} failed steps, {} warnings acknowledged).",
            row.procedure_id,
            row.procedure_version,
            crate::text::sanitize_line(&row.procedure_title),
            crate::text::sanitize_line(&row.operator),
            crate::text::sanitize_line(&row.host),
            time_text(row.started_at),
            row.ended_at
                .map(|e| format!(", ended {}", time_text(e)))
                .unwrap_or_else(|| ", still open".into()),
            stats.events,
            commands_ran,
            stats.deviations(),
            d.skipped,
            d.failed,
            d.warnings_acknowledged,
        );
        let mut evidence = Vec::new();
        if self.formats.html {
            evidence.push(RelevantEvidence {
                href: format!("../report.html#run-{id}"),
                description: "The run's timeline in the bundle's report: every event with its time, actor and what happened.".into(),
            });
        }
        if self.formats.json {
            evidence.push(RelevantEvidence {
                href: "../evidence.json".into(),
                description: format!(
                    "Full fidelity: the run (runs[] with id {id}) and every event of it (events[] with run_id {id}) with its canonical payload and hashes."
                ),
            });
        }
        if self.formats.csv {
            evidence.push(RelevantEvidence {
                href: "../events.csv".into(),
                description: format!("The run's events, one row each (run_id {id})."),
            });
        }
        evidence.push(RelevantEvidence {
            href: format!("#{}", self.ids.procedure(&row.procedure_sha256)),
            description: "The exact procedure source the run followed (back-matter resource, with its SHA-256).".into(),
        });
        let obs = Observation {
            uuid: self.ids.observation(&id),
            title: title(
                &format!("Run of {} {}", row.procedure_id, row.procedure_version),
                "Run",
            ),
            description,
            props,
            methods: vec![Observer::method(commands_ran)],
            types: vec!["control-objective"],
            subjects: vec![SubjectReference {
                subject_uuid: self.ids.component(&row.procedure_id),
                kind: "component",
                title: title(&row.procedure_title, &row.procedure_id),
            }],
            relevant_evidence: evidence,
            collected: time_text(row.ended_at.unwrap_or(row.last_at)),
        };
        out.extend_from_slice(json(&obs)?.as_bytes());
        Ok(())
    }
}

/// The file being written, from the run pass to the end.
pub struct Writer {
    ids: Ids,
    origin: String,
    formats: Formats,
    /// Canonical JSON of the filters (in the result's and findings' UUIDs).
    filters: String,
    related: Option<(PathBuf, BufWriter<File>)>,
    /// Procedure id → every control its exported runs name.
    procedures: BTreeMap<String, BTreeSet<String>>,
    /// The reviewed controls, in natural order (set by `begin`).
    reviewed: Vec<String>,
    file: Option<BundleFile>,
    observations: u64,
}

impl Writer {
    /// Start the spool; `origin` is the log's identity (its `log-key` origin).
    pub fn create(
        dir: &Path,
        origin: &str,
        formats: Formats,
        meta: &ReportMeta,
    ) -> Result<Writer, Error> {
        let path = dir.join(RELATED_SPOOL);
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, &e))?;
        Ok(Writer {
            ids: Ids::new(origin),
            origin: origin.to_string(),
            formats,
            filters: canonical_json(&filters_json(&meta.query)),
            related: Some((path, BufWriter::with_capacity(32 * 1024, file))),
            procedures: BTreeMap::new(),
            reviewed: Vec::new(),
            file: None,
            observations: 0,
        })
    }

    /// For the format threads.
    pub fn observer(&self) -> Observer {
        Observer {
            ids: self.ids.clone(),
            formats: self.formats,
        }
    }

    /// Run pass: note the run's observation under each of its controls.
    pub fn run(&mut self, r: &RunRow) -> Result<(), Error> {
        let controls = self.procedures.entry(r.procedure_id.clone()).or_default();
        controls.extend(r.controls.iter().cloned());
        if let Some((path, w)) = self.related.as_mut() {
            let obs = self.ids.observation(&r.id.hyphenated().to_string());
            for c in &r.controls {
                if !c.contains(['\t', '\n']) {
                    writeln!(w, "{c}\t{obs}").map_err(|e| io_err(path, &e))?;
                }
            }
        }
        Ok(())
    }

    /// Between the passes: the metadata, the assessment plan reference and
    /// the result up to its observations.
    pub fn begin(&mut self, dir: &Path, meta: &ReportMeta, summary: &Summary) -> Result<(), Error> {
        let folder = dir.join(DIR);
        fs::create_dir(&folder).map_err(|e| io_err(&folder, &e))?;
        let mut reviewed: BTreeSet<Natural> = summary
            .by_control
            .keys()
            .filter(|c| annex_a_control(&c.0).is_ok_and(|n| n == c.0))
            .cloned()
            .collect();
        if let Some(c) = meta
            .query
            .control
            .as_deref()
            .and_then(|c| annex_a_control(c).ok())
        {
            reviewed.insert(Natural(c));
        }
        self.reviewed = reviewed.into_iter().map(|n| n.0).collect();
        let mut f = BundleFile::create(dir, FILE)?;
        let head = self.head(meta, summary).map_err(|e| f.err(&e))?;
        f.write_all(head.as_bytes()).map_err(|e| f.err(&e))?;
        self.file = Some(f);
        Ok(())
    }

    fn head(&self, meta: &ReportMeta, summary: &Summary) -> io::Result<String> {
        let created = time_text(meta.created_at);
        let exporter = self.ids.party(&meta.exported_by);
        let mut meta_props = Props::default();
        meta_props
            .add("generator", &meta.generator)
            .add("log-origin", &self.origin)
            .add("log-verification", meta.verdict.mark())
            .add("data-head-seq", meta.checkpoint.head_seq.to_string())
            .add("data-head-hash", &meta.checkpoint.head_hash);
        let metadata = Metadata {
            title: title(
                &format!("runsheet assessment results: {}", filters_text(&meta.query)),
                "runsheet assessment results",
            ),
            published: created.clone(),
            last_modified: created.clone(),
            version: format!("log-head-{}", meta.checkpoint.head_seq),
            oscal_version: OSCAL_VERSION,
            props: meta_props,
            roles: vec![Role {
                id: "prepared-by",
                title: "Prepared By",
            }],
            parties: vec![Party {
                uuid: exporter.clone(),
                kind: "person",
                name: title(&meta.exported_by, "unknown"),
                props: Props::default(),
            }],
            responsible_parties: vec![ResponsibleParty {
                role_id: "prepared-by",
                party_uuids: vec![exporter],
            }],
            remarks: format!(
                "Exported by {} with {} from the evidence log {}. {} The bundle's manifest.json and export.json (in the log's hash chain) list this file's SHA-256.",
                crate::text::sanitize_line(&meta.exported_by),
                meta.generator,
                self.origin,
                meta.verdict.sentence()
            ),
        };
        let import_ap = ImportAp {
            href: format!("#{}", self.ids.resource("assessment-plan")),
            remarks: "runsheet keeps no OSCAL assessment plan: this points at a back-matter resource that says so. The plan is the documented procedures themselves (their sources are back-matter resources).".into(),
        };
        let (start, end) = period(meta, summary);
        let mut result_props = Props::default();
        result_props
            .add("filters", &self.filters)
            .add("runs", meta.runs.to_string())
            .add("events", meta.events.to_string())
            .add("log-verification", meta.verdict.mark());
        let components: Vec<Component> = summary
            .by_procedure
            .iter()
            .map(|(id, (ptitle, versions, _))| {
                let mut props = Props::default();
                props.add("procedure-id", id);
                for v in versions {
                    props.add("procedure-version", v);
                }
                Component {
                    uuid: self.ids.component(id),
                    kind: "process-procedure",
                    title: title(ptitle, id),
                    description: format!(
                        "The documented procedure {id} ({}), versions run: {}.",
                        crate::text::sanitize_line(ptitle),
                        versions
                            .iter()
                            .map(|v| crate::text::sanitize_line(v))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    props,
                    status: Status {
                        state: "operational",
                    },
                }
            })
            .collect();
        let selection = if self.reviewed.is_empty() {
            ControlSelection {
                description: format!(
                    "No exported run names an {CATALOG} control, so no control was reviewed. OSCAL requires a selection: this include-all stands for none, and there is no finding."
                ),
                include_all: Some(serde_json::Map::new()),
                include_controls: Vec::new(),
            }
        } else {
            ControlSelection {
                description: format!(
                    "The {CATALOG} controls the exported runs' procedures name{}.",
                    if meta.query.control.is_some() {
                        ", and the control the export was filtered by"
                    } else {
                        ""
                    }
                ),
                include_all: None,
                include_controls: self
                    .reviewed
                    .iter()
                    .map(|c| ControlId {
                        control_id: c.clone(),
                    })
                    .collect(),
            }
        };
        let mut rc_props = Props::default();
        rc_props.add("catalog", CATALOG);
        let reviewed = ReviewedControls {
            description: format!(
                "Control ids are {CATALOG} control numbers (A.<theme>.<number>), not ids of a NIST or other OSCAL catalog; see the catalog resource."
            ),
            props: rc_props,
            links: vec![Link {
                href: format!("#{}", self.ids.resource("catalog")),
                rel: Some("reference"),
                text: Some(CATALOG.into()),
            }],
            control_selections: vec![selection],
        };
        let unknown: Vec<&str> = summary
            .by_control
            .keys()
            .map(|c| c.0.as_str())
            .filter(|c| annex_a_control(c).map_or(true, |n| n != *c))
            .collect();
        let result_title = title(
            &format!("Procedure runs: {}", period_text(&meta.query)),
            "Procedure runs",
        );
        let mut remarks = format!(
            "Filters: {}. {}",
            filters_text(&meta.query),
            meta.verdict.sentence()
        );
        if !unknown.is_empty() {
            remarks.push_str(&format!(
                " Runs also name these, which are not {CATALOG} controls and are not reviewed here: {}.",
                unknown
                    .iter()
                    .map(|c| crate::text::sanitize_line(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if meta.verdict.test_data {
            remarks.push_str(" The log holds generated test data, not evidence.");
        }
        let mut s = String::from("{\"assessment-results\":{");
        s.push_str(&format!(
            "\"uuid\":{},\n\"metadata\":{},\n\"import-ap\":{},\n\"results\":[{{",
            json(
                &self
                    .ids
                    .document(meta.checkpoint.head_seq, &created, &self.filters)
            )?,
            json(&metadata)?,
            json(&import_ap)?,
        ));
        s.push_str(&format!(
            "\"uuid\":{},\"title\":{},\"description\":{},\"start\":{},\"end\":{},\"props\":{},\n",
            json(&self.ids.result(meta.checkpoint.head_seq, &self.filters))?,
            json(&result_title)?,
            json(&format!(
                "Every run of the exported procedures that the filters select, as runsheet's evidence log {} recorded it: an observation per run, a finding per {CATALOG} control.",
                self.origin
            ))?,
            json(&start)?,
            json(&end)?,
            json(&result_props)?,
        ));
        if !components.is_empty() {
            s.push_str(&format!(
                "\"local-definitions\":{},\n",
                json(&LocalDefinitions { components })?
            ));
        }
        s.push_str(&format!(
            "\"reviewed-controls\":{},\n\"remarks\":{}",
            json(&reviewed)?,
            json(&remarks)?
        ));
        if meta.runs > 0 {
            s.push_str(",\n\"observations\":[\n");
        }
        Ok(s)
    }

    /// Event pass (merge thread): one run's observation, in run order.
    pub fn append(&mut self, observation: &[u8]) -> Result<(), Error> {
        if observation.is_empty() {
            return Ok(());
        }
        if let Some(f) = self.file.as_mut() {
            if self.observations > 0 {
                f.write_all(b",\n").map_err(|e| f.err(&e))?;
            }
            f.write_all(observation).map_err(|e| f.err(&e))?;
        }
        self.observations += 1;
        Ok(())
    }

    /// The findings and the back-matter; `files` are every other data
    /// file of the bundle, written.
    pub fn finish(
        mut self,
        meta: &ReportMeta,
        summary: &Summary,
        files: &[FileEntry],
    ) -> Result<FileEntry, Error> {
        let Some(mut f) = self.file.take() else {
            return Err(Error::Internal("the OSCAL file was not begun".into()));
        };
        if self.observations != meta.runs as u64 {
            return Err(Error::Internal(format!(
                "the OSCAL file has {} observations for {} runs; nothing was exported",
                self.observations, meta.runs
            )));
        }
        if meta.runs > 0 {
            f.write_all(b"\n]").map_err(|e| f.err(&e))?;
        }
        let (spool_path, spool) = match self.related.take() {
            Some((path, w)) => {
                let file = w.into_inner().map_err(|e| io_err(&path, e.error()))?;
                (path, file)
            }
            None => return Err(Error::Internal("the OSCAL spool is gone".into())),
        };
        let mut spool = spool;
        if !self.reviewed.is_empty() {
            f.write_all(b",\n\"findings\":[\n").map_err(|e| f.err(&e))?;
            for (i, control) in self.reviewed.iter().enumerate() {
                let finding = self.finding(control, meta, summary);
                let text = json(&finding).map_err(|e| f.err(&e))?;
                // The finding's object, left open for its related observations.
                let open = text.strip_suffix('}').unwrap_or(&text);
                if i > 0 {
                    f.write_all(b",\n").map_err(|e| f.err(&e))?;
                }
                f.write_all(open.as_bytes()).map_err(|e| f.err(&e))?;
                related(&mut spool, &spool_path, control, &mut f)?;
                f.write_all(b"}").map_err(|e| f.err(&e))?;
            }
            f.write_all(b"\n]").map_err(|e| f.err(&e))?;
        }
        drop(spool);
        fs::remove_file(&spool_path).map_err(|e| io_err(&spool_path, &e))?;
        f.write_all(b"}],\n\"back-matter\":{\"resources\":[\n")
            .map_err(|e| f.err(&e))?;
        let resources = self.resources(files);
        for (i, r) in resources.iter().enumerate() {
            if i > 0 {
                f.write_all(b",\n").map_err(|e| f.err(&e))?;
            }
            let text = json(r).map_err(|e| f.err(&e))?;
            f.write_all(text.as_bytes()).map_err(|e| f.err(&e))?;
        }
        f.write_all(b"\n]}}}\n").map_err(|e| f.err(&e))?;
        f.finish()
    }

    fn finding(&self, control: &str, meta: &ReportMeta, summary: &Summary) -> Finding {
        let counts = summary
            .by_control
            .get(&Natural(control.to_string()))
            .copied()
            .unwrap_or_default();
        let o = counts.outcomes;
        let procedures: Vec<&str> = self
            .procedures
            .iter()
            .filter(|(_, cs)| cs.contains(control))
            .map(|(p, _)| p.as_str())
            .collect();
        let mut reasons = Vec::new();
        if !meta.verdict.verified {
            reasons.push(format!(
                "the evidence log failed verification at export ({})",
                meta.verdict.mark()
            ));
        }
        if o.runs == 0 {
            reasons.push("no exported run names this control".to_string());
        }
        for (n, what) in [
            (o.escalated, "escalated"),
            (o.failed, "failed"),
            (o.aborted, "aborted"),
        ] {
            if n > 0 {
                reasons.push(format!("{n} runs {what}"));
            }
        }
        if counts.deviations > 0 {
            reasons.push(format!(
                "{} deviations (skipped steps, failed steps, acknowledged warnings)",
                counts.deviations
            ));
        }
        let mut missed_total = 0usize;
        for p in &procedures {
            if let Some(c) = summary.coverage.get(*p)
                && !c.missed.is_empty()
            {
                missed_total += c.missed.len();
                reasons.push(format!(
                    "procedure {p} missed {} of {} {} periods from {} to {}: {}",
                    c.missed.len(),
                    c.checked.len(),
                    serde_json::to_value(c.cadence)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    c.from,
                    c.to,
                    c.missed
                        .iter()
                        .map(|m| m.label(c.cadence))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let satisfied = reasons.is_empty();
        let mut remarks = if satisfied {
            "Satisfied: every exported run of it completed with no deviation, and no procedure of it missed a period of its cadence.".to_string()
        } else {
            format!("Not satisfied: {}.", reasons.join("; "))
        };
        if o.open > 0 {
            remarks.push_str(&format!(" {} runs were still open at export.", o.open));
        }
        let mut props = Props::default();
        props
            .add("runs", o.runs.to_string())
            .add("completed", o.completed.to_string())
            .add("escalated", o.escalated.to_string())
            .add("failed", o.failed.to_string())
            .add("aborted", o.aborted.to_string())
            .add("open", o.open.to_string())
            .add("deviations", counts.deviations.to_string())
            .add("missed-periods", missed_total.to_string());
        for p in &procedures {
            props.add("procedure-id", p);
        }
        let description = format!(
            "{control}: {} runs ({} completed, {} escalated, {} failed, {} aborted, {} open) of {}; {} deviations; {} missed cadence periods.",
            o.runs,
            o.completed,
            o.escalated,
            o.failed,
            o.aborted,
            o.open,
            if procedures.is_empty() {
                "no procedure".to_string()
            } else {
                format!("the procedures {}", procedures.join(", "))
            },
            counts.deviations,
            missed_total
        );
        Finding {
            uuid: self.ids.finding(control, &self.filters),
            title: title(&format!("{CATALOG} {control}"), control),
            description: description.clone(),
            props,
            target: FindingTarget {
                kind: "objective-id",
                target_id: control.to_string(),
                title: title(&format!("{control} ({CATALOG})"), control),
                description,
                status: ObjectiveStatus {
                    state: if satisfied {
                        "satisfied"
                    } else {
                        "not-satisfied"
                    },
                    reason: if satisfied { "pass" } else { "fail" },
                    remarks,
                },
            },
        }
    }

    fn resources(&self, files: &[FileEntry]) -> Vec<Resource> {
        let mut out = vec![
            Resource {
                uuid: self.ids.resource("assessment-plan"),
                title: "No OSCAL assessment plan".into(),
                description: NO_PLAN.into(),
                props: Props::default(),
                citation: None,
                rlinks: Vec::new(),
                // OSCAL wants a resource's content or a link to it: the statement itself.
                base64: Some(Base64 {
                    filename: "no-assessment-plan.txt",
                    media_type: "text/plain",
                    value: base64::engine::general_purpose::STANDARD.encode(NO_PLAN),
                }),
            },
            Resource {
                uuid: self.ids.resource("catalog"),
                title: CATALOG.into(),
                description: "The controls' catalog: ISO/IEC 27001:2022, Annex A (Information security controls reference). Control ids are its numbers, e.g. A.8.13; no OSCAL rendering of it is referenced.".into(),
                props: Props::default(),
                citation: Some(Citation {
                    text: "ISO/IEC 27001:2022 Information security, cybersecurity and privacy protection — Information security management systems — Requirements, Annex A".into(),
                }),
                rlinks: vec![Rlink {
                    href: "https://www.iso.org/standard/27001".into(),
                    media_type: "text/html",
                    hashes: Vec::new(),
                }],
                base64: None,
            },
            Resource {
                uuid: self.ids.resource("manifest"),
                title: "The bundle's manifest".into(),
                description: "manifest.json lists every file of the bundle, this one included, with its SHA-256; export.json, the log's record of this export (in its hash chain and signed checkpoint), lists every data file's. Neither can be hashed here: they are written after this file.".into(),
                props: Props::default(),
                citation: None,
                rlinks: vec![Rlink {
                    href: "../manifest.json".into(),
                    media_type: "application/json",
                    hashes: Vec::new(),
                }],
                base64: None,
            },
        ];
        for f in files {
            let (uuid, title, description) = match f.path.strip_prefix("procedures/") {
                Some(name) => {
                    let sha = name.rsplit_once('.').map_or(name, |(s, _)| s);
                    (
                        self.ids.procedure(sha),
                        format!("Procedure source {sha}"),
                        "The exact procedure file runs used, byte for byte, named by its SHA-256."
                            .to_string(),
                    )
                }
                None => (
                    self.ids.file(&f.path),
                    f.path.clone(),
                    format!("The bundle's {} ({} bytes).", f.path, f.bytes),
                ),
            };
            let mut props = Props::default();
            props.add("bytes", f.bytes.to_string());
            out.push(Resource {
                uuid,
                title,
                description,
                props,
                citation: None,
                base64: None,
                rlinks: vec![Rlink {
                    href: format!("../{}", f.path),
                    media_type: media_type(&f.path),
                    hashes: vec![Hash {
                        algorithm: "SHA-256",
                        value: f.sha256.clone(),
                    }],
                }],
            });
        }
        out
    }
}

/// Copy `control`'s related observations from the spool into `f`.
fn related(spool: &mut File, path: &Path, control: &str, f: &mut BundleFile) -> Result<(), Error> {
    spool.rewind().map_err(|e| io_err(path, &e))?;
    let mut first = true;
    for line in BufReader::with_capacity(64 * 1024, &*spool).lines() {
        let line = line.map_err(|e| io_err(path, &e))?;
        let Some((c, obs)) = line.split_once('\t') else {
            continue;
        };
        if c != control {
            continue;
        }
        let item = format!(
            "{}\n{{\"observation-uuid\":\"{obs}\"}}",
            if first {
                ",\"related-observations\":["
            } else {
                ","
            }
        );
        first = false;
        f.write_all(item.as_bytes()).map_err(|e| f.err(&e))?;
    }
    if !first {
        f.write_all(b"]").map_err(|e| f.err(&e))?;
    }
    Ok(())
}

/// The result's start and end: the filter's days (from the start of
/// `since`, to the end of `until` but not after the export), else the
/// first run's start (no run: the end) and the export time; never an end
/// before the start.
fn period(meta: &ReportMeta, summary: &Summary) -> (String, String) {
    let day_start = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc();
    let end = meta
        .query
        .until
        .and_then(|u| u.succ_opt())
        .map(|d| day_start(d) - chrono::Duration::milliseconds(1))
        .map_or(meta.created_at, |e| e.min(meta.created_at));
    let start: DateTime<Utc> = meta
        .query
        .since
        .map(day_start)
        .or(summary.first)
        .unwrap_or(end);
    (time_text(start), time_text(end.max(start)))
}
