//! Natural order for identifiers with numbers in them: `A.5.3` before
//! `A.5.15`, `A.8.2` before `A.8.13` (runs of digits compare as numbers).
//!
//! May not depend on any other module of the crate.

use std::cmp::Ordering;

/// Compare `a` and `b` piece by piece: runs of ASCII digits by their value
/// (then by length, so `07` sorts after `7`), everything else by character.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let (dx, rx) = split_digits(x);
                let (dy, ry) = split_digits(y);
                let (tx, ty) = (trim_zeros(dx), trim_zeros(dy));
                let by_value = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                let ord = by_value.then_with(|| dx.len().cmp(&dy.len()));
                if ord != Ordering::Equal {
                    return ord;
                }
                (x, y) = (rx, ry);
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                (x, y) = (&x[1..], &y[1..]);
            }
        }
    }
}

fn split_digits(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|b| b.is_ascii_digit()).count();
    s.split_at(n)
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == b'0').count();
    &s[n..]
}

/// A string that orders naturally (a control id as a map key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Natural(pub String);

impl Ord for Natural {
    fn cmp(&self, other: &Self) -> Ordering {
        natural_cmp(&self.0, &other.0)
    }
}

impl PartialOrd for Natural {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::ops::Deref for Natural {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Natural {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_a_controls_sort_by_number() {
        let mut v = vec![
            "A.8.13",
            "A.5.15",
            "A.8.2",
            "A.5.3",
            "A.5.37",
            "A.10.1",
            "A.8.1",
            "(no control)",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "(no control)",
                "A.5.3",
                "A.5.15",
                "A.5.37",
                "A.8.1",
                "A.8.2",
                "A.8.13",
                "A.10.1"
            ]
        );
    }

    #[test]
    fn total_order_that_agrees_with_equality() {
        assert_eq!(natural_cmp("A.5.07", "A.5.7"), Ordering::Greater);
        assert_eq!(natural_cmp("A.5.7", "A.5.7"), Ordering::Equal);
        assert_eq!(natural_cmp("a9", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a", "a1"), Ordering::Less);
        assert_eq!(
            natural_cmp("x99999999999999999999999", "x100000000000000000000000"),
            Ordering::Less
        );
    }
}
