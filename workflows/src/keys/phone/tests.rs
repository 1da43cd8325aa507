use proptest::prelude::*;

use super::*;

/// Feeds `input` to `dongbo normalize-phone` and compares its line with `expect`.
#[track_caller]
fn check(input: &str, expect: &str) {
    assert_eq!(normalize_phone_line(input), expect, "normalize_phone_line({input:?})");
}

/// Checks every input of a table against its expected line, reporting all mismatches at once.
#[track_caller]
fn check_table(table: &[(&str, &str)]) {
    let wrong: Vec<String> = table
        .iter()
        .filter_map(|&(input, expect)| {
            let got = normalize_phone_line(input);
            (got != expect).then(|| format!("{input:?}: got {got:?}, expected {expect:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {}:\n{}", wrong.len(), table.len(), wrong.join("\n"));
}

#[test]
fn every_written_form_of_a_mobile_number_gives_the_same_key() {
    check_table(&[
        ("0988992942", "+84988992942"),
        ("+84988992942", "+84988992942"),
        ("84988992942", "+84988992942"),
        ("0084988992942", "+84988992942"),
        ("(+84)988992942", "+84988992942"),
        ("(+84) 988 992 942", "+84988992942"),
        ("+84 (0) 988 992 942", "+84988992942"),
        ("+84 (0) 912 345 678", "+84912345678"),
        ("+840988992942", "+84988992942"),
        ("0084 (0) 988992942", "+84988992942"),
        ("84 988 992 942", "+84988992942"),
        ("988992942", "+84988992942"),
        ("988 992 942", "+84988992942"),
        ("0988 992 942", "+84988992942"),
        ("0988.992.942", "+84988992942"),
        ("0988-992-942", "+84988992942"),
        ("(098) 899-2942", "+84988992942"),
        ("+84-988-992-942", "+84988992942"),
        ("+84.988.992.942", "+84988992942"),
        ("  0988992942\t", "+84988992942"),
        ("0988\u{a0}992\u{a0}942", "+84988992942"),
        ("+0988992942", "+84988992942"),
        ("ĐT: 0988.992.942 (anh Tú)", "+84988992942"),
        ("Tel:+84988992942.", "+84988992942"),
    ]);
}

#[test]
fn nine_digits_starting_with_84_are_a_084_number_not_a_country_code() {
    check_table(&[
        ("845123456", "+84845123456"),
        ("845 123 456", "+84845123456"),
        ("0845123456", "+84845123456"),
        ("84845123456", "+84845123456"),
        ("+84845123456", "+84845123456"),
        ("0084845123456", "+84845123456"),
    ]);
}

#[test]
fn current_mobile_prefixes_of_every_carrier_are_accepted() {
    check_table(&[
        ("0321234567", "+84321234567"),
        ("0391234567", "+84391234567"),
        ("0561234567", "+84561234567"),
        ("0581234567", "+84581234567"),
        ("0591234567", "+84591234567"),
        ("0701234567", "+84701234567"),
        ("0761234567", "+84761234567"),
        ("0791234567", "+84791234567"),
        ("0811234567", "+84811234567"),
        ("0861234567", "+84861234567"),
        ("0881234567", "+84881234567"),
        ("0901234567", "+84901234567"),
        ("0961234567", "+84961234567"),
        ("0991234567", "+84991234567"),
    ]);
}

#[test]
fn landlines_are_keyed_with_their_area_code() {
    check_table(&[
        ("02438253535", "+842438253535"),
        ("024 3825 3535", "+842438253535"),
        ("(024) 3825.3535", "+842438253535"),
        ("+84 24 3825 3535", "+842438253535"),
        ("842438253535", "+842438253535"),
        ("2438253535", "+842438253535"),
        ("(028) 3825 3535", "+842838253535"),
        ("0236 382 3456", "+842363823456"),
    ]);
}

#[test]
fn every_old_eleven_digit_prefix_becomes_its_2018_successor_in_national_and_international_form() {
    check_table(&[
        // MobiFone
        ("01201234567", "+84701234567"),
        ("+841201234567", "+84701234567"),
        ("01211234567", "+84791234567"),
        ("+841211234567", "+84791234567"),
        ("01221234567", "+84771234567"),
        ("+841221234567", "+84771234567"),
        ("01261234567", "+84761234567"),
        ("+841261234567", "+84761234567"),
        ("01281234567", "+84781234567"),
        ("+841281234567", "+84781234567"),
        // VinaPhone
        ("01231234567", "+84831234567"),
        ("+841231234567", "+84831234567"),
        ("01241234567", "+84841234567"),
        ("+841241234567", "+84841234567"),
        ("01251234567", "+84851234567"),
        ("+841251234567", "+84851234567"),
        ("01271234567", "+84811234567"),
        ("+841271234567", "+84811234567"),
        ("01291234567", "+84821234567"),
        ("+841291234567", "+84821234567"),
        // Viettel
        ("01621234567", "+84321234567"),
        ("+841621234567", "+84321234567"),
        ("01631234567", "+84331234567"),
        ("+841631234567", "+84331234567"),
        ("01641234567", "+84341234567"),
        ("+841641234567", "+84341234567"),
        ("01651234567", "+84351234567"),
        ("+841651234567", "+84351234567"),
        ("01661234567", "+84361234567"),
        ("+841661234567", "+84361234567"),
        ("01671234567", "+84371234567"),
        ("+841671234567", "+84371234567"),
        ("01689123456", "+84389123456"),
        ("+841689123456", "+84389123456"),
        ("01691234567", "+84391234567"),
        ("+841691234567", "+84391234567"),
        // Vietnamobile
        ("01861234567", "+84561234567"),
        ("+841861234567", "+84561234567"),
        ("01881234567", "+84581234567"),
        ("+841881234567", "+84581234567"),
        // Gmobile
        ("01991234567", "+84591234567"),
        ("+841991234567", "+84591234567"),
    ]);
}

#[test]
fn an_old_number_is_migrated_in_every_written_form() {
    check_table(&[
        ("01689123456", "+84389123456"),
        ("+841689123456", "+84389123456"),
        ("841689123456", "+84389123456"),
        ("00841689123456", "+84389123456"),
        ("1689123456", "+84389123456"),
        ("(+84)1689123456", "+84389123456"),
        ("+84 (0) 168 912 3456", "+84389123456"),
        ("0168 912 3456", "+84389123456"),
        ("0168.912.3456", "+84389123456"),
        ("0168-912-3456", "+84389123456"),
        ("84 168 912 3456", "+84389123456"),
    ]);
}

#[test]
fn empty_and_digitless_fields_are_rejected() {
    check_table(&[
        ("", "invalid: empty phone number"),
        ("   ", "invalid: empty phone number"),
        ("\t\n", "invalid: empty phone number"),
        ("abc", "invalid: no digits"),
        ("N/A", "invalid: no digits"),
        ("không có", "invalid: no digits"),
        ("+ ( ) - .", "invalid: no digits"),
        ("０９８８９９２９４２", "invalid: no digits"),
    ]);
}

#[test]
fn numbers_of_the_wrong_length_are_rejected_with_their_digit_count() {
    let short = "digits (a Vietnamese number has 9 or 10 after the 0 or +84)";
    check("1234567", &format!("invalid: too short: 7 {short}"));
    check("0912345", &format!("invalid: too short: 6 {short}"));
    check("0988 992 94", &format!("invalid: too short: 8 {short}"));
    check("+84 12345", &format!("invalid: too short: 5 {short}"));
    check("+84", &format!("invalid: too short: 0 {short}"));
    check("18001234", &format!("invalid: too short: 8 {short}"));
    check("098899294212", &format!("invalid: too long: 11 {short}"));
    check("09123456789012345678", &format!("invalid: too long: 19 {short}"));
    check("14155550123", &format!("invalid: too long: 11 {short}"));
}

#[test]
fn unknown_prefixes_and_unallocated_ranges_are_rejected_with_the_prefix_or_number() {
    check_table(&[
        ("01951234567", "invalid: unknown mobile prefix 0195"),
        ("+841951234567", "invalid: unknown mobile prefix 0195"),
        ("01001234567", "invalid: unknown mobile prefix 0100"),
        ("01901234567", "invalid: unknown mobile prefix 0190"),
        ("0992123456", "invalid: not a valid Vietnamese number: +84992123456 (no such range)"),
        ("0612345678", "invalid: not a valid Vietnamese number: +84612345678 (no such range)"),
        ("0212345678", "invalid: not a valid Vietnamese number: +84212345678 (no such range)"),
        ("000912345678", "invalid: not a Vietnamese number: +0912345678"),
    ]);
}

#[test]
fn foreign_numbers_are_rejected_as_not_vietnamese() {
    check_table(&[
        ("+14155550123", "invalid: not a Vietnamese number: +14155550123"),
        ("+1 (415) 555-0123", "invalid: not a Vietnamese number: +14155550123"),
        ("+86 138 0013 8000", "invalid: not a Vietnamese number: +8613800138000"),
        ("008613800138000", "invalid: not a Vietnamese number: +8613800138000"),
        ("+65 6123 4567", "invalid: not a Vietnamese number: +6561234567"),
        ("+66 81 234 5678", "invalid: not a Vietnamese number: +66812345678"),
        ("(+1) 415 555 0123", "invalid: not a Vietnamese number: +14155550123"),
        ("+1 234", "invalid: too short: 4 digits (a Vietnamese number has 9 or 10 after the 0 or +84)"),
    ]);
}

#[test]
fn a_field_with_several_numbers_gives_each_once_in_order() {
    check_table(&[
        ("0912 345 678 / 0987 654 321", "+84912345678,+84987654321"),
        ("0912345678, 0987654321", "+84912345678,+84987654321"),
        ("0912345678;0987654321", "+84912345678,+84987654321"),
        ("0912345678 hoặc 0987654321", "+84912345678,+84987654321"),
        ("0912345678 or 0987654321", "+84912345678,+84987654321"),
        ("0912345678 | 0987654321", "+84912345678,+84987654321"),
        ("0912345678\n0987654321", "+84912345678,+84987654321"),
        ("0912 345 678 0987 654 321", "+84912345678,+84987654321"),
        ("0912.345.678-0987.654.321", "+84912345678,+84987654321"),
        ("0912345678 - 01689123456", "+84912345678,+84389123456"),
        ("+84912345678 +84987654321", "+84912345678,+84987654321"),
        ("0912345678+84987654321", "+84912345678,+84987654321"),
        ("02438253535 0912345678", "+842438253535,+84912345678"),
        ("Anh Tú 0912345678, chị Lan 0987 654 321", "+84912345678,+84987654321"),
        ("0988992942 / +84988992942 / 84988992942", "+84988992942"),
        ("0389123456 / 01689123456", "+84389123456"),
    ]);
}

#[test]
fn pieces_that_are_no_number_are_skipped_when_the_field_holds_one() {
    check_table(&[
        ("0912345678 (ext 12)", "+84912345678"),
        ("ĐH 12345: 0912345678", "+84912345678"),
        ("0912345678 / 123", "+84912345678"),
        ("0912345678 / +14155550123", "+84912345678"),
        ("0912345678 / 01951234567", "+84912345678"),
        ("+66 81 234 5678 / 0912345678", "+84912345678"),
        ("0086 138 0013 8000 hoặc 0912 345 678", "+84912345678"),
    ]);
}

#[test]
fn a_field_without_a_valid_number_reports_its_longest_run_of_digits() {
    check_table(&[
        ("ĐT: 01951234567 (anh 2)", "invalid: unknown mobile prefix 0195"),
        ("12 / +14155550123", "invalid: not a Vietnamese number: +14155550123"),
    ]);
}

#[test]
fn parsing_a_single_number_rejects_a_field_with_several() {
    let got = PhoneKey::parse("0912 345 678 / 0987 654 321").map_err(|e| e.to_string());
    assert_eq!(got, Err("2 numbers where one was expected: +84912345678, +84987654321".to_owned()));
    let key = PhoneKey::parse("0912345678 / +84 912 345 678").unwrap();
    assert_eq!(key.as_str(), "+84912345678");
    assert_eq!("01689123456".parse::<PhoneKey>().unwrap().as_str(), "+84389123456");
}

#[test]
fn a_key_gives_the_national_form_nhanh_stores() {
    let cases = [("+84988992942", "0988992942"), ("01689123456", "0389123456"), ("+84 24 3825 3535", "02438253535")];
    for (input, national) in cases {
        assert_eq!(PhoneKey::parse(input).unwrap().national(), national, "{input:?}");
    }
}

/// A current 9-digit mobile NSN in a range that libphonenumber knows for every subscriber number.
fn mobile_nsn() -> impl Strategy<Value = String> {
    let prefixes = prop::sample::select(vec![
        "32", "33", "34", "35", "36", "37", "38", "39", "56", "58", "59", "70", "76", "77", "78", "79", "81", "82",
        "83", "84", "85", "86", "88", "90", "91", "93", "94", "96", "97", "98",
    ]);
    (prefixes, "[0-9]{7}").prop_map(|(prefix, rest)| format!("{prefix}{rest}"))
}

/// The ways the number with NSN `nsn` is written in the wild.
fn written_forms(nsn: &str) -> Vec<String> {
    let (a, b, c) = (&nsn[..2], &nsn[2..5], &nsn[5..]);
    vec![
        format!("0{nsn}"),
        format!("+84{nsn}"),
        format!("84{nsn}"),
        format!("0084{nsn}"),
        format!("(+84){nsn}"),
        format!("+84 (0) {a} {b} {c}"),
        nsn.to_owned(),
        format!("0{a}.{b}.{c}"),
        format!("0{a}-{b}-{c}"),
        format!("  0{a} {b} {c}  "),
    ]
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(raw in any::<String>()) {
        let _ = PhoneKey::parse_all(&raw);
        let _ = normalize_phone_line(&raw);
    }

    #[test]
    fn arbitrary_phone_like_text_never_panics(raw in "[0-9+(). /,;-]{0,60}") {
        let _ = PhoneKey::parse_all(&raw);
    }

    #[test]
    fn a_key_parses_back_to_itself_from_its_e164_and_national_forms(raw in "[0-9+(). -]{0,20}") {
        if let Ok(key) = PhoneKey::parse(&raw) {
            prop_assert_eq!(PhoneKey::parse(key.as_str()), Ok(key.clone()));
            prop_assert_eq!(PhoneKey::parse(&key.national()), Ok(key.clone()));
            prop_assert_eq!(key.to_string().parse::<PhoneKey>(), Ok(key));
        }
    }

    #[test]
    fn every_written_form_of_a_current_mobile_gives_its_key(nsn in mobile_nsn()) {
        let expect = format!("+84{nsn}");
        for form in written_forms(&nsn) {
            prop_assert_eq!(normalize_phone_line(&form), expect.clone(), "{:?}", form);
        }
    }

    #[test]
    fn every_written_form_of_an_old_mobile_gives_its_successor(
        (old, new) in prop::sample::select(vec![
            ("120", "70"), ("121", "79"), ("122", "77"), ("126", "76"), ("128", "78"),
            ("123", "83"), ("124", "84"), ("125", "85"), ("127", "81"), ("129", "82"),
            ("162", "32"), ("163", "33"), ("164", "34"), ("165", "35"), ("166", "36"),
            ("167", "37"), ("168", "38"), ("169", "39"), ("186", "56"), ("188", "58"),
            ("199", "59"),
        ]),
        subscriber in "[0-9]{7}",
    ) {
        let expect = format!("+84{new}{subscriber}");
        for form in written_forms(&format!("{old}{subscriber}")) {
            prop_assert_eq!(normalize_phone_line(&form), expect.clone(), "{:?}", form);
        }
    }

    #[test]
    fn several_numbers_in_a_field_come_back_deduplicated_in_order(
        nsns in prop::collection::vec(mobile_nsn(), 1..5),
        separator in prop::sample::select(vec![" / ", ", ", ";", " hoặc ", "\n", " - ", " "]),
    ) {
        let field = nsns.iter().map(|nsn| format!("0{nsn}")).collect::<Vec<_>>().join(separator);
        let mut expect: Vec<String> = Vec::new();
        for nsn in &nsns {
            let key = format!("+84{nsn}");
            if !expect.contains(&key) {
                expect.push(key);
            }
        }
        prop_assert_eq!(normalize_phone_line(&field), expect.join(","));
    }
}
