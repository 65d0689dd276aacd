//! Documented-information control from the evidence log (docs/approval.md):
//! the approvals and reviews the log records for a procedure, as plain data
//! the app reads from the store and hands to lint, list, status and the
//! engine; whether the exact content is approved; when the next review is
//! due (the recorded review's date, else the file's); the run-time policy
//! for content nobody approved.
//!
//! May not depend on IO, the clock, the store, the engine or the front ends.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Procedure;

/// The role an approval or a review is performed in: granted by the
/// allowed-signers file for the namespace `runsheet-signoff@approver`.
pub const APPROVER_ROLE: &str = "approver";

/// A recorded approval of one exact content of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedApproval {
    /// The log record's seq.
    pub seq: i64,
    pub sha256: String,
    pub version: String,
    pub on: NaiveDate,
    /// The approver's user name (OS user or SSH principal).
    pub by: String,
    /// Their display name, if given.
    pub name: Option<String>,
    /// `login` or `ssh`.
    pub method: String,
    /// Was the approver's role checked against an allowed-signers file?
    pub role_checked: bool,
}

/// A recorded review of a procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedReview {
    pub seq: i64,
    pub sha256: String,
    pub version: String,
    pub on: NaiveDate,
    pub by: String,
    /// `unchanged` or `changed`.
    pub outcome: String,
    pub next: NaiveDate,
}

/// A recorded review in the `--json` outputs of `list` and `status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RecordedReviewJson {
    /// YYYY-MM-DD.
    pub on: String,
    /// The reviewer (OS user or SSH principal).
    pub by: String,
    /// The version reviewed.
    pub version: String,
    /// `unchanged` or `changed`.
    pub outcome: String,
    /// The next review date it set (YYYY-MM-DD).
    pub next: String,
    /// The log record's seq.
    pub seq: i64,
}

impl From<&RecordedReview> for RecordedReviewJson {
    fn from(r: &RecordedReview) -> Self {
        RecordedReviewJson {
            on: r.on.format("%Y-%m-%d").to_string(),
            by: r.by.clone(),
            version: r.version.clone(),
            outcome: r.outcome.clone(),
            next: r.next.format("%Y-%m-%d").to_string(),
            seq: r.seq,
        }
    }
}

/// What the log records about one procedure (every version), in log order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recorded {
    pub approvals: Vec<RecordedApproval>,
    pub reviews: Vec<RecordedReview>,
}

impl Recorded {
    /// The approvals of the content with SHA-256 `sha256` whose approver's
    /// role was checked: only these make the content approved.
    pub fn approvals_of<'a>(
        &'a self,
        sha256: &'a str,
    ) -> impl Iterator<Item = &'a RecordedApproval> {
        self.approvals
            .iter()
            .filter(move |a| a.sha256 == sha256 && a.role_checked)
    }

    /// The latest recorded review (of any version).
    pub fn last_review(&self) -> Option<&RecordedReview> {
        self.reviews.last()
    }

    /// The latest review found the procedure needs a change, and no
    /// approval of other content has been recorded since.
    pub fn change_pending(&self) -> Option<&RecordedReview> {
        let r = self
            .last_review()
            .filter(|r| r.outcome == OUTCOME_CHANGED)?;
        let approved_since = self
            .approvals
            .iter()
            .any(|a| a.seq > r.seq && a.sha256 != r.sha256 && a.role_checked);
        (!approved_since).then_some(r)
    }
}

/// What the log records per procedure id.
pub type RecordedById = std::collections::BTreeMap<String, Recorded>;

/// A review's outcome: the procedure is still suitable as it is.
pub const OUTCOME_UNCHANGED: &str = "unchanged";
/// A review's outcome: the procedure needs a change (a new version, approved).
pub const OUTCOME_CHANGED: &str = "changed";

/// Where a next-review date comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DueFrom {
    /// The latest review recorded in the log.
    Log,
    /// The file's `next_review`, or `approved` plus `review_every_months`.
    File,
}

impl DueFrom {
    /// `(recorded review)` or `(file)`, as list and status show it.
    pub fn words(self) -> &'static str {
        match self {
            DueFrom::Log => "recorded review",
            DueFrom::File => "file",
        }
    }
}

/// When the next review of `p` is due: the latest recorded review's next
/// date, else the file's dates.
pub fn next_review(p: &Procedure, last: Option<&RecordedReview>) -> Option<(NaiveDate, DueFrom)> {
    match last {
        Some(r) => Some((r.next, DueFrom::Log)),
        None => p.review_due().map(|d| (d, DueFrom::File)),
    }
}

/// Months between reviews when the procedure names no interval.
pub const DEFAULT_REVIEW_MONTHS: u32 = 12;

/// The default next review after a review on `today`: the procedure's
/// `review_every_months` later, else [`DEFAULT_REVIEW_MONTHS`].
pub fn default_next_review(p: &Procedure, today: NaiveDate) -> Option<NaiveDate> {
    let months = p
        .review_every_months
        .filter(|m| *m > 0)
        .unwrap_or(DEFAULT_REVIEW_MONTHS);
    today.checked_add_months(chrono::Months::new(months))
}

