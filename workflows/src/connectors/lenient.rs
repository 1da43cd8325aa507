//! Tolerant field decoders for upstream wire types.
//!
//! Real Nhanh replies send numbers as strings (`"123"`) as often as numbers, `null` for any
//! field, and, being PHP, `[]` where an empty object was meant. These functions are used with
//! `#[serde(default, deserialize_with = "…")]` so that such variations decode, while genuinely
//! wrong values (`"abc"` where a number belongs) still fail with a message naming the value.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn number_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn to_i128(v: &Value) -> Result<Option<i128>, String> {
    let whole = |f: f64| {
        if f.is_finite() && f.fract() == 0.0 {
            Ok(Some(f as i128))
        } else {
            Err(format!("expected a whole number, got {f}"))
        }
    };
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(Some(i.into())),
            (_, Some(u), _) => Ok(Some(u.into())),
            (_, _, Some(f)) => whole(f),
            _ => Err(format!("expected a number, got {n}")),
        },
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            if let Ok(i) = t.parse::<i128>() {
                return Ok(Some(i));
            }
            match t.parse::<f64>() {
                Ok(f) => whole(f),
                Err(_) => Err(format!("expected a number, got {}", number_text(v))),
            }
        }
        other => Err(format!("expected a number, got {}", number_text(other))),
    }
}

/// An optional `u64` given as a number, a numeric string, `""` or `null`.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Value::deserialize(d)?;
    match to_i128(&v).map_err(D::Error::custom)? {
        None => Ok(None),
        Some(i) => {
            u64::try_from(i).map(Some).map_err(|_| D::Error::custom(format!("expected a non-negative number, got {i}")))
        }
    }
}

/// A required `u64` given as a number or a numeric string.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    opt_u64(d)?.ok_or_else(|| D::Error::custom("expected a number, got null or \"\""))
}

/// An optional `i64` given as a number, a numeric string, `""` or `null`.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    match to_i128(&v).map_err(D::Error::custom)? {
        None => Ok(None),
        Some(i) => i64::try_from(i).map(Some).map_err(|_| D::Error::custom(format!("number out of range: {i}"))),
    }
}

/// An optional `f64` given as a number, a numeric string, `""` or `null`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a number, got {s:?}"))),
        other => Err(D::Error::custom(format!("expected a number, got {}", number_text(&other)))),
    }
}

/// An optional string that may arrive as a number or boolean (a SKU like `12345`).
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(D::Error::custom(format!("expected a string, got {other}"))),
    }
}

/// An optional object that may arrive as `null` or as PHP's empty array `[]`.
pub fn opt_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Array(a) if a.is_empty() => Ok(None),
        v => serde_json::from_value(v).map(Some).map_err(D::Error::custom),
    }
}

/// A list that may arrive as `null`, as a JSON array, or as an object keyed by id (whose
/// values are then taken in key order, each given the key as its `id` if it has none).
pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.into_iter().map(|v| serde_json::from_value(v).map_err(D::Error::custom)).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(key, mut v)| {
                if let Value::Object(fields) = &mut v {
                    fields.entry("id").or_insert(Value::String(key));
                }
                serde_json::from_value(v).map_err(D::Error::custom)
            })
            .collect(),
        other => Err(D::Error::custom(format!("expected a list, got {other}"))),
    }
}

