//! Shopify's search syntax for the `query:` argument, the subset the simulator filters on.
//!
//! Supported terms: `updated_at`, `created_at` (with `>`, `>=`, `<`, `<=` or equality, dates in
//! RFC 3339 or `YYYY-MM-DD`, quoted or not), `id` (numeric, same comparisons), and exact
//! `sku:`, `barcode:`, `email:`, `phone:`. Terms are ANDed (`AND` is optional); other terms and
//! free text are ignored, as Shopify ignores unknown filters.

use crate::clock::parse_iso;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

impl Cmp {
    fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Cmp::Gt => left > right,
            Cmp::Ge => left >= right,
            Cmp::Lt => left < right,
            Cmp::Le => left <= right,
            Cmp::Eq => left == right,
        }
    }
}

/// One understood term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    UpdatedAt(Cmp, i64),
    CreatedAt(Cmp, i64),
    Id(Cmp, i64),
    /// `field:value`, compared exactly (case-insensitive) with the record's field.
    Exact(String, String),
}

/// A parsed `query:` argument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Search {
    pub terms: Vec<Term>,
}

/// Splits on whitespace outside quotes.
fn tokens(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in query.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn unquote(text: &str) -> &str {
    let t = text.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = t.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner;
        }
    }
    t
}

fn comparison(value: &str) -> (Cmp, &str) {
    for (prefix, cmp) in [(">=", Cmp::Ge), ("<=", Cmp::Le), (">", Cmp::Gt), ("<", Cmp::Lt)] {
        if let Some(rest) = value.strip_prefix(prefix) {
            return (cmp, rest);
        }
    }
    (Cmp::Eq, value)
}

impl Search {
    pub(crate) fn parse(query: Option<&str>) -> Search {
        let mut terms = Vec::new();
        for token in tokens(query.unwrap_or("")) {
            let Some((field, value)) = token.split_once(':') else { continue };
            let (cmp, value) = comparison(value.trim());
            let value = unquote(value);
            let term = match field.to_ascii_lowercase().as_str() {
                "updated_at" => parse_iso(value).map(|t| Term::UpdatedAt(cmp, t)),
                "created_at" => parse_iso(value).map(|t| Term::CreatedAt(cmp, t)),
                "id" => value.parse().ok().map(|v| Term::Id(cmp, v)),
                f @ ("sku" | "barcode" | "email" | "phone") => Some(Term::Exact(f.to_string(), value.to_string())),
                _ => None,
            };
            terms.extend(term);
        }
        Search { terms }
    }

    /// Whether a record matches; `exact` gives the record's values of an exact-match field.
    pub(crate) fn matches(
        &self,
        id: u64,
        created_at: i64,
        updated_at: i64,
        exact: impl Fn(&str) -> Vec<String>,
    ) -> bool {
        self.terms.iter().all(|term| match term {
            Term::UpdatedAt(cmp, t) => cmp.holds(updated_at, *t),
            Term::CreatedAt(cmp, t) => cmp.holds(created_at, *t),
            Term::Id(cmp, v) => cmp.holds(id as i64, *v),
            Term::Exact(field, value) => exact(field).iter().any(|v| v.eq_ignore_ascii_case(value)),
        })
    }

    /// Whether any term needs rendered fields (so the caller can skip rendering otherwise).
    pub(crate) fn needs_fields(&self) -> bool {
        self.terms.iter().any(|t| matches!(t, Term::Exact(..)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expect: Vec<Term>) {
        assert_eq!(Search::parse(Some(query)).terms, expect, "{query}");
    }

    #[test]
    fn queries_parse_into_terms() {
        check("updated_at:>'2025-01-01T00:00:00Z'", vec![Term::UpdatedAt(Cmp::Gt, 1_735_689_600)]);
        check(
            "updated_at:>=2025-01-01 AND created_at:<\"2025-01-01T00:00:00Z\"",
            vec![Term::UpdatedAt(Cmp::Ge, 1_735_689_600), Term::CreatedAt(Cmp::Lt, 1_735_689_600)],
        );
        check("id:>100 sku:AO-1", vec![Term::Id(Cmp::Gt, 100), Term::Exact("sku".into(), "AO-1".into())]);
        check("title:'Áo thun' free text", vec![]);
        check("updated_at:>'not a date'", vec![]);
    }

    #[test]
    fn a_record_matches_when_every_term_holds() {
        let s = Search::parse(Some("updated_at:>'2025-01-01T00:00:00Z' email:a@b.vn"));
        let email = |_: &str| vec!["A@b.vn".to_string()];
        assert!(s.matches(1, 0, 1_735_689_601, email));
        assert!(!s.matches(1, 0, 1_735_689_600, email));
        assert!(!s.matches(1, 0, 1_735_689_601, |_| vec![]));
    }
}
