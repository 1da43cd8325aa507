//! Cutting a free-text phone field into runs of digits.
//!
//! Characters fall into three classes:
//!
//! - ASCII digits, which form *groups*;
//! - soft separators, which people put inside one number: whitespace, `.`, `-` and other dashes,
//!   parentheses, and `+` (which marks the next group as international);
//! - everything else (letters, `/`, `,`, `;`, `:`, words like `hoặc`), which can never be part of a
//!   number and so ends a *segment*.
//!
//! A segment is a list of groups that may hold one number or, when the field says
//! `0912 345 678 0987 654 321`, several; the caller decides where one ends.

/// A run of ASCII digits in a phone field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Group<'a> {
    /// The digits.
    pub(super) digits: &'a str,
    /// Whether a `+` came before the digits (with nothing but soft separators between).
    pub(super) plus: bool,
}

/// Splits `raw` into segments of digit groups; segments without digits are left out.
pub(super) fn segments(raw: &str) -> Vec<Vec<Group<'_>>> {
    let mut segments = Vec::new();
    let mut segment = Vec::new();
    let mut group_start: Option<(usize, bool)> = None;
    let mut plus = false;
    for (at, c) in raw.char_indices() {
        if c.is_ascii_digit() {
            if group_start.is_none() {
                group_start = Some((at, std::mem::take(&mut plus)));
            }
            continue;
        }
        if let Some((start, plus)) = group_start.take() {
            segment.push(Group { digits: &raw[start..at], plus });
        }
        if c == '+' {
            plus = true;
        } else if !is_soft_separator(c) {
            plus = false;
            if !segment.is_empty() {
                segments.push(std::mem::take(&mut segment));
            }
        }
    }
    if let Some((start, plus)) = group_start {
        segment.push(Group { digits: &raw[start..], plus });
    }
    if !segment.is_empty() {
        segments.push(segment);
    }
    segments
}

/// Characters people write inside a single phone number.
fn is_soft_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '.' | '-' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{200B}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders the segments of `raw` as `+digits` / `digits` groups, `|` between segments.
    #[track_caller]
    fn check(raw: &str, expect: &str) {
        let got = segments(raw)
            .iter()
            .map(|segment| {
                segment
                    .iter()
                    .map(|g| format!("{}{}", if g.plus { "+" } else { "" }, g.digits))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" | ");
        assert_eq!(got, expect, "segments({raw:?})");
    }

    #[test]
    fn soft_separators_split_groups_and_hard_ones_split_segments() {
        check("0988992942", "0988992942");
        check("0988.992.942", "0988 992 942");
        check("(+84) 988-992-942", "+84 988 992 942");
        check("+84 (0) 912 345 678", "+84 0 912 345 678");
        check("0912 345 678 / 0987 654 321", "0912 345 678 | 0987 654 321");
        check("0912345678,0987654321;0909", "0912345678 | 0987654321 | 0909");
        check("ĐT: 0988.992.942 (anh Tú)", "0988 992 942");
        check("0912345678 hoặc 0987654321", "0912345678 | 0987654321");
        check("0912345678 – 0987654321", "0912345678 0987654321");
    }

    #[test]
    fn a_plus_only_marks_the_group_right_after_it() {
        check("+ 84 912", "+84 912");
        check("+x84", "84");
        check("84+912", "84 +912");
    }

    #[test]
    fn a_field_without_digits_has_no_segments() {
        check("", "");
        check("không có", "");
        check("+ - ( ) .", "");
    }
}
