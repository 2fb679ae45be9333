//! The UTC day a report accounts for: `[00:00, 24:00)` UTC, by the time a version landed (S3's last-modified).

use std::fmt;

use time::{Date, Duration, OffsetDateTime, Time};

/// One UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(Date);

/// A date that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a day: give it as YYYY-MM-DD (UTC), e.g. 2026-11-22")]
pub struct BadDay(pub String);

impl Day {
    pub fn parse(text: &str) -> Result<Day, BadDay> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(text.trim(), &format)
            .map(Day)
            .map_err(|_| BadDay(text.to_string()))
    }

    /// The day `t` falls on.
    pub fn of(t: OffsetDateTime) -> Day {
        Day(t.to_offset(time::UtcOffset::UTC).date())
    }

    /// The day before the one `now` falls on: what the scheduled run reports.
    pub fn before(now: OffsetDateTime) -> Day {
        Day(Day::of(now).0 - Duration::days(1))
    }

    pub fn start(self) -> OffsetDateTime {
        self.0.with_time(Time::MIDNIGHT).assume_utc()
    }

    /// The first instant after the day.
    pub fn end(self) -> OffsetDateTime {
        self.start() + Duration::days(1)
    }

    pub fn contains(self, t: OffsetDateTime) -> bool {
        self.start() <= t && t < self.end()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_day_is_midnight_to_midnight_utc() {
        let day = Day::parse("2026-11-22").expect("a day");
        assert_eq!(day.to_string(), "2026-11-22");
        assert!(day.contains(datetime!(2026-11-22 00:00 UTC)));
        assert!(day.contains(datetime!(2026-11-22 23:59:59.999 UTC)));
        assert!(!day.contains(datetime!(2026-11-23 00:00 UTC)));
        assert!(day.contains(datetime!(2026-11-23 00:30 +01:00)));
        assert_eq!(Day::before(datetime!(2026-11-23 08:00 UTC)), day);
        assert_eq!(Day::parse("22/11/2026"), Err(BadDay("22/11/2026".into())));
    }
}
