//! Which Shopify Admin API versions dongbo speaks, and until when Shopify supports each.
//!
//! Shopify releases a stable version at the start of every quarter (January, April, July,
//! October), names it `YYYY-MM`, and supports it for at least 12 months; a request to a version
//! that left support is answered by the oldest supported one ("fall forward"), and the
//! `X-Shopify-API-Version` reply header says which version answered
//! (<https://shopify.dev/docs/api/usage/versioning>). The dates below follow that page's rule:
//! a version released on the first day of a quarter is supported until the same day a year on.
//!
//! Everything here is pure: "is it about to leave support" takes `today` as an argument.

use chrono::NaiveDate;

/// How long before a version's end of support dongbo starts warning.
pub const WARN_DAYS_BEFORE_END: i64 = 90;

/// A stable Shopify API version, `YYYY-MM` with a quarter's first month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    year: u16,
    month: u8,
}

/// Why a configured version cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not of the form `YYYY-MM` with a release month (01, 04, 07, 10).
    #[error(
        "SHOPIFY_API_VERSION `{given}` is not a Shopify API version (YYYY-MM with month 01, 04, 07 or 10); \
         dongbo speaks {}",
        list(.supported)
    )]
    Malformed {
        /// What was configured.
        given: String,
        /// The versions dongbo speaks that Shopify supports on the day of the check.
        supported: Vec<ApiVersion>,
    },
    /// A real version, but not one dongbo speaks or not one Shopify supports on the day of the check.
    #[error("SHOPIFY_API_VERSION {given} is not supported; dongbo speaks {}", list(.supported))]
    Unsupported {
        /// What was configured.
        given: ApiVersion,
        /// The versions dongbo speaks that Shopify supports on the day of the check.
        supported: Vec<ApiVersion>,
    },
}

fn list(versions: &[ApiVersion]) -> String {
    if versions.is_empty() {
        return "none that Shopify still supports (this dongbo is too old: upgrade it)".to_owned();
    }
    versions.iter().map(ApiVersion::to_string).collect::<Vec<_>>().join(", ")
}

impl ApiVersion {
    /// A version from its parts; `None` unless `month` is a release month.
    pub const fn new(year: u16, month: u8) -> Option<ApiVersion> {
        match month {
            1 | 4 | 7 | 10 if year >= 2019 && year <= 9999 => Some(ApiVersion { year, month }),
            _ => None,
        }
    }

    const fn known(year: u16, month: u8) -> ApiVersion {
        match ApiVersion::new(year, month) {
            Some(v) => v,
            None => panic!("not a release month"),
        }
    }

    /// Reads `YYYY-MM` (e.g. `2026-10`); `None` for anything else (`2026-1`, `2026-02`, `latest`).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let (year, month) = text.split_once('-')?;
        if year.len() != 4 || month.len() != 2 || !(year.bytes().chain(month.bytes()).all(|b| b.is_ascii_digit())) {
            return None;
        }
        ApiVersion::new(year.parse().ok()?, month.parse().ok()?)
    }

    /// The day Shopify released it (its 5 pm UTC release is on this date).
    pub fn released(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(i32::from(self.year), u32::from(self.month), 1).expect("a release month's first day")
    }

    /// The first day Shopify no longer supports it: twelve months after its release.
    pub fn support_ends(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(i32::from(self.year) + 1, u32::from(self.month), 1)
            .expect("a release month's first day")
    }

    /// Whether Shopify supports it on `today` (released, and not yet past its end of support).
    pub fn is_supported_on(self, today: NaiveDate) -> bool {
        self.released() <= today && today < self.support_ends()
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// The versions dongbo speaks, oldest first: each document the connector sends is valid, and
/// uses nothing deprecated, in each of them (checked against Shopify's published schemas).
pub const SPOKEN: &[ApiVersion] =
    &[ApiVersion::known(2026, 1), ApiVersion::known(2026, 4), ApiVersion::known(2026, 7), ApiVersion::known(2026, 10)];

/// The version used unless configured otherwise: the newest stable one dongbo speaks.
pub const DEFAULT: ApiVersion = ApiVersion::known(2026, 10);

/// The versions dongbo speaks that Shopify supports on `today`, oldest first.
pub fn supported_on(today: NaiveDate) -> Vec<ApiVersion> {
    SPOKEN.iter().copied().filter(|v| v.is_supported_on(today)).collect()
}

/// The configured `text` as a version dongbo can use on `today`, or why not (naming the ones
/// it can).
pub fn choose(text: &str, today: NaiveDate) -> Result<ApiVersion, VersionError> {
    let supported = supported_on(today);
    let Some(version) = ApiVersion::parse(text.trim()) else {
        return Err(VersionError::Malformed { given: text.to_owned(), supported });
    };
    if supported.contains(&version) {
        Ok(version)
    } else {
        Err(VersionError::Unsupported { given: version, supported })
    }
}

/// A version close to (or past) the end of its support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfSupport {
    /// The version.
    pub version: ApiVersion,
    /// Its first unsupported day.
    pub ends: NaiveDate,
    /// Days from `today` to `ends` (0 or less: it has ended).
    pub days_left: i64,
}

