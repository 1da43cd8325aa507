use proptest::prelude::*;

use super::*;

/// Parses `input` as an SKU and compares the key text, or the error text, with `expect`.
#[track_caller]
fn check(input: &str, expect: Result<&str, &str>) {
    let got = Sku::parse(input).map(|sku| sku.as_str().to_owned()).map_err(|e| e.to_string());
    let expect = expect.map(str::to_owned).map_err(str::to_owned);
    assert_eq!(got, expect, "Sku::parse({input:?})");
}

/// Parses `input` as a barcode and compares the key text, or the error text, with `expect`.
#[track_caller]
fn check_barcode(input: &str, expect: Result<&str, &str>) {
    let got = Barcode::parse(input).map(|b| b.as_str().to_owned()).map_err(|e| e.to_string());
    let expect = expect.map(str::to_owned).map_err(str::to_owned);
    assert_eq!(got, expect, "Barcode::parse({input:?})");
}

#[test]
fn skus_are_trimmed_lowercased_and_lose_inner_whitespace() {
    check("AO-01", Ok("ao-01"));
    check("  ao-01  ", Ok("ao-01"));
    check("Ao - 01", Ok("ao-01"));
    check("AO\t01\n", Ok("ao01"));
    check("AO\u{a0}01", Ok("ao01"));
    check("AO\u{3000}01", Ok("ao01"));
    check("SKU 12 34 56", Ok("sku123456"));
    check("12345", Ok("12345"));
}

#[test]
fn punctuation_is_part_of_the_sku() {
    check("AO-01", Ok("ao-01"));
    check("AO01", Ok("ao01"));
    check("AO_01/XL", Ok("ao_01/xl"));
}

#[test]
fn vietnamese_letters_are_lowercased_and_composed() {
    check("ÁO-ĐỎ-XL", Ok("áo-đỏ-xl"));
    // "Á" as "A" followed by a combining acute accent is the same key as the precomposed letter.
    check("A\u{301}O", Ok("\u{e1}o"));
    check("Đầm Hè 2024", Ok("đầmhè2024"));
}

#[test]
fn invisible_characters_from_copy_paste_are_removed() {
    check("\u{feff}AO-01", Ok("ao-01"));
    check("AO\u{200b}01", Ok("ao01"));
    check("AO\u{ad}01", Ok("ao01"));
}

#[test]
fn a_blank_sku_is_rejected() {
    check("", Err("empty SKU"));
    check("   ", Err("empty SKU"));
    check("\t\n\u{a0}\u{200b}", Err("empty SKU"));
}

#[test]
fn barcodes_are_normalised_like_skus_and_must_be_letters_and_digits() {
    check_barcode("8931234567890", Ok("8931234567890"));
    check_barcode(" 893 1234 567890 ", Ok("8931234567890"));
    check_barcode("ABC123", Ok("abc123"));
    check_barcode("893-1234", Err("barcode has '-', which is neither an ASCII letter nor a digit"));
    check_barcode("xem ghi chú", Err("barcode has 'ú', which is neither an ASCII letter nor a digit"));
}

#[test]
fn a_blank_barcode_is_rejected() {
    check_barcode("", Err("empty barcode"));
    check_barcode("  \t ", Err("empty barcode"));
}

#[test]
fn the_product_key_is_the_sku_and_falls_back_to_the_barcode() {
    let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
        (Some("AO-01"), Some("893123"), Some("sku:ao-01")),
        (Some(" AO 01 "), None, Some("sku:ao01")),
        (None, Some("893123"), Some("barcode:893123")),
        (Some(""), Some("893123"), Some("barcode:893123")),
        (Some("   "), Some(" 893 123 "), Some("barcode:893123")),
        (None, Some("not a barcode"), Some("barcode:notabarcode")),
        (None, Some("xem ghi chú"), None),
        (Some("\u{200b}"), Some("893-123"), None),
        (Some(""), Some(""), None),
        (None, None, None),
    ];
    for &(sku, barcode, expect) in cases {
        let got = product_key(sku, barcode).map(|k| k.to_string());
        assert_eq!(got.as_deref(), expect, "product_key({sku:?}, {barcode:?})");
    }
}

#[test]
fn an_sku_never_equals_a_barcode_with_the_same_text() {
    let by_sku = product_key(Some("8931234567890"), None).unwrap();
    let by_barcode = product_key(None, Some("8931234567890")).unwrap();
    assert_eq!(by_sku.as_str(), by_barcode.as_str());
    assert_eq!(by_sku.method(), ProductMatchMethod::Sku);
    assert_eq!(by_barcode.method(), ProductMatchMethod::Barcode);
    assert_ne!(by_sku, by_barcode);
}

#[test]
fn skus_differing_only_in_case_and_spaces_are_one_key() {
    let keys: std::collections::HashSet<Sku> =
        ["AO-01", "ao-01", " Ao - 01 ", "AO -01\u{a0}"].iter().map(|raw| Sku::parse(raw).unwrap()).collect();
    assert_eq!(keys.len(), 1);
}

proptest! {
    #[test]
    fn any_string_either_parses_or_is_rejected_without_panicking(raw in any::<String>()) {
        let _ = Sku::parse(&raw);
        let _ = Barcode::parse(&raw);
        let _ = product_key(Some(&raw), Some(&raw));
    }

    #[test]
    fn parsing_an_sku_again_gives_the_same_sku(raw in any::<String>()) {
        if let Ok(sku) = Sku::parse(&raw) {
            prop_assert_eq!(Sku::parse(sku.as_str()), Ok(sku.clone()));
            prop_assert_eq!(sku.to_string().parse::<Sku>(), Ok(sku));
        }
    }

    #[test]
    fn parsing_a_barcode_again_gives_the_same_barcode(raw in "[ 0-9A-Za-z]{0,20}") {
        if let Ok(barcode) = Barcode::parse(&raw) {
            prop_assert_eq!(Barcode::parse(barcode.as_str()), Ok(barcode));
        }
    }
}
