//! Working days for 152-FZ deadlines, which count working days of the Russian production calendar:
//! Saturdays and Sundays off, plus the official holidays and the government's yearly transfers.
//! The calendar ships as data (`calendars/ru.txt`, embedded) and can be replaced by a file in the
//! same format, because the next year's transfer decree is published only in the autumn.
//!
//! Format: `covers <years…>` names the years the file is complete for (their transfer decrees
//! are in it), `off <dates…>` lists weekdays that are days off, `working <dates…>` weekend days
//! that are working days; `#` starts a comment. A period that runs into a year not covered is
//! counted as if that year had only its statutory holidays, and flagged `calendar_unverified`;
//! a cross-border wait that would end there is not over (fail closed). Adding a year is adding its
//! lines and its number to `covers`.

use std::collections::BTreeSet;

use time::{Date, Duration, Weekday};

use crate::legal_day::LegalZone;

/// The shipped Russian production calendar (2025–2027; see the file for sources and gaps).
pub const RUSSIA: &str = include_str!("../../../../calendars/ru.txt");

/// The working days of the operator's place, and the zone its days are counted in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    off: BTreeSet<Date>,
    working: BTreeSet<Date>,
    covers: BTreeSet<i32>,
    zone: LegalZone,
}

/// Why a calendar file does not parse; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("line {line}: `{word}` is not a date (YYYY-MM-DD)")]
    NotADate { line: usize, word: String },
    #[error("line {line}: {date} is a {weekday}: list only weekdays under `off`")]
    WeekendOff {
        line: usize,
        date: String,
        weekday: Weekday,
    },
    #[error("line {line}: {date} is a weekday: list only weekend days under `working`")]
    WeekdayWorking { line: usize, date: String },
    #[error("line {line}: `{word}`: a line starts with `covers`, `off` or `working`")]
    UnknownKind { line: usize, word: String },
    #[error("line {line}: `{word}` is not a year (YYYY)")]
    NotAYear { line: usize, word: String },
    #[error("the calendar does not say which years it covers: add a line `covers 2026 2027`")]
    NoCoverage,
}

impl Calendar {
    /// The embedded Russian calendar.
    pub fn russia() -> Calendar {
        Calendar::parse(RUSSIA).expect("the shipped calendar parses")
    }