impl std::fmt::Display for EndOfSupport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.days_left > 0 {
            write!(
                f,
                "Shopify API version {} leaves Shopify's support on {} ({} days): set SHOPIFY_API_VERSION to a newer \
                 version",
                self.version, self.ends, self.days_left
            )
        } else {
            write!(
                f,
                "Shopify API version {} left Shopify's support on {}: Shopify answers with another version; set \
                 SHOPIFY_API_VERSION to a supported one",
                self.version, self.ends
            )
        }
    }
}

/// `Some` when `version` leaves support within [`WARN_DAYS_BEFORE_END`] days of `today`, or
/// already has.
pub fn end_of_support(version: ApiVersion, today: NaiveDate) -> Option<EndOfSupport> {
    let ends = version.support_ends();
    let days_left = (ends - today).num_days();
    (days_left <= WARN_DAYS_BEFORE_END).then_some(EndOfSupport { version, ends, days_left })
}

/// What the client knows about the version it speaks: which it asked for, which Shopify last
/// answered with (the `X-Shopify-API-Version` reply header), and how close the asked one is to
/// its end of support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionStatus {
    /// The configured version, named in every request's URL.
    pub asked: ApiVersion,
    /// The version of the last reply that named one, when it differed from `asked`.
    pub answered_other: Option<String>,
    /// Set from [`WARN_DAYS_BEFORE_END`] days before `asked` leaves support.
    pub end_of_support: Option<EndOfSupport>,
}

impl VersionStatus {
    /// The status before any reply, as of `today`.
    pub fn new(asked: ApiVersion, today: NaiveDate) -> VersionStatus {
        VersionStatus { asked, answered_other: None, end_of_support: end_of_support(asked, today) }
    }

    /// The sentence an operator reads when Shopify answers with another version.
    pub fn answered_other_text(&self) -> Option<String> {
        self.answered_other.as_ref().map(|answered| {
            format!(
                "Shopify answered with API version {answered} when dongbo asked for {}: the asked version is not \
                 served (Shopify falls forward from a version that left support); set SHOPIFY_API_VERSION to a \
                 supported version",
                self.asked
            )
        })
    }
}

/// What changed in a [`VersionStatus`] after a reply or a new day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionChange {
    /// Shopify answered with another version than the one asked for (or another one again).
    AnsweredOther(String),
    /// Shopify answers with the asked version again.
    AnsweredAsAsked,
    /// The asked version came within the warning window (or its days left changed).
    EndOfSupportNear(EndOfSupport),
}