/// What `run` does with content no approver approved (docs/approval.md).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Unapproved {
    /// Do not check (a deployment that keeps approvals elsewhere); only the
    /// configuration (`unapproved = "allow"`) can say it.
    Allow,
    /// Warn before the first step; going ahead is recorded as a deviation.
    #[default]
    Warn,
    /// Refuse to start the run.
    Refuse,
}

impl Unapproved {
    pub fn as_str(self) -> &'static str {
        match self {
            Unapproved::Allow => "allow",
            Unapproved::Warn => "warn",
            Unapproved::Refuse => "refuse",
        }
    }

    pub fn parse(s: &str) -> Option<Unapproved> {
        [Unapproved::Allow, Unapproved::Warn, Unapproved::Refuse]
            .into_iter()
            .find(|u| u.as_str() == s)
    }

    /// The policy of a run: the stricter of the procedure's and the
    /// setting's (a procedure can ask for more, never for less).
    pub fn effective(procedure: Option<Unapproved>, setting: Unapproved) -> Unapproved {
        procedure.map_or(setting, |p| p.max(setting))
    }
}

/// Whether the content a run starts is approved, as the app found it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ApprovalCheck {
    /// Not checked (policy `allow`, or a caller that does not read the log).
    #[default]
    NotChecked,
    /// Approved by an approver: their name and the date.
    Approved { by: String, on: NaiveDate },
    /// No recorded approval of this content by an approver.
    Missing,
}

/// What a run's start is told about the log's record of its procedure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartControl {
    pub approval: ApprovalCheck,
    /// The latest recorded review, which sets the review date over the file's.
    pub last_review: Option<RecordedReview>,
}

/// The warning for content nobody approved: it names the content, so it
/// never reads as the file's `approved` claim.
pub fn unapproved_warning(p: &Procedure, sha256: &str) -> String {
    format!(
        "the content being run (sha256 {}…, v{}) has no recorded approval by an approver (`runsheet approve {}`)",
        sha256.get(..12).unwrap_or(sha256),
        p.version,
        p.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn approval(seq: i64, sha: &str, checked: bool) -> RecordedApproval {
        RecordedApproval {
            seq,
            sha256: sha.into(),
            version: "1".into(),
            on: d("2026-12-01"),
            by: "ciso".into(),
            name: None,
            method: "login".into(),
            role_checked: checked,
        }
    }

    fn review(seq: i64, outcome: &str) -> RecordedReview {
        RecordedReview {
            seq,
            sha256: "a".into(),
            version: "1".into(),
            on: d("2026-12-01"),
            by: "ciso".into(),
            outcome: outcome.into(),
            next: d("2027-12-01"),
        }
    }

    #[test]
    fn only_an_approval_of_this_content_whose_role_was_checked_counts() {
        let r = Recorded {
            approvals: vec![approval(1, "a", false), approval(2, "b", true)],
            reviews: vec![],
        };
        assert_eq!(r.approvals_of("a").count(), 0);
        assert_eq!(r.approvals_of("b").count(), 1);
        assert_eq!(r.approvals_of("c").count(), 0);
    }

    #[test]
    fn a_recorded_review_sets_the_due_date_over_the_files() {
        let mut p =
            crate::procedure::test_support::procedure("[[steps]]\nid = \"one\"\ntitle = \"One\"\n");
        p.next_review = Some(crate::procedure::Date(d("2027-01-01")));
        assert_eq!(
            next_review(&p, None),
            Some((d("2027-01-01"), DueFrom::File))
        );
        let r = review(3, OUTCOME_UNCHANGED);
        assert_eq!(
            next_review(&p, Some(&r)),
            Some((d("2027-12-01"), DueFrom::Log))
        );
    }

    #[test]
    fn a_change_found_in_review_is_pending_until_other_content_is_approved() {
        let mut r = Recorded {
            approvals: vec![approval(1, "a", true)],
            reviews: vec![review(2, OUTCOME_CHANGED)],
        };
        assert!(r.change_pending().is_some());
        r.approvals.push(approval(3, "a", true));
        assert!(r.change_pending().is_some(), "the same content again");
        r.approvals.push(approval(4, "b", true));
        assert!(r.change_pending().is_none());
        r.reviews.push(review(5, OUTCOME_UNCHANGED));
        assert!(r.change_pending().is_none());
    }

    #[test]
    fn the_stricter_policy_wins_and_the_default_warns() {
        use Unapproved::*;
        assert_eq!(Unapproved::default(), Warn);
        assert_eq!(Unapproved::effective(None, Allow), Allow);
        assert_eq!(Unapproved::effective(Some(Refuse), Allow), Refuse);
        assert_eq!(Unapproved::effective(Some(Warn), Refuse), Refuse);
        assert_eq!(Unapproved::effective(Some(Warn), Allow), Warn);
        assert_eq!(Unapproved::parse("refuse"), Some(Refuse));
        assert_eq!(Unapproved::parse("nope"), None);
    }

    #[test]
    fn the_default_next_review_is_the_interval_or_a_year() {
        let mut p =
            crate::procedure::test_support::procedure("[[steps]]\nid = \"one\"\ntitle = \"One\"\n");
        p.review_every_months = Some(6);
        assert_eq!(
            default_next_review(&p, d("2026-12-03")),
            Some(d("2027-06-03"))
        );
        p.review_every_months = None;
        assert_eq!(
            default_next_review(&p, d("2026-12-03")),
            Some(d("2027-12-03"))
        );
    }
}