/// An optional point in time as Unix seconds, given as a number, a numeric string, or a
/// `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DD` string in Vietnam's time (UTC+7, no daylight saving).
pub fn opt_unix_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Value::deserialize(d)?;
    if let Ok(n) = to_i128(&v) {
        return n
            .map(|i| i64::try_from(i).map_err(|_| D::Error::custom(format!("time out of range: {i}"))))
            .transpose();
    }
    let Value::String(s) = &v else {
        return Err(D::Error::custom(format!("expected a time, got {v}")));
    };
    let t = s.trim();
    let vietnam = chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset");
    let naive = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)));
    if let Ok(naive) = naive {
        return match naive.and_local_timezone(vietnam) {
            chrono::LocalResult::Single(t) => Ok(Some(t.timestamp())),
            _ => Err(D::Error::custom(format!("expected a time, got {s:?}"))),
        };
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| Some(t.timestamp()))
        .map_err(|_| D::Error::custom(format!("expected a time, got {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Row {
        #[serde(default, deserialize_with = "opt_u64")]
        u: Option<u64>,
        #[serde(default, deserialize_with = "opt_i64")]
        i: Option<i64>,
        #[serde(default, deserialize_with = "opt_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
    }

    fn check(input: Value, expect: Result<Row, &str>) {
        let got = serde_json::from_value::<Row>(input.clone()).map_err(|e| e.to_string());
        match (got, expect) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "input {input}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "input {input}: error {g:?} lacks {e:?}"),
            (g, e) => panic!("input {input}: got {g:?}, expected {e:?}"),
        }
    }

    fn row(u: Option<u64>, i: Option<i64>, f: Option<f64>, s: Option<&str>) -> Row {
        Row { u, i, f, s: s.map(str::to_owned) }
    }

    #[test]
    fn numbers_decode_from_numbers_strings_empties_and_nulls() {
        check(json!({"u": 123, "i": -4, "f": 1.5, "s": "x"}), Ok(row(Some(123), Some(-4), Some(1.5), Some("x"))));
        check(
            json!({"u": "123", "i": " -4 ", "f": "1.5", "s": 12345}),
            Ok(row(Some(123), Some(-4), Some(1.5), Some("12345"))),
        );
        check(json!({"u": "", "i": null, "f": "", "s": null}), Ok(row(None, None, None, None)));
        check(json!({}), Ok(row(None, None, None, None)));
        check(json!({"u": 5.0, "i": "7.0"}), Ok(row(Some(5), Some(7), None, None)));
        check(json!({"u": "18446744073709551615"}), Ok(row(Some(u64::MAX), None, None, None)));
    }

    #[test]
    fn wrong_values_fail_with_a_message_naming_them() {
        check(json!({"u": "abc"}), Err("expected a number, got \"abc\""));
        check(json!({"u": -1}), Err("expected a non-negative number, got -1"));
        check(json!({"u": 1.5}), Err("expected a whole number, got 1.5"));
        check(json!({"i": {"a": 1}}), Err("expected a number"));
        check(json!({"f": "NaN"}), Err("expected a number, got \"NaN\""));
        check(json!({"s": [1]}), Err("expected a string"));
    }

    #[test]
    fn times_decode_from_unix_seconds_and_vietnamese_local_dates() {
        #[derive(Debug, Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "opt_unix_time")]
            t: Option<i64>,
        }
        let cases = [
            (json!({"t": 1733387520}), Ok(Some(1_733_387_520))),
            (json!({"t": "1733387520"}), Ok(Some(1_733_387_520))),
            (json!({"t": "2024-12-05 15:32:00"}), Ok(Some(1_733_387_520))),
            (json!({"t": "2024-12-05T08:32:00Z"}), Ok(Some(1_733_387_520))),
            (json!({"t": "2024-12-05"}), Ok(Some(1_733_331_600))),
            (json!({"t": null}), Ok(None)),
            (json!({"t": ""}), Ok(None)),
            (json!({"t": "yesterday"}), Err("expected a time, got \"yesterday\"")),
        ];
        for (input, expect) in cases {
            let got = serde_json::from_value::<T>(input.clone()).map(|t| t.t).map_err(|e| e.to_string());
            match (got, expect) {
                (Ok(g), Ok(e)) => assert_eq!(g, e, "input {input}"),
                (Err(g), Err(e)) => assert!(g.contains(e), "input {input}: {g}"),
                (g, e) => panic!("input {input}: got {g:?}, expected {e:?}"),
            }
        }
    }

    #[test]
    fn empty_php_arrays_read_as_missing_objects_and_keyed_objects_as_lists() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Holder {
            #[serde(default, deserialize_with = "opt_object")]
            o: Option<std::collections::BTreeMap<String, u8>>,
            #[serde(default, deserialize_with = "list")]
            l: Vec<u8>,
        }
        let h: Holder = serde_json::from_value(json!({"o": [], "l": {"a": 1, "b": 2}})).unwrap();
        assert_eq!(h, Holder { o: None, l: vec![1, 2] });
        let h: Holder = serde_json::from_value(json!({"o": {"k": 3}, "l": null})).unwrap();
        assert_eq!(h.o.unwrap()["k"], 3);
        assert!(h.l.is_empty());
    }
}
