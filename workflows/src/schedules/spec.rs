//! A schedule's timing, validated: a cron expression read in an IANA time zone. Pure: every
//! question takes the instant it is asked at, so tests pass any `now` and never wait for a slot.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// The zone a schedule is read in when none is given (the old tool's node-cron zone).
pub const DEFAULT_TIME_ZONE: &str = "Asia/Ho_Chi_Minh";

/// A cron expression and the zone its fields are read in.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    cron: Cron,
    expression: String,
    zone: Tz,
}

impl ScheduleSpec {
    /// Parses `expression` (five fields, `minute hour day-of-month month day-of-week`, or six with
    /// seconds first) in `zone` (an IANA name such as `Asia/Ho_Chi_Minh`). The message says what
    /// is wrong, for a 400.
    pub fn parse(expression: &str, zone: &str) -> Result<ScheduleSpec, String> {
        let expression = expression.trim();
        if expression.is_empty() {
            return Err("cron expression is empty".into());
        }
        let shown: String = expression.chars().take(100).collect();
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(expression).map_err(|e| format!("invalid cron expression `{shown}`: {e}"))?;
        let zone_name = zone.trim();
        let zone: Tz = zone_name.parse().map_err(|_| {
            let shown: String = zone_name.chars().take(64).collect();
            format!("unknown time zone `{shown}`: expected an IANA name such as {DEFAULT_TIME_ZONE} or UTC")
        })?;
        let spec = ScheduleSpec { cron, expression: expression.to_owned(), zone };
        // A pattern that names no real time (`0 0 31 2 *`) would never fire: refuse it now.
        if spec.next_after(DateTime::<Utc>::UNIX_EPOCH).is_none() {
            return Err(format!("cron expression `{shown}` never fires"));
        }
        Ok(spec)
    }

    /// The expression as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The zone's IANA name.
    pub fn zone(&self) -> &str {
        self.zone.name()
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.zone);
        self.cron.find_next_occurrence(&local, false).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The latest slot `s` with `after < s <= now`: the one slot a tick at `now` fires when every
    /// slot up to `after` is taken. Older missed slots are skipped on purpose: after an outage
    /// one firing catches up, not one per slot missed.
    pub fn due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if now <= after {
            return None;
        }
        let local = now.with_timezone(&self.zone);
        let slot = self.cron.find_previous_occurrence(&local, true).ok()?.with_timezone(&Utc);
        (slot > after).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn check_due(cron: &str, zone: &str, after: &str, now: &str, expect: Option<&str>) {
        let spec = ScheduleSpec::parse(cron, zone).unwrap();
        assert_eq!(spec.due(at(after), at(now)), expect.map(at), "{cron} in {zone}, after {after}, now {now}");
    }

    fn check_next(cron: &str, zone: &str, from: &str, expect: &str) {
        let spec = ScheduleSpec::parse(cron, zone).unwrap();
        assert_eq!(spec.next_after(at(from)), Some(at(expect)), "{cron} in {zone} after {from}");
    }

    #[test]
    fn slots_are_read_in_the_schedules_zone() {
        // 02:00 in Ho Chi Minh City (UTC+7, no daylight saving) is 19:00 UTC the day before.
        check_next("0 2 * * *", "Asia/Ho_Chi_Minh", "2026-12-06T03:00:00Z", "2026-12-06T19:00:00Z");
        check_next("0 2 * * *", "UTC", "2026-12-06T03:00:00Z", "2026-12-07T02:00:00Z");
        check_next("*/15 * * * *", "Asia/Ho_Chi_Minh", "2026-12-06T03:00:00Z", "2026-12-06T03:15:00Z");
        check_next("30 * * * * *", "UTC", "2026-12-06T03:00:00Z", "2026-12-06T03:00:30Z");
    }

    #[test]
    fn a_daylight_saving_gap_moves_a_slot_it_swallows_forward_not_away() {
        // 02:30 does not exist in New York on 2026-03-08 (clocks jump from 02:00 to 03:00).
        let spec = ScheduleSpec::parse("30 2 * * *", "America/New_York").unwrap();
        let next = spec.next_after(at("2026-03-08T05:00:00Z")).unwrap();
        assert!(next > at("2026-03-08T05:00:00Z") && next <= at("2026-03-09T06:30:00Z"), "{next}");
    }

    #[test]
    fn only_the_latest_missed_slot_is_due() {
        let every15 = "*/15 * * * *";
        // Down from 10:05 to 11:20: 10:15 … 11:15 were missed; only 11:15 is due.
        check_due(every15, "UTC", "2026-12-06T10:00:00Z", "2026-12-06T11:20:00Z", Some("2026-12-06T11:15:00Z"));
        // Exactly on a slot: it is due.
        check_due(every15, "UTC", "2026-12-06T10:00:00Z", "2026-12-06T10:15:00Z", Some("2026-12-06T10:15:00Z"));
        // Already taken: nothing.
        check_due(every15, "UTC", "2026-12-06T10:15:00Z", "2026-12-06T10:20:00Z", None);
        check_due(every15, "UTC", "2026-12-06T10:15:00Z", "2026-12-06T10:15:00Z", None);
        // A clock behind the guard: nothing.
        check_due(every15, "UTC", "2026-12-06T10:30:00Z", "2026-12-06T10:20:00Z", None);
        // Nightly, three nights missed: once.
        check_due(
            "0 2 * * *",
            "Asia/Ho_Chi_Minh",
            "2026-12-01T00:00:00Z",
            "2026-12-06T03:00:00Z",
            Some("2026-12-05T19:00:00Z"),
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_with_a_reason() {
        for (cron, zone, says) in [
            ("", "UTC", "empty"),
            ("every day", "UTC", "invalid cron expression"),
            ("61 * * * *", "UTC", "invalid cron expression"),
            ("* * * * * * *", "UTC", "invalid cron expression"),
            ("0 2 * * *", "Mars/Olympus_Mons", "unknown time zone"),
            ("0 2 * * *", "", "unknown time zone"),
            ("0 0 31 2 *", "UTC", "never fires"),
        ] {
            let err = ScheduleSpec::parse(cron, zone).unwrap_err();
            assert!(err.contains(says), "{cron:?} in {zone:?}: {err}");
        }
    }
}