/// Folds one observation into `status`: `answered` is the reply's `X-Shopify-API-Version`
/// (absent: nothing learnt), `today` the day of the reply. Returns what changed, so the caller
/// says it once per change and not once per request.
pub fn observe(status: &mut VersionStatus, answered: Option<&str>, today: NaiveDate) -> Vec<VersionChange> {
    let mut changes = Vec::new();
    if let Some(answered) = answered.map(str::trim).filter(|a| !a.is_empty()) {
        let other = (answered != status.asked.to_string()).then(|| answered.to_owned());
        if other != status.answered_other {
            changes.push(match &other {
                Some(a) => VersionChange::AnsweredOther(a.clone()),
                None => VersionChange::AnsweredAsAsked,
            });
            status.answered_other = other;
        }
    }
    let end = end_of_support(status.asked, today);
    if end != status.end_of_support {
        if let Some(e) = end {
            changes.push(VersionChange::EndOfSupportNear(e));
        }
        status.end_of_support = end;
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn v(text: &str) -> ApiVersion {
        ApiVersion::parse(text).unwrap()
    }

    fn check_parse(text: &str, expect: Option<&str>) {
        assert_eq!(ApiVersion::parse(text).map(|v| v.to_string()).as_deref(), expect, "{text:?}");
    }

    #[test]
    fn versions_read_as_year_dash_release_month() {
        check_parse("2026-10", Some("2026-10"));
        check_parse("2026-01", Some("2026-01"));
        check_parse("2026-02", None);
        check_parse("2026-1", None);
        check_parse("2026-010", None);
        check_parse("+202-10", None);
        check_parse("2026-+1", None);
        check_parse("latest", None);
        check_parse("unstable", None);
        check_parse("", None);
        check_parse("2026-10-01", None);
    }

    #[test]
    fn each_version_is_supported_for_twelve_months_from_its_release() {
        let table: Vec<(String, NaiveDate, NaiveDate)> =
            SPOKEN.iter().map(|v| (v.to_string(), v.released(), v.support_ends())).collect();
        assert_eq!(
            table,
            vec![
                ("2026-01".to_owned(), day("2026-01-01"), day("2027-01-01")),
                ("2026-04".to_owned(), day("2026-04-01"), day("2027-04-01")),
                ("2026-07".to_owned(), day("2026-07-01"), day("2027-07-01")),
                ("2026-10".to_owned(), day("2026-10-01"), day("2027-10-01")),
            ]
        );
        assert_eq!(DEFAULT, *SPOKEN.last().unwrap());
    }

    fn check_choose(text: &str, today: &str, expect: Result<&str, &str>) {
        let got = choose(text, day(today)).map(|v| v.to_string()).map_err(|e| e.to_string());
        match (&got, expect) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{text} on {today}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "{text} on {today}: {g}"),
            _ => panic!("{text} on {today}: got {got:?}, expected {expect:?}"),
        }
    }

    #[test]
    fn a_configured_version_is_refused_unless_dongbo_speaks_it_and_shopify_supports_it_that_day() {
        check_choose("2026-10", "2026-12-06", Ok("2026-10"));
        check_choose(" 2026-01 ", "2026-12-06", Ok("2026-01"));
        check_choose(
            "2025-10",
            "2026-12-06",
            Err("2025-10 is not supported; dongbo speaks 2026-01, 2026-04, 2026-07, 2026-10"),
        );
        check_choose("2027-01", "2026-12-06", Err("2027-01 is not supported"));
        check_choose("2026-13", "2026-12-06", Err("`2026-13` is not a Shopify API version"));
        check_choose("unstable", "2026-12-06", Err("dongbo speaks 2026-01, 2026-04, 2026-07, 2026-10"));
        // On the day 2026-01 leaves support it is refused, and the message names what is left.
        check_choose("2026-01", "2027-01-01", Err("2026-01 is not supported; dongbo speaks 2026-04, 2026-07, 2026-10"));
        check_choose("2026-10", "2026-09-30", Err("2026-10 is not supported; dongbo speaks 2026-01, 2026-04, 2026-07"));
        check_choose("2026-10", "2027-10-01", Err("none that Shopify still supports"));
    }

    fn check_end(version: &str, today: &str, expect: Option<i64>) {
        assert_eq!(end_of_support(v(version), day(today)).map(|e| e.days_left), expect, "{version} on {today}");
    }

    #[test]
    fn a_change_of_answered_version_is_reported_once_until_it_changes_again() {
        let asked = v("2026-01");
        let mut status = VersionStatus::new(asked, day("2026-06-01"));
        let mut check = |answered: Option<&str>, today: &str, expect: Vec<VersionChange>| {
            assert_eq!(observe(&mut status, answered, day(today)), expect, "{answered:?} on {today}");
        };
        check(Some("2026-01"), "2026-06-01", vec![]);
        check(None, "2026-06-01", vec![]);
        check(Some("2026-04"), "2026-06-01", vec![VersionChange::AnsweredOther("2026-04".into())]);
        check(Some("2026-04"), "2026-06-01", vec![]);
        check(None, "2026-06-02", vec![]);
        check(Some("2026-07"), "2026-06-02", vec![VersionChange::AnsweredOther("2026-07".into())]);
        check(Some("2026-01"), "2026-06-02", vec![VersionChange::AnsweredAsAsked]);
        check(Some("2026-01"), "2026-06-02", vec![]);
        let near = |days_left| {
            VersionChange::EndOfSupportNear(EndOfSupport { version: asked, ends: day("2027-01-01"), days_left })
        };
        check(Some("2026-01"), "2026-10-03", vec![near(90)]);
        check(Some("2026-01"), "2026-10-03", vec![]);
        check(Some("2026-01"), "2026-10-04", vec![near(89)]);
        assert_eq!(status.end_of_support.map(|e| e.days_left), Some(89));
        assert_eq!(status.answered_other_text(), None);
        status.answered_other = Some("2026-04".into());
        assert!(status
            .answered_other_text()
            .unwrap()
            .contains("answered with API version 2026-04 when dongbo asked for 2026-01"));
    }

    #[test]
    fn the_warning_starts_ninety_days_before_the_end_of_support() {
        check_end("2026-01", "2026-10-02", None);
        check_end("2026-01", "2026-10-03", Some(90));
        check_end("2026-01", "2026-12-06", Some(26));
        check_end("2026-01", "2026-12-31", Some(1));
        check_end("2026-01", "2027-01-01", Some(0));
        check_end("2026-10", "2026-12-06", None);
        check_end("2026-10", "2027-07-03", Some(90));
        let text = end_of_support(v("2026-01"), day("2026-12-06")).unwrap().to_string();
        assert!(text.contains("2026-01 leaves Shopify's support on 2027-01-01 (26 days)"), "{text}");
        let text = end_of_support(v("2026-01"), day("2027-01-02")).unwrap().to_string();
        assert!(text.contains("left Shopify's support on 2027-01-01"), "{text}");
    }
}
