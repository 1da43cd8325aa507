//! The 2018 conversion of Vietnam's 11-digit mobile numbers to 10 digits.
//!
//! Between September and November 2018 every `01xx` mobile prefix became a `0x` prefix with the
//! last seven digits unchanged: `0168 912 3456` became `038 912 3456`. Stores still hold the old
//! numbers, and libphonenumber calls them invalid, so this table runs before it.

use std::borrow::Cow;

use crate::keys::KeyError;

/// Old prefix → new prefix, both in national form, by carrier (from `protocols.md`).
const OLD_TO_NEW: [(&str, &str); 21] = [
    // MobiFone
    ("0120", "070"),
    ("0121", "079"),
    ("0122", "077"),
    ("0126", "076"),
    ("0128", "078"),
    // VinaPhone
    ("0123", "083"),
    ("0124", "084"),
    ("0125", "085"),
    ("0127", "081"),
    ("0129", "082"),
    // Viettel
    ("0162", "032"),
    ("0163", "033"),
    ("0164", "034"),
    ("0165", "035"),
    ("0166", "036"),
    ("0167", "037"),
    ("0168", "038"),
    ("0169", "039"),
    // Vietnamobile
    ("0186", "056"),
    ("0188", "058"),
    // Gmobile
    ("0199", "059"),
];

/// Rewrites an old 10-digit national significant number (`1689123456`, without the `0`) to its
/// 9-digit successor (`389123456`); leaves every other number as it is.
///
/// `nsn` must be ASCII digits. A 10-digit number starting with `1` whose prefix is not in the
/// table is an error: no current Vietnamese number has that shape.
pub(super) fn migrate(nsn: &str) -> Result<Cow<'_, str>, KeyError> {
    if nsn.len() != 10 || !nsn.starts_with('1') || !nsn.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Cow::Borrowed(nsn));
    }
    let (old, subscriber) = nsn.split_at(3);
    match OLD_TO_NEW.iter().find(|(from, _)| &from[1..] == old) {
        Some((_, to)) => Ok(Cow::Owned(format!("{}{subscriber}", &to[1..]))),
        None => Err(KeyError::UnknownMobilePrefix { prefix: format!("0{old}") }),
    }
}
