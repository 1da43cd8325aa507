//! Vietnamese mobile numbers and the many ways stores write them.
//!
//! A number is generated canonically (prefix + 7-digit subscriber) and then *rendered* in a form;
//! the ground truth always uses the canonical number, never a parse of the rendering.

use super::draw::Draw;

/// The 2018 migration of 11-digit mobiles: `(old prefix, new prefix)`, last 7 digits unchanged.
pub(crate) const MIGRATION: &[(&str, &str)] = &[
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    ("0186", "056"),
    ("0188", "058"),
    ("0199", "059"),
];

/// Current prefixes that were never migrated.
/// Only ranges libphonenumber accepts for every subscriber (it rejects parts of 089x and 099x).
const NATIVE_PREFIXES: &[&str] = &["086", "096", "097", "098", "090", "093", "088", "091", "094", "092", "087"];

/// A canonical current mobile number: `prefix` (3 digits, leading 0) + 7-digit subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Mobile {
    prefix: &'static str,
    subscriber: u32,
}

impl Mobile {
    /// The number with unique index `index` (distinct indices below 10⁷ give distinct numbers,
    /// whatever prefixes are drawn). `migrated` picks a prefix from the 2018 table.
    pub(crate) fn generate(index: u64, migrated: bool, draw: &mut Draw) -> Mobile {
        // An affine bijection on 0..10^7 scatters consecutive indices.
        let subscriber = ((index % 10_000_000) * 7_654_321 + 1_234_567) % 10_000_000;
        let prefix = if migrated || draw.chance(300) { draw.pick(MIGRATION).1 } else { *draw.pick(NATIVE_PREFIXES) };
        Mobile { prefix, subscriber: subscriber as u32 }
    }

    /// `0988992942`.
    pub(crate) fn national(&self) -> String {
        format!("{}{:07}", self.prefix, self.subscriber)
    }

    /// `+84988992942`, the ground-truth key.
    pub(crate) fn e164(&self) -> String {
        format!("+84{}{:07}", &self.prefix[1..], self.subscriber)
    }

    /// The pre-2018 11-digit number (`01689123456`), if this prefix was migrated.
    pub(crate) fn old_national(&self) -> Option<String> {
        MIGRATION.iter().find(|(_, new)| *new == self.prefix).map(|(old, _)| format!("{old}{:07}", self.subscriber))
    }
}

/// How a Nhanh `mobile` field writes a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    National,
    Plus84,
    Bare84,
    Intl00,
    Paren,
    PlusZero,
    NineDigits,
    Spaced,
    Dotted,
    Dashed,
    WithText,
    /// The old 11-digit number, nationally (`01689123456`).
    OldNational,
    /// The old number in international form (`+841689123456`).
    OldPlus84,
    /// The old number, spaced (`0168 912 3456`).
    OldSpaced,
}

impl Form {
    /// A form for a number that is not old, weighted like a real store's data.
    pub(crate) fn draw_current(draw: &mut Draw) -> Form {
        match draw.below(100) {
            0..=44 => Form::National,
            45..=54 => Form::Plus84,
            55..=59 => Form::Bare84,
            60..=62 => Form::Intl00,
            63..=65 => Form::Paren,
            66..=68 => Form::PlusZero,
            69..=74 => Form::NineDigits,
            75..=84 => Form::Spaced,
            85..=89 => Form::Dotted,
            90..=94 => Form::Dashed,
            _ => Form::WithText,
        }
    }

    pub(crate) fn draw_old(draw: &mut Draw) -> Form {
        match draw.below(10) {
            0..=6 => Form::OldNational,
            7 => Form::OldPlus84,
            _ => Form::OldSpaced,
        }
    }
}

/// Renders `mobile` in `form`; old forms fall back to the national form for unmigrated prefixes.
pub(crate) fn render(mobile: &Mobile, form: Form) -> String {
    let national = mobile.national();
    let rest = &national[1..];
    let old = mobile.old_national();
    match (form, old) {
        (Form::National, _) => national,
        (Form::Plus84, _) => format!("+84{rest}"),
        (Form::Bare84, _) => format!("84{rest}"),
        (Form::Intl00, _) => format!("0084{rest}"),
        (Form::Paren, _) => format!("(+84) {} {} {}", &rest[..3], &rest[3..6], &rest[6..]),
        (Form::PlusZero, _) => format!("+84 (0) {} {} {}", &rest[..3], &rest[3..6], &rest[6..]),
        (Form::NineDigits, _) => rest.to_string(),
        (Form::Spaced, _) => grouped(&national, ' '),
        (Form::Dotted, _) => grouped(&national, '.'),
        (Form::Dashed, _) => grouped(&national, '-'),
        (Form::WithText, _) => format!("ĐT: {national} (gọi giờ hành chính)"),
        (Form::OldNational, Some(old)) => old,
        (Form::OldPlus84, Some(old)) => format!("+84{}", &old[1..]),
        (Form::OldSpaced, Some(old)) => format!("{} {} {}", &old[..4], &old[4..7], &old[7..]),
        (_, None) => national,
    }
}

