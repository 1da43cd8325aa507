//! `dongbo normalize-phone` as an operator runs it.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO_BIN_EXE_dongbo")).arg("normalize-phone").args(args).output().expect("run dongbo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn each_argument_gets_one_line_with_its_numbers_or_the_reason_it_is_invalid() {
    let out = run(&["0988 992 942", "01689123456", "0912.345.678 / 0987-654-321", "abc", "+1 415 555 0123"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], "+84988992942");
    assert_eq!(lines[1], "+84389123456", "old Viettel 0168 becomes 038");
    assert_eq!(lines[2], "+84912345678,+84987654321");
    assert!(lines[3].starts_with("invalid: "), "{}", lines[3]);
    assert!(lines[4].starts_with("invalid: not a Vietnamese number"), "{}", lines[4]);
}
