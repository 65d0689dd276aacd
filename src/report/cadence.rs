//! The calendar of a cadence and adherence to it, pure: the period (day,
//! weekday, ISO week, month, quarter, year) a date falls in, the one before
//! it, how people name it, and which periods of a look-back window had no
//! completed run ([`adherence`], with `today` injected). `status` shows it.
//!
//! May not depend on the store, the clock, the bundle side (`export`), the
//! front ends or the app.

use std::collections::BTreeSet;

use chrono::{Datelike, Days, NaiveDate, Weekday};

use crate::procedure::Cadence;

/// One calendar period of a cadence, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

pub(super) fn day_before(d: NaiveDate) -> NaiveDate {
    d.pred_opt().unwrap_or(d)
}

fn is_weekday(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn month_end(year: i32, month: u32) -> Option<NaiveDate> {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).map(day_before)
}

impl Period {
    /// The period of `cadence` that contains `date`; `None` for on-demand, and
    /// for a weekend day when the cadence is weekdays.
    pub fn containing(cadence: Cadence, date: NaiveDate) -> Option<Period> {
        let (start, end) = match cadence {
            Cadence::OnDemand => return None,
            Cadence::Daily => (date, date),
            Cadence::Weekdays => {
                if !is_weekday(date) {
                    return None;
                }
                (date, date)
            }
            Cadence::Weekly => {
                let back = u64::from(date.weekday().num_days_from_monday());
                let start = date.checked_sub_days(Days::new(back))?;
                (start, start.checked_add_days(Days::new(6))?)
            }
            Cadence::Monthly => (date.with_day(1)?, month_end(date.year(), date.month())?),
            Cadence::Quarterly => {
                let first = (date.month0() / 3) * 3 + 1;
                (
                    NaiveDate::from_ymd_opt(date.year(), first, 1)?,
                    month_end(date.year(), first + 2)?,
                )
            }
            Cadence::Yearly => (
                NaiveDate::from_ymd_opt(date.year(), 1, 1)?,
                NaiveDate::from_ymd_opt(date.year(), 12, 31)?,
            ),
        };
        Some(Period { start, end })
    }

    /// The period of `cadence` before this one (weekdays: the previous Mon–Fri day).
    pub fn previous(&self, cadence: Cadence) -> Option<Period> {
        let mut d = self.start.pred_opt()?;
        for _ in 0..3 {
            if let Some(p) = Period::containing(cadence, d) {
                return Some(p);
            }
            d = d.pred_opt()?;
        }
        None
    }

    /// How people name it: `2026-11-03`, `2026-W45`, `2026-11`, `2026-Q4`, `2026`.
    pub fn label(&self, cadence: Cadence) -> String {
        match cadence {
            Cadence::Daily | Cadence::Weekdays | Cadence::OnDemand => {
                self.start.format("%Y-%m-%d").to_string()
            }
            Cadence::Weekly => {
                let w = self.start.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Cadence::Monthly => self.start.format("%Y-%m").to_string(),
            Cadence::Quarterly => format!("{}-Q{}", self.start.year(), self.start.month0() / 3 + 1),
            Cadence::Yearly => self.start.year().to_string(),
        }
    }

    /// The cadence's period in words (singular, plural).
    pub fn unit(cadence: Cadence) -> (&'static str, &'static str) {
        match cadence {
            Cadence::Daily => ("day", "days"),
            Cadence::Weekdays => ("weekday", "weekdays"),
            Cadence::Weekly => ("week", "weeks"),
            Cadence::Monthly => ("month", "months"),
            Cadence::Quarterly => ("quarter", "quarters"),
            Cadence::Yearly => ("year", "years"),
            Cadence::OnDemand => ("run", "runs"),
        }
    }
}

/// Cadence adherence over the look-back period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adherence {
    pub cadence: Cadence,
    /// Periods that ended before today and were checked, oldest first.
    pub checked: Vec<Period>,
    /// The checked periods with no completed run, oldest first.
    pub missed: Vec<Period>,
    /// The period today is in (not yet over, so never counted as missed).
    pub current: Option<Period>,
    /// Whether the current period already has a completed run.
    pub current_done: bool,
}

/// The first day of a look-back of `days` days before `today` (status's
/// window; the earliest date there is when it reaches back further).
pub fn window_start(today: NaiveDate, days: u32) -> NaiveDate {
    today
        .checked_sub_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN)
}

