//! Fitting a plain-text table to a terminal's width: cut the wide columns
//! (ending in `…`) down to a floor each, in a stated order. Piped output
//! (no width) stays whole.
//!
//! May not depend on any other module of the crate.

/// Cut a one-line text to `max` characters, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The width of a table of columns `widths` wide, two spaces apart.
pub fn total(widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
}

/// Narrow the columns named in `order` (column, floor), first one first,
/// until the table is at most `max` wide or each is at its floor; returns
/// whether any column narrowed. Then cut each row's cells to the widths.
pub fn fit<const N: usize>(
    widths: &mut [usize; N],
    rows: &mut [[String; N]],
    max: usize,
    order: &[(usize, usize)],
) -> bool {
    let before = *widths;
    for &(col, floor) in order {
        let over = total(widths).saturating_sub(max);
        if over == 0 {
            break;
        }
        if widths[col] > floor {
            widths[col] = widths[col].saturating_sub(over).max(floor);
        }
    }
    for row in rows.iter_mut() {
        for &(col, _) in order {
            row[col] = cut(&row[col], widths[col]);
        }
    }
    before != *widths
}

/// The terminal's columns when standard output is one.
pub fn stdout_width() -> Option<usize> {
    use std::io::IsTerminal as _;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    ratatui::crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_in_order_down_to_the_floors() {
        let mut widths = [4, 20, 10];
        let mut rows = [["abcd".to_string(), "x".repeat(20), "y".repeat(10)]];
        assert!(fit(&mut widths, &mut rows, 30, &[(1, 8), (2, 6)]));
        // The first column in the order takes all the cut it can.
        assert_eq!(widths, [4, 12, 10]);
        assert_eq!(total(&widths), 30);
        assert_eq!(rows[0][1], format!("{}…", "x".repeat(11)));
        assert_eq!(rows[0][2], "y".repeat(10));
        // Floors hold even when the table stays too wide.
        assert!(fit(&mut widths, &mut rows, 10, &[(1, 8), (2, 6)]));
        assert_eq!(widths, [4, 8, 6]);
        assert!(!fit(&mut widths, &mut rows, 100, &[(1, 8)]));
    }

    #[test]
    fn cut_marks_the_cut() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
