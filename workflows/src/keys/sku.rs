//! Product keys: [`Sku`], with [`Barcode`] as the fallback when a variant has no SKU.
//!
//! Both sides type SKUs by hand, so the same SKU arrives as `AO-01`, ` ao-01 `, `Ao - 01`, or with
//! a non-breaking space pasted from a spreadsheet. The key keeps what distinguishes two products and drops what
//! does not:
//!
//! - Unicode normalisation (NFC) first, so that a Vietnamese letter typed as base letter plus
//!   combining mark equals the precomposed one (`Áo` in either form);
//! - Unicode lowercase, so case never separates two SKUs (`ÁO-01` and `áo-01` are one key);
//! - every whitespace character removed, inside as well as around (`AO 01` equals `AO01`), and the
//!   invisible characters that copy-paste leaves behind (zero-width space, byte-order mark, soft
//!   hyphen) with them.
//!
//! Punctuation is kept: `AO-01` and `AO01` are different SKUs as far as anyone can tell.
//!
//! A barcode is normalised the same way and must then be ASCII letters and digits only (EAN/UPC
//! are digits; Code 39/128 labels may carry letters). Anything else is more likely a note typed
//! into the barcode field than a barcode, and is rejected rather than matched on.
//!
//! [`product_key`] picks the SKU and falls back to the barcode. The method is part of the key, so an
//! SKU `8931234567890` never matches a barcode `8931234567890` by accident.

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

use super::{KeyError, KeyKind};

/// A product SKU as a match key: NFC, lowercase, no whitespace, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    /// Normalises a raw SKU; rejects one that is empty once whitespace is removed.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let key = fold(raw);
        if key.is_empty() {
            return Err(KeyError::Blank(KeyKind::Sku));
        }
        Ok(Self(key))
    }

    /// The normalised SKU.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product barcode as a match key: lowercase ASCII letters and digits, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Barcode(String);

impl Barcode {
    /// Normalises a raw barcode; rejects a blank one and one with anything but letters and digits.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        let key = fold(raw);
        if key.is_empty() {
            return Err(KeyError::Blank(KeyKind::Barcode));
        }
        if let Some(found) = key.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(KeyError::BarcodeCharacter { found });
        }
        Ok(Self(key))
    }

    /// The normalised barcode.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a product key was obtained, and so how a product mapping was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProductMatchMethod {
    /// On the normalised SKU.
    Sku,
    /// On the normalised barcode, because the product had no usable SKU.
    Barcode,
}

impl ProductMatchMethod {
    /// A stable lowercase name: `sku` or `barcode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sku => "sku",
            Self::Barcode => "barcode",
        }
    }
}

/// The key a product is matched on. Keys of different methods are never equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProductMatchKey {
    /// The product's SKU.
    Sku(Sku),
    /// The product's barcode, used because it had no usable SKU.
    Barcode(Barcode),
}

impl ProductMatchKey {
    /// Which method the key came from.
    pub fn method(&self) -> ProductMatchMethod {
        match self {
            Self::Sku(_) => ProductMatchMethod::Sku,
            Self::Barcode(_) => ProductMatchMethod::Barcode,
        }
    }

    /// The normalised key text, without the method.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sku(sku) => sku.as_str(),
            Self::Barcode(barcode) => barcode.as_str(),
        }
    }
}

/// The key to match a product on: its SKU if it has a usable one, else its barcode, else none.
pub fn product_key(sku: Option<&str>, barcode: Option<&str>) -> Option<ProductMatchKey> {
    if let Some(sku) = sku.and_then(|raw| Sku::parse(raw).ok()) {
        return Some(ProductMatchKey::Sku(sku));
    }
    barcode.and_then(|raw| Barcode::parse(raw).ok()).map(ProductMatchKey::Barcode)
}

/// NFC, lowercase, and without whitespace or invisible characters.
fn fold(raw: &str) -> String {
    raw.nfc().flat_map(char::to_lowercase).filter(|&c| !c.is_whitespace() && !is_invisible(c)).nfc().collect()
}

/// Characters that render as nothing and that copy-paste from spreadsheets and web pages leaves in.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' // soft hyphen
            | '\u{200B}' // zero-width space
            | '\u{200C}' // zero-width non-joiner
            | '\u{200D}' // zero-width joiner
            | '\u{2060}' // word joiner
            | '\u{FEFF}' // byte-order mark, zero-width no-break space
    )
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Barcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ProductMatchMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ProductMatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.method(), self.as_str())
    }
}

impl FromStr for Sku {
    type Err = KeyError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl FromStr for Barcode {
    type Err = KeyError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

#[cfg(test)]
mod tests;
