//! `metafieldsSet`: at most 25, all or none.

use serde_json::{json, Value};

use super::{entry, problem, Problem, INJECTED};
use crate::data::Metafield as StoredMetafield;
use crate::shopify::mutations::*;
use crate::shopify::objects::*;
use crate::sim::Sim;

/// Checks a metafield value against its type; `Ok` holds the stored form.
pub(crate) fn check_value(kind: &str, value: &str) -> Result<String, &'static str> {
    match kind {
        "number_integer" => value
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| n.unsigned_abs() <= 9_007_199_254_740_991)
            .map(|n| n.to_string())
            .ok_or("Value must be an integer."),
        "number_decimal" => {
            value.trim().parse::<f64>().map(|_| value.trim().to_string()).map_err(|_| "Value must be a decimal.")
        }
        "boolean" => match value {
            "true" | "false" => Ok(value.to_string()),
            _ => Err("Value must be true or false."),
        },
        "single_line_text_field" if value.contains('\n') => Err("Value must be a single line."),
        "single_line_text_field" | "multi_line_text_field" => Ok(value.to_string()),
        "json" => {
            serde_json::from_str::<Value>(value).map(|_| value.to_string()).map_err(|_| "Value must be valid JSON.")
        }
        "date" => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|_| value.to_string())
            .map_err(|_| "Value must be a date (YYYY-MM-DD)."),
        "date_time" => {
            crate::clock::parse_iso(value).map(|_| value.to_string()).ok_or("Value must be a date and time.")
        }
        "url" if value.starts_with("http://") || value.starts_with("https://") => Ok(value.to_string()),
        "url" => Err("Value must be a URL."),
        _ => Err("unknown type"),
    }
}

pub(crate) fn set_metafields(sim: &Sim, inputs: &[MetafieldsSetInput], key: Option<String>) -> MetafieldsSetPayload {
    let journal_value =
        |m: &MetafieldsSetInput| json!({"namespace": m.namespace, "key": m.key, "type": m.kind, "value": m.value});
    let max = sim.config.shopify.max_metafields;
    let mut world = sim.write();
    let mut problems = Vec::new();
    if inputs.len() > max {
        problems.push(problem(
            &["metafields"],
            format!("Exceeded the maximum metafields input limit of {max}."),
            "LESS_THAN_OR_EQUAL_TO",
        ));
    }
    let mut accepted = Vec::new();
    for (i, m) in inputs.iter().enumerate() {
        let index = i.to_string();
        let at =
            |name: &str| vec!["metafields", index.as_str(), name].into_iter().map(str::to_string).collect::<Vec<_>>();
        let namespace = m.namespace.clone().unwrap_or_else(|| "$app".into());
        let existing = world
            .metafields
            .get(m.owner_id.as_str())
            .and_then(|l| l.iter().find(|x| x.namespace == namespace && x.key == m.key))
            .cloned();
        let kind = m.kind.clone().or_else(|| existing.as_ref().map(|e| e.kind.clone()));
        let fail = |field: &str, message: &str, code: &'static str| Problem {
            field: Some(at(field)),
            message: message.into(),
            code,
        };
        if !world.owner_exists(&m.owner_id) {
            problems.push(fail("ownerId", "Owner does not exist.", "INVALID"));
        } else if !(3..=255).contains(&namespace.chars().count()) && namespace != "$app" {
            problems.push(fail("namespace", "Namespace must be 3 to 255 characters.", "INVALID"));
        } else if !(2..=64).contains(&m.key.chars().count())
            || !m.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            problems.push(fail("key", "Key must be 2 to 64 characters of letters, digits, '-' or '_'.", "INVALID"));
        } else if let Some(kind) = kind {
            if existing.as_ref().is_some_and(|e| e.kind != kind) {
                problems.push(fail("type", "Type must match the existing metafield's type.", "INVALID_TYPE"));
            } else {
                match check_value(&kind, &m.value) {
                    Err("unknown type") => {
                        problems.push(fail("type", &format!("Type '{kind}' is not supported."), "INVALID_TYPE"))
                    }
                    Err(message) => problems.push(fail("value", message, "INVALID_VALUE")),
                    Ok(_) if sim.faults.item_fails(m.owner_id.as_str()) => {
                        problems.push(fail("ownerId", INJECTED, "INTERNAL_ERROR"))
                    }
                    Ok(value) => accepted.push((m.owner_id.to_string(), namespace, m.key.clone(), kind, value)),
                }
            }
        } else {
            problems.push(fail("type", "Type can't be blank.", "BLANK"));
        }
    }
    if !problems.is_empty() {
        let note = Some(problems[0].message.clone());
        sim.journal.extend(
            inputs
                .iter()
                .map(|m| entry(sim, "metafieldsSet", m.owner_id.to_string(), journal_value(m), &key, note.clone())),
        );
        return MetafieldsSetPayload {
            metafields: Some(vec![]),
            user_errors: problems.into_iter().map(Into::into).collect(),
        };
    }
    let now = sim.clock.unix_secs();
    let mut out = Vec::new();
    for (owner, namespace, mkey, kind, value) in accepted {
        let next_id = world.next_metafield_id + 1;
        let list = world.metafields.entry(owner.clone()).or_default();
        let stored = match list.iter_mut().find(|x| x.namespace == namespace && x.key == mkey) {
            Some(existing) => {
                existing.value = value;
                existing.updated_at = now;
                existing.clone()
            }
            None => {
                let m = StoredMetafield { id: next_id, namespace, key: mkey, kind, value, updated_at: now };
                list.push(m.clone());
                world.next_metafield_id = next_id;
                m
            }
        };
        out.push(metafield(&owner, &stored));
    }
    sim.journal.extend(
        inputs.iter().map(|m| entry(sim, "metafieldsSet", m.owner_id.to_string(), journal_value(m), &key, None)),
    );
    MetafieldsSetPayload { metafields: Some(out), user_errors: vec![] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: &str, value: &str, expect: Result<&str, &str>) {
        assert_eq!(check_value(kind, value), expect.map(str::to_string), "{kind} {value:?}");
    }

    #[test]
    fn metafield_values_are_checked_against_their_type() {
        check("number_integer", "1250000", Ok("1250000"));
        check("number_integer", " 0042 ", Ok("42"));
        check("number_integer", "12.5", Err("Value must be an integer."));
        check("number_integer", "abc", Err("Value must be an integer."));
        check("number_integer", "9007199254740992", Err("Value must be an integer."));
        check("boolean", "true", Ok("true"));
        check("json", "{\"a\":1}", Ok("{\"a\":1}"));
        check("single_line_text_field", "a\nb", Err("Value must be a single line."));
        check("rating", "5", Err("unknown type"));
    }
}