    /// Parses the format above; errors name the line.
    pub fn parse(text: &str) -> Result<Calendar, CalendarError> {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let mut cal = Calendar {
            off: BTreeSet::new(),
            working: BTreeSet::new(),
            covers: BTreeSet::new(),
            zone: LegalZone::moscow(),
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let kind = words.next().unwrap_or_default();
            for w in words {
                let line = i + 1;
                if kind == "covers" {
                    let year = w.parse().ok().filter(|y| (2000..=9999).contains(y));
                    let year = year.ok_or_else(|| CalendarError::NotAYear {
                        line,
                        word: w.to_owned(),
                    })?;
                    cal.covers.insert(year);
                    continue;
                }
                let word = || w.to_owned();
                let d = Date::parse(w, fmt)
                    .map_err(|_| CalendarError::NotADate { line, word: word() })?;
                let weekend = matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday);
                match kind {
                    "off" if weekend => {
                        return Err(CalendarError::WeekendOff {
                            line,
                            date: word(),
                            weekday: d.weekday(),
                        })
                    }
                    "off" => cal.off.insert(d),
                    "working" if !weekend => {
                        return Err(CalendarError::WeekdayWorking { line, date: word() })
                    }
                    "working" => cal.working.insert(d),
                    other => {
                        return Err(CalendarError::UnknownKind {
                            line,
                            word: other.to_owned(),
                        })
                    }
                };
            }
        }
        if cal.covers.is_empty() {
            return Err(CalendarError::NoCoverage);
        }
        Ok(cal)
    }

    /// Whether the file is complete for `year`.
    pub fn covers(&self, year: i32) -> bool {
        self.covers.contains(&year)
    }

    /// From 1 October (the operator's day) the next year's decree is usually out: the year it
    /// would be time to add, if the file does not cover it yet.
    pub fn next_year_missing(&self, now: crate::Millis) -> Option<i32> {
        let today = self.zone.day_of(now);
        let next = today.year() + 1;
        (u8::from(today.month()) >= 10 && !self.covers(next)).then_some(next)
    }

    /// The first year from `from` to `to` (days of the operator) the file is not complete for.
    pub fn uncovered(&self, from: Date, to: Date) -> Option<i32> {
        (from.year()..=to.year()).find(|y| !self.covers(*y))
    }

    /// The same working days, counted in another zone (`[legal] timezone`; Moscow by default).
    pub fn in_zone(self, zone: LegalZone) -> Calendar {
        Calendar { zone, ..self }
    }

    /// The zone the operator's days are counted in.
    pub fn zone(&self) -> &LegalZone {
        &self.zone
    }

    pub fn is_working_day(&self, d: Date) -> bool {
        if self.working.contains(&d) {
            return true;
        }
        !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.off.contains(&d)
    }

    /// The `n`-th working day after `from` (the day of receipt does not count, as in the Labour
    /// Code's and 152-FZ's reckoning of periods).
    pub fn add_working_days(&self, from: Date, n: u32) -> Date {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn shipped_calendar_knows_the_holidays_and_transfers() {
        let c = Calendar::russia();
        // 2025: May holidays with the transferred 2 and 8 May; working Saturday 1 November.
        for d in [
            date!(2025 - 05 - 02),
            date!(2025 - 05 - 08),
            date!(2025 - 06 - 13),
        ] {
            assert!(!c.is_working_day(d), "{d}");
        }
        assert!(c.is_working_day(date!(2025 - 11 - 01)));
        assert!(!c.is_working_day(date!(2025 - 11 - 03)));
        // 2026: New Year holidays to 11 January, 9 March for 8 March on a Sunday.
        assert!(!c.is_working_day(date!(2026 - 01 - 09)));
        assert!(c.is_working_day(date!(2026 - 01 - 12)));
        assert!(!c.is_working_day(date!(2026 - 03 - 09)));
        assert!(c.is_working_day(date!(2026 - 11 - 23)));
        // 2027: statutory holidays moved off weekends by Art. 112.
        assert!(!c.is_working_day(date!(2027 - 05 - 03)));
        assert!(!c.is_working_day(date!(2027 - 06 - 14)));
    }

    #[test]
    fn working_days_skip_weekends_and_holidays() {
        let c = Calendar::russia();
        // Received Friday 25 April 2025: 28, 29, 30 April, 5, 6, 7, 12, 13, 14, 15 May.
        assert_eq!(
            c.add_working_days(date!(2025 - 04 - 25), 10),
            date!(2025 - 05 - 15)
        );
        // Received on a holiday: counting starts the next working day.
        assert_eq!(
            c.add_working_days(date!(2026 - 01 - 01), 1),
            date!(2026 - 01 - 12)
        );
        assert_eq!(
            c.add_working_days(date!(2026 - 11 - 23), 0),
            date!(2026 - 11 - 23)
        );
    }

    #[test]
    fn the_file_says_which_years_it_covers() {
        let c = Calendar::russia();
        assert!(c.covers(2025) && c.covers(2026));
        assert!(
            !c.covers(2027),
            "the 2027 transfer decree is not in the file"
        );
        assert_eq!(
            c.uncovered(date!(2026 - 12 - 20), date!(2027 - 01 - 15)),
            Some(2027)
        );
        assert_eq!(
            c.uncovered(date!(2026 - 01 - 20), date!(2026 - 02 - 15)),
            None
        );
        let own = Calendar::parse(
            "covers 2027
off 2027-01-11
",
        )
        .unwrap();
        assert!(own.covers(2027) && !own.is_working_day(date!(2027 - 01 - 11)));
        assert_eq!(
            Calendar::parse(
                "off 2027-01-11
"
            ),
            Err(CalendarError::NoCoverage)
        );
        assert!(matches!(
            Calendar::parse(
                "covers 27
"
            ),
            Err(CalendarError::NotAYear { line: 1, .. })
        ));
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        let weekend = Calendar::parse("off 2026-01-03\n").unwrap_err();
        assert!(matches!(
            weekend,
            CalendarError::WeekendOff {
                line: 1,
                weekday: Weekday::Saturday,
                ..
            }
        ));
        assert!(weekend.to_string().contains("only weekdays"));
        let weekday = Calendar::parse("# c\nworking 2026-01-05\n").unwrap_err();
        assert_eq!(
            weekday.to_string(),
            "line 2: 2026-01-05 is a weekday: list only weekend days under `working`"
        );
        assert!(matches!(
            Calendar::parse("holiday 2026-01-05\n"),
            Err(CalendarError::UnknownKind { line: 1, .. })
        ));
        assert!(matches!(
            Calendar::parse("off 2026-13-01\n"),
            Err(CalendarError::NotADate { line: 1, .. })
        ));
    }
}
