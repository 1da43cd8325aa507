//! [`PhoneKey`]: the canonical form of a Vietnamese phone number, the key customers match on.
//!
//! Nhanh stores national numbers (`0988992942`), Shopify stores E.164 (`+84988992942`), and people
//! type everything in between. The key is E.164: `+84` followed by the national significant number
//! (NSN), 9 digits for a mobile (`+84988992942`) and 10 for a landline (`+842438253535`).
//!
//! # How a number is read
//!
//! 1. **Digits only.** Spaces, dots, dashes and parentheses inside a number are dropped; letters,
//!    `/`, `,`, `;` and words such as `hoặc` separate numbers (the `scan` module).
//! 2. **The prefix is taken off**, leaving the NSN:
//!    - `+84…`, `(+84)…` and `0084…` are international: the `84` goes, then an optional `0`
//!      (`+84 (0) 912 345 678`); any other country code (`+1…`, `+86…`) is rejected, because a
//!      foreign number can never match a Nhanh record;
//!    - `0…` is national: the `0` goes;
//!    - `84…` without a `+` is a country code only with 11 or more digits in all (`84988992942`,
//!      `841689123456`); with 9 digits it is a number whose prefix is `084` (`845123456`);
//!    - anything else is already an NSN: 9 digits written without their `0` (`988992942`).
//! 3. **The 2018 migration** turns an old 10-digit mobile NSN (`1689123456`, national
//!    `01689123456`) into its current 9-digit one (`389123456`), by the table in the `migration`
//!    module (from `protocols.md`).
//! 4. **libphonenumber** (the `phonenumber` crate) checks that `+84` and the NSN is a number in an
//!    allocated Vietnamese mobile or landline range.
//!
//! # Why not hand the raw string to libphonenumber
//!
//! It is right about current numbers and wrong about two things stores are full of: it calls every
//! old 11-digit mobile invalid, and it reads a 9-digit national number starting with `84`
//! (`845123456`) as country code 84 followed by a 7-digit number. So steps 1–3 are ours, and
//! libphonenumber only ever sees a clean `+84` and digits. The system this replaces keyed on the last
//! 9 digits without the migration, so a customer whose Nhanh record still said `01689…` never
//! matched their Shopify `+8438 9…`.
//!
//! # Several numbers in one field
//!
//! [`PhoneKey::parse_all`] reads every number in a field, in order, without duplicates. Within a run
//! of digits joined by soft separators it takes, from the left, the longest run of groups that is a
//! valid number, so `0912 345 678 0987 654 321` is two numbers while `0912 345 678` is one. Pieces
//! that are no number (`anh 2`, an order code) are skipped when the field holds a valid one.

use std::fmt;
use std::str::FromStr;

use phonenumber::metadata::DATABASE;
use phonenumber::Type;

use super::{KeyError, KeyKind};

mod migration;
mod scan;

/// The most digits worth trying as one number: `0084`, a trunk `0` and a 10-digit NSN is 15,
/// and two more leave room for a foreign number behind `00`.
const MAX_DIGITS: usize = 17;

/// A Vietnamese phone number in E.164 form (`+84` and 9 or 10 digits), valid per libphonenumber.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneKey(String);

impl PhoneKey {
    /// Reads a field that must hold exactly one number (repeats of it are allowed).
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let mut keys = Self::parse_all(raw)?;
        if keys.len() == 1 {
            return Ok(keys.remove(0));
        }
        Err(KeyError::SeveralNumbers { count: keys.len(), numbers: join(&keys, ", ") })
    }

    /// Reads every number in a field, in order and without duplicates.
    ///
    /// Fails only when the field holds no valid number; the error is then the reason the longest
    /// run of digits in it was rejected.
    pub fn parse_all(raw: &str) -> Result<Vec<Self>, KeyError> {
        if raw.trim().is_empty() {
            return Err(KeyError::Blank(KeyKind::Phone));
        }
        let mut keys: Vec<Self> = Vec::new();
        // The reason to report if nothing is found: the first attempt in the segment with the
        // most digits, which is the one most likely meant as the phone number.
        let mut reason: Option<(usize, KeyError)> = None;
        for segment in scan::segments(raw) {
            let digits: usize = segment.iter().map(|g| g.digits.len()).sum();
            let (found, first_error) = read_segment(&segment);
            for key in found {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            if let Some(error) = first_error {
                match &reason {
                    Some((most, _)) if *most >= digits => {}
                    _ => reason = Some((digits, error)),
                }
            }
        }
        if !keys.is_empty() {
            return Ok(keys);
        }
        Err(reason.map_or(KeyError::NoDigits, |(_, error)| error))
    }

    /// The number in E.164 form, as Shopify stores it: `+84988992942`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number in national form, as Nhanh stores it: `0988992942`.
    pub fn national(&self) -> String {
        format!("0{}", &self.0[3..])
    }
}