/// `0988 992 942`: 4-3-3 groups.
fn grouped(national: &str, sep: char) -> String {
    format!("{}{sep}{}{sep}{}", &national[..4], &national[4..7], &national[7..])
}

/// Several numbers in one field, the matching one first or second.
pub(crate) fn render_several(primary: &Mobile, other: &Mobile, primary_first: bool) -> String {
    let (a, b) = if primary_first { (primary, other) } else { (other, primary) };
    format!("{} / {}", grouped(&a.national(), ' '), grouped(&b.national(), ' '))
}

/// How Shopify's `defaultAddress.phone` writes a number (national or loosely international).
pub(crate) fn render_address_phone(mobile: &Mobile, draw: &mut Draw) -> String {
    let national = mobile.national();
    let rest = &national[1..];
    match draw.below(3) {
        0 => grouped(&national, ' '),
        1 => format!("+84 {} {} {} {}", &rest[..2], &rest[2..5], &rest[5..7], &rest[7..]),
        _ => national,
    }
}

/// Values real stores keep in a phone field that are no phone number.
pub(crate) const GARBAGE: &[&str] =
    &["", "0000000000", "123", "chưa có", "09123", "không có sđt", "0123456789999", "xxx"];

#[cfg(test)]
mod tests {
    use super::*;

    fn mobile(prefix: &'static str, subscriber: u32) -> Mobile {
        Mobile { prefix, subscriber }
    }

    fn check(m: Mobile, form: Form, expect: &str) {
        assert_eq!(render(&m, form), expect, "{form:?}");
    }

    #[test]
    fn current_numbers_render_in_every_form() {
        let m = mobile("098", 8_992_942);
        check(m, Form::National, "0988992942");
        check(m, Form::Plus84, "+84988992942");
        check(m, Form::Bare84, "84988992942");
        check(m, Form::Intl00, "0084988992942");
        check(m, Form::Paren, "(+84) 988 992 942");
        check(m, Form::PlusZero, "+84 (0) 988 992 942");
        check(m, Form::NineDigits, "988992942");
        check(m, Form::Spaced, "0988 992 942");
        check(m, Form::Dotted, "0988.992.942");
        check(m, Form::Dashed, "0988-992-942");
        check(m, Form::WithText, "ĐT: 0988992942 (gọi giờ hành chính)");
        assert_eq!(m.e164(), "+84988992942");
    }

    #[test]
    fn migrated_numbers_render_their_pre_2018_form() {
        let m = mobile("038", 9_123_456);
        check(m, Form::OldNational, "01689123456");
        check(m, Form::OldPlus84, "+841689123456");
        check(m, Form::OldSpaced, "0168 912 3456");
        assert_eq!(m.e164(), "+84389123456");
    }

    #[test]
    fn an_old_form_of_a_never_migrated_prefix_falls_back_to_national() {
        check(mobile("098", 1), Form::OldNational, "0980000001");
    }

    #[test]
    fn every_migration_row_maps_old_to_new_keeping_the_last_seven_digits() {
        for (old, new) in MIGRATION {
            let m = mobile(new, 1_234_567);
            assert_eq!(m.old_national(), Some(format!("{old}1234567")));
            assert_eq!(m.national(), format!("{new}1234567"));
        }
    }

    #[test]
    fn several_numbers_share_one_field() {
        let a = mobile("091", 2_345_678);
        let b = mobile("098", 7_654_321);
        assert_eq!(render_several(&a, &b, true), "0912 345 678 / 0987 654 321");
        assert_eq!(render_several(&a, &b, false), "0987 654 321 / 0912 345 678");
    }

    #[test]
    fn distinct_indices_give_distinct_numbers() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000u64 {
            let mut d = Draw::new(1, 2, i);
            assert!(seen.insert(Mobile::generate(i, i % 7 == 0, &mut d).subscriber));
        }
    }
}
