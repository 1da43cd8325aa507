//! Match keys: the validated values that Nhanh and Shopify records are joined on.
//!
//! Matching never compares raw strings. Each side's raw field goes through one `parse` constructor,
//! and two records match when their keys are equal. A value that cannot be turned into a key is
//! rejected with a [`KeyError`] that says why, so an operator can see why two records did not match
//! (`dongbo normalize-phone` prints exactly that, through [`normalize_phone_line`]).
//!
//! # Layout
//!
//! - [`sku`]: [`Sku`] and [`Barcode`] (trimmed, lowercased, whitespace removed) and
//!   [`product_key`], which takes the SKU and falls back to the barcode.
//! - [`phone`]: [`PhoneKey`], the canonical E.164 form of a Vietnamese number, including the
//!   2018 renumbering of 11-digit mobiles and fields that hold several numbers.
//!
//! Everything here is pure (no I/O, no clock, no database) and no input makes it panic.

pub mod phone;
pub mod sku;

pub use phone::{normalize_phone_line, PhoneKey};
pub use sku::{product_key, Barcode, ProductMatchKey, ProductMatchMethod, Sku};

/// Why a raw value could not be turned into a match key.
///
/// The `Display` text is meant for operators: it is what `dongbo normalize-phone` prints after
/// `invalid: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The value was empty or held only whitespace.
    #[error("empty {0}")]
    Blank(KeyKind),
    /// A barcode held something other than ASCII letters and digits.
    #[error("barcode has {found:?}, which is neither an ASCII letter nor a digit")]
    BarcodeCharacter {
        /// The first offending character.
        found: char,
    },
    /// A phone field held text but not a single digit.
    #[error("no digits")]
    NoDigits,
    /// Fewer digits than any Vietnamese number has after its leading `0` or `+84`.
    #[error("too short: {digits} digits (a Vietnamese number has 9 or 10 after the 0 or +84)")]
    TooShort {
        /// Digits left once the `0`, `84`, `+84` or `0084` prefix is taken off.
        digits: usize,
    },
    /// More digits than any Vietnamese number has after its leading `0` or `+84`.
    #[error("too long: {digits} digits (a Vietnamese number has 9 or 10 after the 0 or +84)")]
    TooLong {
        /// Digits left once the `0`, `84`, `+84` or `0084` prefix is taken off.
        digits: usize,
    },
    /// An international number with a country code other than 84.
    #[error("not a Vietnamese number: {number}")]
    NotVietnamese {
        /// The number as `+` and its digits.
        number: String,
    },
    /// An 11-digit national number (`01xx…`) whose prefix is not in the 2018 migration table.
    #[error("unknown mobile prefix {prefix}")]
    UnknownMobilePrefix {
        /// The old prefix in national form, e.g. `0195`.
        prefix: String,
    },
    /// The right length, but in no range that libphonenumber knows as allocated in Vietnam.
    #[error("not a valid Vietnamese number: {number} (no such range)")]
    InvalidNumber {
        /// The number in E.164 form.
        number: String,
    },
    /// A valid Vietnamese number, but a service number (toll-free, premium rate, …) that no
    /// customer record is keyed on.
    #[error("not a personal number: {number} is {kind}")]
    ServiceNumber {
        /// The number in E.164 form.
        number: String,
        /// What kind of service number it is, e.g. `a toll-free number`.
        kind: &'static str,
    },
    /// A single number was asked for, but the field holds several.
    #[error("{count} numbers where one was expected: {numbers}")]
    SeveralNumbers {
        /// How many distinct numbers the field holds.
        count: usize,
        /// The numbers, in E.164 form, joined by `, `.
        numbers: String,
    },
}

/// Which kind of key a [`KeyError::Blank`] was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A product SKU.
    Sku,
    /// A product barcode.
    Barcode,
    /// A phone number field.
    Phone,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sku => "SKU",
            Self::Barcode => "barcode",
            Self::Phone => "phone number",
        })
    }
}