/// The first day a procedure's cadence can be judged from: the day it came
/// to exist (its approval date, or its first run if earlier; with neither
/// known, none), but not before the log's first record (`log_start`): the
/// log cannot show what happened before it. One rule for `status` and the
/// export's cadence table.
pub fn judged_from(
    approved: Option<NaiveDate>,
    first_run: Option<NaiveDate>,
    log_start: Option<NaiveDate>,
) -> Option<NaiveDate> {
    let existed = match (approved, first_run) {
        (Some(a), Some(f)) => Some(a.min(f)),
        (a, f) => a.or(f),
    };
    match (existed, log_start) {
        (Some(e), Some(l)) => Some(e.max(l)),
        (e, l) => e.or(l),
    }
}

/// Which periods of `cadence` had no completed run. Checked are the periods
/// that are over (ended before `today`) and overlap the `days` before today —
/// at least the latest one, so a quarterly or yearly procedure is always
/// checked — except periods that ended before `not_before` (the procedure did
/// not exist yet). `completed` are the UTC dates of completed runs. `None` for
/// on-demand procedures (no expected cadence).
pub fn adherence(
    cadence: Cadence,
    completed: &BTreeSet<NaiveDate>,
    today: NaiveDate,
    days: u32,
    not_before: Option<NaiveDate>,
) -> Option<Adherence> {
    if cadence == Cadence::OnDemand {
        return None;
    }
    let done = |p: &Period| completed.range(p.start..=p.end).next().is_some();
    let window_start = window_start(today, days);
    let current = Period::containing(cadence, today);
    let mut cursor = match current {
        Some(c) => c.previous(cadence),
        None => day_before_period(cadence, today),
    };
    let mut checked = Vec::new();
    while let Some(p) = cursor {
        let in_window = p.end >= window_start || checked.is_empty();
        let exists = not_before.is_none_or(|nb| p.end >= nb);
        if !in_window || !exists {
            break;
        }
        checked.push(p);
        cursor = p.previous(cadence);
    }
    checked.reverse();
    let missed = checked.iter().copied().filter(|p| !done(p)).collect();
    Some(Adherence {
        cadence,
        checked,
        missed,
        current,
        current_done: current.as_ref().is_some_and(done),
    })
}

/// The periods of a cadence over a fixed span (an export's period), and
/// which of them had no completed run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub cadence: Cadence,
    /// The span checked, both ends inclusive (UTC dates).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Periods that overlap the span and were over (ended before `today`), oldest first.
    pub checked: Vec<Period>,
    /// The checked periods with no completed run, oldest first.
    pub missed: Vec<Period>,
}

/// Which periods of `cadence` that overlap `from..=to` had no completed run.
/// Only periods that are over are checked (they ended before `today`: the
/// period today is in may still get its run). A period is done when any
/// completed run falls in it, inside the span or not (`completed` are the
/// UTC dates of every completed run of the procedure). `None` for on-demand
/// procedures, and when the span is empty.
pub fn coverage(
    cadence: Cadence,
    completed: &BTreeSet<NaiveDate>,
    from: NaiveDate,
    to: NaiveDate,
    today: NaiveDate,
) -> Option<Coverage> {
    if cadence == Cadence::OnDemand || to < from {
        return None;
    }
    let done = |p: &Period| completed.range(p.start..=p.end).next().is_some();
    let last = to.min(day_before(today));
    let mut cursor = match Period::containing(cadence, last) {
        Some(p) => Some(p),
        None => last.succ_opt().and_then(|d| day_before_period(cadence, d)),
    };
    let mut checked = Vec::new();
    while let Some(p) = cursor {
        if p.end < from {
            break;
        }
        if p.end < today {
            checked.push(p);
        }
        cursor = p.previous(cadence);
    }
    checked.reverse();
    let missed = checked.iter().copied().filter(|p| !done(p)).collect();
    Some(Coverage {
        cadence,
        from,
        to,
        checked,
        missed,
    })
}