/// What `dongbo normalize-phone` prints for one argument: the number(s) in E.164 joined by `,`, or
/// `invalid: ` and the reason.
pub fn normalize_phone_line(raw: &str) -> String {
    match PhoneKey::parse_all(raw) {
        Ok(keys) => join(&keys, ","),
        Err(error) => format!("invalid: {error}"),
    }
}

/// Reads the numbers in one segment from left to right, taking at each point the longest run of
/// groups that is a valid number and skipping a group that starts none.
///
/// Returns the numbers and, if the segment's first attempt failed, why.
fn read_segment(segment: &[scan::Group<'_>]) -> (Vec<PhoneKey>, Option<KeyError>) {
    let mut found = Vec::new();
    let mut first_error = None;
    let mut start = 0;
    while start < segment.len() {
        // Candidate ends: groups while the digits fit in one number and no `+` starts a new one.
        let mut digits = String::new();
        let mut candidates = Vec::new();
        for (end, group) in segment.iter().enumerate().skip(start) {
            let too_long = !candidates.is_empty() && digits.len() + group.digits.len() > MAX_DIGITS;
            if too_long || (end > start && group.plus) {
                break;
            }
            digits.push_str(group.digits);
            candidates.push((end + 1, digits.clone()));
        }
        let plus = segment[start].plus;
        let mut next = start + 1;
        for (i, (end, digits)) in candidates.into_iter().rev().enumerate() {
            match read_one(&digits, plus) {
                Ok(key) => {
                    found.push(key);
                    next = end;
                    break;
                }
                Err(error) => {
                    // The groups after a foreign country code belong to that number: `+66 81 234
                    // 5678` must not yield `+84812345678`.
                    let foreign = i == 0 && matches!(error, KeyError::NotVietnamese { .. });
                    if start == 0 && first_error.is_none() {
                        first_error = Some(error);
                    }
                    if foreign {
                        next = end;
                        break;
                    }
                }
            }
        }
        start = next;
    }
    (found, first_error)
}

/// Reads one number from its digits; `plus` says whether a `+` came before them.
fn read_one(digits: &str, plus: bool) -> Result<PhoneKey, KeyError> {
    let nsn = national_significant_number(digits, plus)?;
    if nsn.len() < 9 {
        return Err(KeyError::TooShort { digits: nsn.len() });
    }
    if nsn.len() > 10 {
        return Err(KeyError::TooLong { digits: nsn.len() });
    }
    let nsn = migration::migrate(nsn)?;
    validate(&nsn)
}

/// Takes the `+84`, `0084`, `84` or `0` prefix off, per the rules in the module docs.
fn national_significant_number(digits: &str, plus: bool) -> Result<&str, KeyError> {
    let (international, rest) = match digits.strip_prefix("00") {
        Some(rest) => (true, rest),
        // `+0912…` is a national number with a stray `+`: no country code starts with 0.
        None => (plus && !digits.starts_with('0'), digits),
    };
    if international {
        return match rest.strip_prefix("84") {
            Some(nsn) => Ok(nsn.strip_prefix('0').unwrap_or(nsn)),
            None if rest.len() < 8 => Err(KeyError::TooShort { digits: rest.len() }),
            None => Err(KeyError::NotVietnamese { number: format!("+{rest}") }),
        };
    }
    if let Some(nsn) = rest.strip_prefix('0') {
        return Ok(nsn);
    }
    match rest.strip_prefix("84") {
        Some(nsn) if rest.len() >= 11 => Ok(nsn.strip_prefix('0').unwrap_or(nsn)),
        _ => Ok(rest),
    }
}

/// Accepts `+84` and `nsn` if libphonenumber knows it as a Vietnamese mobile or landline.
fn validate(nsn: &str) -> Result<PhoneKey, KeyError> {
    let e164 = format!("+84{nsn}");
    let invalid = || KeyError::InvalidNumber { number: e164.clone() };
    if nsn.starts_with('0') {
        return Err(invalid());
    }
    let number = phonenumber::parse(None, &e164).map_err(|_| invalid())?;
    if number.code().value() != 84 || number.national().to_string() != nsn {
        return Err(invalid());
    }
    let kind = match number.number_type(&DATABASE) {
        Type::Mobile | Type::FixedLine | Type::FixedLineOrMobile => return Ok(PhoneKey(e164)),
        Type::Unknown => return Err(invalid()),
        Type::TollFree => "a toll-free number",
        Type::PremiumRate => "a premium-rate number",
        Type::SharedCost => "a shared-cost number",
        Type::Voip => "a VoIP number",
        Type::Uan => "a universal access number",
        _ => "a service number",
    };
    Err(KeyError::ServiceNumber { number: e164, kind })
}

fn join(keys: &[PhoneKey], separator: &str) -> String {
    keys.iter().map(PhoneKey::as_str).collect::<Vec<_>>().join(separator)
}

impl fmt::Display for PhoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PhoneKey {
    type Err = KeyError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

#[cfg(test)]
mod tests;
