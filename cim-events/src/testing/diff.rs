//! Readable differences between expected and actual values, built from their `Debug`
//! output: event by event, and line by line inside an event.

use std::fmt::{Debug, Write};

/// Marks the first difference.
const FIRST: &str = "-> ";
/// Indents every other entry to the same column.
const PLAIN: &str = "   ";

/// One line of a line diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Expected(&'a str),
    Actual(&'a str),
}

/// Describes how `actual` differs from `expected`, event by event, or `None` if they are
/// equal. Equal events print on one line; a differing event prints as a line diff of its
/// pretty `Debug` output (`-` expected, `+` actual); the first difference is marked `->`.
pub(crate) fn diff_events<E: PartialEq + Debug>(expected: &[E], actual: &[E]) -> Option<String> {
    diff_items("events", expected, actual)
}

/// [`diff_events`] for any list, its entries named `{label}[i]` (e.g. `commands[0]`).
pub(crate) fn diff_items<E: PartialEq + Debug>(
    label: &str,
    expected: &[E],
    actual: &[E],
) -> Option<String> {
    if expected == actual {
        return None;
    }
    let mut out = String::new();
    let mut first = true;
    for i in 0..expected.len().max(actual.len()) {
        let (e, a) = (expected.get(i), actual.get(i));
        if let (Some(e), Some(a)) = (e, a) {
            if e == a {
                let _ = writeln!(out, "{PLAIN}{label}[{i}] == {e:?}");
                continue;
            }
        }
        let marker = if first { FIRST } else { PLAIN };
        if first {
            out.insert_str(
                0,
                &format!("first difference at {label}[{i}]; `-` expected, `+` actual\n\n"),
            );
            first = false;
        }
        match (e, a) {
            (Some(e), Some(a)) => {
                let _ = writeln!(out, "{marker}{label}[{i}] differs:");
                out.push_str(&diff_lines(&format!("{e:#?}"), &format!("{a:#?}")));
            }
            (Some(e), None) => {
                let _ = writeln!(
                    out,
                    "{marker}{label}[{i}] missing (expected, not produced):"
                );
                out.push_str(&diff_lines(&format!("{e:#?}"), ""));
            }
            (None, Some(a)) => {
                let _ = writeln!(
                    out,
                    "{marker}{label}[{i}] unexpected (produced, not expected):"
                );
                out.push_str(&diff_lines("", &format!("{a:#?}")));
            }
            (None, None) => {}
        }
    }
    Some(out)
}

/// Lists events one per line, as `events[i] = …`.
pub(crate) fn list_events<E: Debug>(events: &[E]) -> String {
    list_items("events", events)
}

/// [`list_events`] for any list, its entries named `{label}[i]`.
pub(crate) fn list_items<E: Debug>(label: &str, items: &[E]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let _ = writeln!(out, "{PLAIN}{label}[{i}] = {item:?}");
    }
    out
}

/// A line diff of two texts, each line prefixed with ` `, `-` (only in `expected`) or `+`
/// (only in `actual`), indented under an entry.
pub(crate) fn diff_lines(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for line in lcs_diff(&expected, &actual) {
        let _ = match line {
            Line::Same(l) => writeln!(out, "{PLAIN}  {l}"),
            Line::Expected(l) => writeln!(out, "{PLAIN}- {l}"),
            Line::Actual(l) => writeln!(out, "{PLAIN}+ {l}"),
        };
    }
    out
}

/// The classic longest-common-subsequence diff. Quadratic, which is fine for the `Debug`
/// output of one event or error; removals are listed before additions at each change.
fn lcs_diff<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Line<'a>> {
    // lengths[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lengths = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lengths[i][j] = if a[i] == b[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lengths[i + 1][j] >= lengths[i][j + 1]) {
            out.push(Line::Expected(a[i]));
            i += 1;
        } else {
            out.push(Line::Actual(b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_slices_have_no_diff() {
        assert_eq!(diff_events(&[1, 2], &[1, 2]), None);
    }

    #[test]
    fn lines_diff_marks_only_changed_lines() {
        assert_eq!(
            lcs_diff(&["a", "b", "c"], &["a", "x", "c"]),
            vec![
                Line::Same("a"),
                Line::Expected("b"),
                Line::Actual("x"),
                Line::Same("c")
            ]
        );
    }

    #[test]
    fn first_difference_is_marked_once() {
        let diff = diff_events(&[1, 2, 3], &[1, 5, 6]).unwrap();
        assert!(diff.starts_with("first difference at events[1]"));
        assert_eq!(diff.matches(FIRST).count(), 1);
        assert!(diff.contains("-> events[1] differs:\n   - 2\n   + 5\n"));
        assert!(diff.contains("   events[2] differs:\n   - 3\n   + 6\n"));
    }

    #[test]
    fn missing_and_unexpected_events_are_named() {
        let diff = diff_events(&[1, 2], &[1]).unwrap();
        assert!(diff.contains("-> events[1] missing (expected, not produced):\n   - 2\n"));
        let diff = diff_events(&[1], &[1, 2]).unwrap();
        assert!(diff.contains("-> events[1] unexpected (produced, not expected):\n   + 2\n"));
    }
}