/// The latest period that ended before `today` when today is in none (a weekend for weekdays).
fn day_before_period(cadence: Cadence, today: NaiveDate) -> Option<Period> {
    let mut d = today.pred_opt()?;
    for _ in 0..3 {
        if let Some(p) = Period::containing(cadence, d) {
            return Some(p);
        }
        d = d.pred_opt()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn set(days: &[&str]) -> BTreeSet<NaiveDate> {
        days.iter().map(|s| d(s)).collect()
    }

    #[test]
    fn a_cadence_is_judged_from_when_the_procedure_existed_and_the_log_began() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day);
        // Approved, run earlier: the first run; the log began later still.
        assert_eq!(judged_from(d(10, 1), d(9, 1), d(11, 1)), d(11, 1));
        assert_eq!(judged_from(d(10, 1), d(9, 1), d(8, 1)), d(9, 1));
        // No approval date: its first run.
        assert_eq!(judged_from(None, d(9, 5), d(9, 1)), d(9, 5));
        // Nothing known of the procedure: the log's first record.
        assert_eq!(judged_from(None, None, d(9, 1)), d(9, 1));
        assert_eq!(judged_from(None, None, None), None);
        assert_eq!(window_start(d(12, 3).unwrap(), 2), d(12, 1).unwrap());
        assert_eq!(window_start(d(12, 3).unwrap(), u32::MAX), NaiveDate::MIN);
    }

    #[test]
    fn coverage_checks_the_span_and_only_periods_that_are_over() {
        let done = set(&["2026-11-02", "2026-11-04", "2026-12-01"]);
        let c = coverage(
            Cadence::Daily,
            &done,
            d("2026-11-01"),
            d("2026-11-05"),
            d("2026-12-03"),
        )
        .expect("daily");
        let missed: Vec<String> = c.missed.iter().map(|p| p.label(c.cadence)).collect();
        assert_eq!(missed, ["2026-11-01", "2026-11-03", "2026-11-05"]);
        assert_eq!(c.checked.len(), 5);
        // The span reaches today: today is not over, so it is not checked.
        let c = coverage(
            Cadence::Daily,
            &done,
            d("2026-12-01"),
            d("2026-12-31"),
            d("2026-12-03"),
        )
        .expect("daily");
        let checked: Vec<String> = c.checked.iter().map(|p| p.label(c.cadence)).collect();
        assert_eq!(checked, ["2026-12-01", "2026-12-02"]);
        assert_eq!(c.missed.len(), 1);
        // A week that overlaps the span counts a run outside it.
        let c = coverage(
            Cadence::Weekly,
            &done,
            d("2026-11-25"),
            d("2026-11-30"),
            d("2026-12-10"),
        )
        .expect("weekly");
        let checked: Vec<String> = c.checked.iter().map(|p| p.label(c.cadence)).collect();
        assert_eq!(checked, ["2026-W48", "2026-W49"]);
        assert_eq!(
            c.missed
                .iter()
                .map(|p| p.label(c.cadence))
                .collect::<Vec<_>>(),
            ["2026-W48"]
        );
        // Weekdays skip the weekend at either end.
        let c = coverage(
            Cadence::Weekdays,
            &BTreeSet::new(),
            d("2026-11-28"),
            d("2026-11-29"),
            d("2026-12-10"),
        )
        .expect("weekdays");
        assert!(c.checked.is_empty());
        assert!(
            coverage(
                Cadence::OnDemand,
                &done,
                d("2026-11-01"),
                d("2026-11-30"),
                d("2026-12-03")
            )
            .is_none()
        );
    }

    fn labels(a: &Adherence, v: &[Period]) -> Vec<String> {
        v.iter().map(|p| p.label(a.cadence)).collect()
    }

    #[test]
    fn daily_lists_the_days_without_a_completed_run() {
        // 2026-11-29 is a Sunday; look back 7 days: 11-22 .. 11-28.
        let done = set(&[
            "2026-11-22",
            "2026-11-23",
            "2026-11-25",
            "2026-11-26",
            "2026-11-28",
        ]);
        let a = adherence(Cadence::Daily, &done, d("2026-11-29"), 7, None).expect("daily");
        assert_eq!(a.checked.len(), 7);
        assert_eq!(labels(&a, &a.missed), ["2026-11-24", "2026-11-27"]);
        assert_eq!(
            a.current.map(|c| c.label(a.cadence)).as_deref(),
            Some("2026-11-29")
        );
        assert!(!a.current_done, "today is never counted as missed");
    }

    #[test]
    fn weekdays_skip_weekends() {
        // Mon 2026-11-23 .. Sun 11-29; nothing run at all.
        let a =
            adherence(Cadence::Weekdays, &set(&[]), d("2026-11-29"), 7, None).expect("weekdays");
        assert_eq!(
            labels(&a, &a.missed),
            [
                "2026-11-23",
                "2026-11-24",
                "2026-11-25",
                "2026-11-26",
                "2026-11-27"
            ]
        );
        assert_eq!(a.current, None, "Sunday is not a weekday period");
        // On a Monday, Friday is the latest period checked.
        let a = adherence(
            Cadence::Weekdays,
            &set(&["2026-11-27"]),
            d("2026-11-30"),
            3,
            None,
        )
        .expect("weekdays");
        assert_eq!(labels(&a, &a.checked), ["2026-11-27"]);
        assert!(a.missed.is_empty());
    }

    #[test]
    fn weekly_uses_iso_weeks() {
        // Today Wed 2026-12-02 (W49). Look back 21 days → W46, W47, W48 checked.
        let done = set(&["2026-11-10", "2026-11-29"]); // W46 (Tue), W48 (Sun)
        let a = adherence(Cadence::Weekly, &done, d("2026-12-02"), 21, None).expect("weekly");
        assert_eq!(labels(&a, &a.checked), ["2026-W46", "2026-W47", "2026-W48"]);
        assert_eq!(labels(&a, &a.missed), ["2026-W47"]);
        assert_eq!(
            a.current.map(|c| c.label(a.cadence)).as_deref(),
            Some("2026-W49")
        );
    }

    #[test]
    fn iso_week_labels_cross_the_year() {
        let p = Period::containing(Cadence::Weekly, d("2027-01-01")).expect("week");
        assert_eq!(p.start, d("2026-12-28"));
        assert_eq!(p.label(Cadence::Weekly), "2026-W53");
    }

    #[test]
    fn monthly_quarterly_yearly_always_check_the_latest_period() {
        let today = d("2026-11-29");
        let a = adherence(Cadence::Monthly, &set(&["2026-10-31"]), today, 30, None).expect("m");
        assert_eq!(labels(&a, &a.checked), ["2026-10"]);
        assert!(a.missed.is_empty());
        let a = adherence(Cadence::Quarterly, &set(&["2026-06-30"]), today, 30, None).expect("q");
        assert_eq!(
            labels(&a, &a.checked),
            ["2026-Q3"],
            "Q3 ended before the window, still checked"
        );
        assert_eq!(labels(&a, &a.missed), ["2026-Q3"]);
        assert_eq!(
            a.current.map(|c| c.label(a.cadence)).as_deref(),
            Some("2026-Q4")
        );
        let a = adherence(
            Cadence::Yearly,
            &set(&["2025-02-01", "2026-01-05"]),
            today,
            30,
            None,
        )
        .expect("y");
        assert_eq!(labels(&a, &a.checked), ["2025"]);
        assert!(a.missed.is_empty());
        assert!(a.current_done);
    }

    #[test]
    fn periods_before_the_procedure_existed_are_not_missed() {
        let a = adherence(
            Cadence::Daily,
            &set(&[]),
            d("2026-11-29"),
            30,
            Some(d("2026-11-26")),
        )
        .expect("daily");
        assert_eq!(
            labels(&a, &a.missed),
            ["2026-11-26", "2026-11-27", "2026-11-28"]
        );
    }

    #[test]
    fn on_demand_has_no_adherence() {
        assert_eq!(
            adherence(Cadence::OnDemand, &set(&[]), d("2026-11-29"), 30, None),
            None
        );
    }

    #[test]
    fn quarter_and_month_ends_are_right() {
        let q = Period::containing(Cadence::Quarterly, d("2026-02-14")).expect("q");
        assert_eq!((q.start, q.end), (d("2026-01-01"), d("2026-03-31")));
        let m = Period::containing(Cadence::Monthly, d("2026-12-05")).expect("m");
        assert_eq!((m.start, m.end), (d("2026-12-01"), d("2026-12-31")));
        assert_eq!(
            q.previous(Cadence::Quarterly)
                .map(|p| p.label(Cadence::Quarterly))
                .as_deref(),
            Some("2025-Q4")
        );
    }
}
