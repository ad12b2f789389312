//! The operator's legal day. 152-FZ periods are counted in days of the operator's place, not of
//! UTC: a request that reaches a Moscow operator at 01:30 on a Wednesday was received on that
//! Wednesday, and a period's last day ends at 24:00 Moscow time. `[legal] timezone` names the zone
//! (IANA, default `Europe/Moscow`); its rules come from the time zone database compiled into the
//! binary (jiff's bundled copy), so a host without `/usr/share/zoneinfo`, or with an older one,
//! counts the same days.

use std::fmt;

use jiff::tz::TimeZone;
use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

use crate::Millis;

/// The zone 152-FZ operators count in unless configured otherwise.
pub const DEFAULT: &str = "Europe/Moscow";

/// An IANA time zone the operator's days are counted in.
#[derive(Clone)]
pub struct LegalZone {
    name: String,
    tz: TimeZone,
}

/// `[legal] timezone` names no zone of the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IANA time zone (e.g. Europe/Moscow, Europe/Berlin)")]
pub struct UnknownZone(pub String);

impl LegalZone {
    /// The zone of an IANA name (`Europe/Moscow`); `UTC` is a zone too.
    pub fn named(name: &str) -> Result<LegalZone, UnknownZone> {
        let tz = jiff::tz::db()
            .get(name)
            .map_err(|_| UnknownZone(name.to_owned()))?;
        Ok(LegalZone {
            name: name.to_owned(),
            tz,
        })
    }

    /// `Europe/Moscow`.
    pub fn moscow() -> LegalZone {
        LegalZone::named(DEFAULT).expect("the bundled database knows Europe/Moscow")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's offset from UTC at an instant.
    pub fn offset_at(&self, at: Millis) -> UtcOffset {
        let seconds = jiff::Timestamp::from_millisecond(at)
            .map(|t| self.tz.to_offset(t).seconds())
            .unwrap_or(0);
        UtcOffset::from_whole_seconds(seconds).unwrap_or(UtcOffset::UTC)
    }

    /// An instant as the operator's wall clock shows it.
    pub fn local(&self, at: Millis) -> OffsetDateTime {
        let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        utc.to_offset(self.offset_at(at))
    }

    /// The operator's calendar day an instant falls on.
    pub fn day_of(&self, at: Millis) -> Date {
        self.local(at).date()
    }

    /// The instant a wall-clock time of the zone names; in a gap (clocks put forward) the first
    /// instant after it, in a fold (clocks put back) the earlier one.
    pub fn instant(&self, date: Date, time: Time) -> Millis {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(date.year()).unwrap_or(i16::MAX),
            i8::try_from(u8::from(date.month())).unwrap_or(1),
            i8::try_from(date.day()).unwrap_or(1),
            i8::try_from(time.hour()).unwrap_or(0),
            i8::try_from(time.minute()).unwrap_or(0),
            i8::try_from(time.second()).unwrap_or(0),
            i32::try_from(time.nanosecond()).unwrap_or(0),
        );
        civil
            .and_then(|c| self.tz.to_ambiguous_zoned(c).compatible())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(Millis::MAX)
    }

    /// The first instant of a day of the zone (its 00:00).
    pub fn start_of(&self, day: Date) -> Millis {
        self.instant(day, Time::MIDNIGHT)
    }

    /// The last millisecond of a day of the zone: a period in days ends when its last day does,
    /// at 24:00 of the operator's place.
    pub fn end_of(&self, day: Date) -> Millis {
        match day.next_day() {
            Some(next) => self.start_of(next) - 1,
            None => Millis::MAX,
        }
    }

    /// The same wall-clock time `months` calendar months later, clamped to the month's last day
    /// (31 January + 1 month is 28 or 29 February), counted on the operator's calendar.
    pub fn add_months(&self, at: Millis, months: u32) -> Millis {
        let local = self.local(at);
        let total = i64::from(local.year()) * 12
            + i64::from(u8::from(local.month()) - 1)
            + i64::from(months);
        let Ok(year) = i32::try_from(total.div_euclid(12)) else {
            return Millis::MAX;
        };
        let month = u8::try_from(total.rem_euclid(12) + 1)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .unwrap_or(Month::January);
        let day = local.day().min(month.length(year));
        match Date::from_calendar_date(year, month, day) {
            Ok(date) => self.instant(date, local.time()),
            Err(_) => Millis::MAX,
        }
    }

    /// `2026-12-09` — the operator's date of an instant, as acts and reports print it.
    pub fn date_string(&self, at: Millis) -> String {
        self.day_of(at).to_string()
    }

    /// `2026-12-09 01:30 (Europe/Moscow, UTC+03:00)` — an instant as a reader in the operator's
    /// place reads it.
    pub fn readable(&self, at: Millis) -> String {
        let t = self.local(at);
        let o = t.offset();
        let sign = if o.is_negative() { '-' } else { '+' };
        format!(
            "{} {:02}:{:02} ({}, UTC{sign}{:02}:{:02})",
            self.date_string(at),
            t.hour(),
            t.minute(),
            self.name,
            o.whole_hours().unsigned_abs(),
            o.minutes_past_hour().unsigned_abs()
        )
    }
}

impl Default for LegalZone {
    fn default() -> Self {
        LegalZone::moscow()
    }
}

impl PartialEq for LegalZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for LegalZone {}

impl fmt::Debug for LegalZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LegalZone").field(&self.name).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, time};

    fn ms(t: OffsetDateTime) -> Millis {
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
    }

    #[test]
    fn a_moscow_night_belongs_to_its_own_day() {
        let z = LegalZone::moscow();
        // 01:30 on Wednesday 9 December in Moscow is 22:30 on Tuesday in UTC.
        let at = ms(datetime!(2026-12-08 22:30 UTC));
        assert_eq!(z.day_of(at), date!(2026 - 12 - 09));
        assert_eq!(
            z.end_of(date!(2026 - 12 - 09)),
            ms(datetime!(2026-12-09 20:59:59.999 UTC))
        );
        assert_eq!(
            z.start_of(date!(2026 - 12 - 09)),
            ms(datetime!(2026-12-08 21:00 UTC))
        );
        assert_eq!(
            z.readable(at),
            "2026-12-09 01:30 (Europe/Moscow, UTC+03:00)"
        );
    }

    #[test]
    fn zones_with_summer_time_and_unknown_names() {
        let berlin = LegalZone::named("Europe/Berlin").unwrap();
        // 29 March 2026: 02:00 does not exist in Berlin; the day is 23 hours long.
        let day = date!(2026 - 03 - 29);
        assert_eq!(
            berlin.end_of(day) + 1 - berlin.start_of(day),
            23 * 3_600_000
        );
        assert_eq!(
            berlin.instant(day, time!(02:30)),
            ms(datetime!(2026-03-29 01:30 UTC)),
            "a time in the gap is the first instant after it"
        );
        assert_eq!(
            LegalZone::named("UTC").unwrap().offset_at(0),
            UtcOffset::UTC
        );
        assert_eq!(
            LegalZone::named("Mars/Olympus"),
            Err(UnknownZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn months_are_counted_on_the_operator_calendar() {
        let z = LegalZone::moscow();
        // 31 January 01:30 Moscow (30 January in UTC): one month on is 28 February 01:30 Moscow.
        let at = ms(datetime!(2026-01-30 22:30 UTC));
        assert_eq!(z.add_months(at, 1), ms(datetime!(2026-02-27 22:30 UTC)));
        assert_eq!(z.add_months(at, 3), ms(datetime!(2026-04-29 22:30 UTC)));
    }
}
