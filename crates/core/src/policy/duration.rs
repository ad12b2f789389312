//! ISO 8601 durations (`P3Y`, `P1Y6M`, `P30D`, `PT12H`) as retention periods.

use std::fmt;

/// Why a text is not an ISO 8601 duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("an ISO 8601 duration starts with P, e.g. P3Y, P6M, P30D")]
    NoP,
    #[error("unit `{0}` is not a date unit (Y, M, W, D)")]
    NotADateUnit(char),
    #[error("unit `{0}` is not a time unit (H, M, S)")]
    NotATimeUnit(char),
    #[error("nothing after T")]
    NothingAfterT,
    #[error("the duration is empty")]
    Empty,
    #[error("expected a number before `{0}`")]
    NoNumber(char),
    #[error("number `{0}` has no unit")]
    NoUnit(String),
}

/// A calendar duration; years and months stay calendar units until applied to a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub days: u32,
    pub seconds: u64,
}

impl IsoDuration {
    pub fn parse(s: &str) -> Result<Self, DurationError> {
        let body = s.strip_prefix('P').ok_or(DurationError::NoP)?;
        let (date, time) = match body.split_once('T') {
            Some((d, t)) => (d, Some(t)),
            None => (body, None),
        };
        let mut d = IsoDuration::default();
        let mut any = false;
        for (n, unit) in units(date)? {
            any = true;
            match unit {
                'Y' => d.years = n,
                'M' => d.months = n,
                'W' => d.days += n * 7,
                'D' => d.days += n,
                u => return Err(DurationError::NotADateUnit(u)),
            }
        }
        if let Some(t) = time {
            if t.is_empty() {
                return Err(DurationError::NothingAfterT);
            }
            for (n, unit) in units(t)? {
                any = true;
                d.seconds += u64::from(n)
                    * match unit {
                        'H' => 3600,
                        'M' => 60,
                        'S' => 1,
                        u => return Err(DurationError::NotATimeUnit(u)),
                    };
            }
        }
        if !any {
            return Err(DurationError::Empty);
        }
        Ok(d)
    }

    /// The instant this long after `from` (UTC, calendar months clamped to the month's last day:
    /// 31 Jan + P1M is 28/29 Feb). Saturates instead of overflowing.
    pub fn after(&self, from: crate::Millis) -> crate::Millis {
        use time::{Date, Duration, Month, OffsetDateTime};
        let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(from) * 1_000_000) else {
            return crate::Millis::MAX;
        };
        let months = i64::from(t.year()) * 12
            + i64::from(u8::from(t.month()) - 1)
            + i64::from(self.years) * 12
            + i64::from(self.months);
        let Ok(year) = i32::try_from(months.div_euclid(12)) else {
            return crate::Millis::MAX;
        };
        let Ok(month) = Month::try_from(u8::try_from(months.rem_euclid(12) + 1).unwrap_or(1))
        else {
            return crate::Millis::MAX;
        };
        let Ok(date) = Date::from_calendar_date(year, month, t.day().min(month.length(year)))
        else {
            return crate::Millis::MAX;
        };
        let end = date.with_time(t.time()).assume_utc()
            + Duration::days(i64::from(self.days))
            + Duration::seconds(i64::try_from(self.seconds).unwrap_or(i64::MAX / 2));
        i64::try_from(end.unix_timestamp_nanos() / 1_000_000).unwrap_or(crate::Millis::MAX)
    }
}

fn units(s: &str) -> Result<Vec<(u32, char)>, DurationError> {
    let mut out = Vec::new();
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n = num.parse::<u32>().map_err(|_| DurationError::NoNumber(c))?;
            out.push((n, c));
            num.clear();
        }
    }
    if !num.is_empty() {
        return Err(DurationError::NoUnit(num));
    }
    Ok(out)
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P")?;
        if self.years > 0 {
            write!(f, "{}Y", self.years)?;
        }
        if self.months > 0 {
            write!(f, "{}M", self.months)?;
        }
        if self.days > 0 {
            write!(f, "{}D", self.days)?;
        }
        if self.seconds > 0 {
            write!(f, "T{}S", self.seconds)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_duration_says_why() {
        for (text, why) in [
            ("3Y", DurationError::NoP),
            ("P3H", DurationError::NotADateUnit('H')),
            ("PT3D", DurationError::NotATimeUnit('D')),
            ("P1YT", DurationError::NothingAfterT),
            ("P", DurationError::Empty),
            ("PY", DurationError::NoNumber('Y')),
            ("P30", DurationError::NoUnit("30".into())),
        ] {
            assert_eq!(IsoDuration::parse(text), Err(why), "{text}");
        }
        assert_eq!(
            DurationError::NotADateUnit('H').to_string(),
            "unit `H` is not a date unit (Y, M, W, D)"
        );
    }

    #[test]
    fn parses() {
        assert_eq!(
            IsoDuration::parse("P3Y").unwrap(),
            IsoDuration {
                years: 3,
                ..Default::default()
            }
        );
        assert_eq!(
            IsoDuration::parse("P1Y6M2W1D").unwrap(),
            IsoDuration {
                years: 1,
                months: 6,
                days: 15,
                seconds: 0
            }
        );
        assert_eq!(IsoDuration::parse("PT1H30M").unwrap().seconds, 5400);
        for bad in ["3Y", "P", "PT", "P3", "P3X", "PT3D", "P-1Y"] {
            assert!(IsoDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn adds_calendar_units() {
        let ms = |y, m, d| {
            time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d)
                .unwrap()
                .midnight()
                .assume_utc()
                .unix_timestamp()
                * 1000
        };
        let p = |s| IsoDuration::parse(s).unwrap();
        assert_eq!(p("P1M").after(ms(2025, 1, 31)), ms(2025, 2, 28));
        assert_eq!(p("P1M").after(ms(2024, 1, 31)), ms(2024, 2, 29));
        assert_eq!(p("P3Y").after(ms(2024, 2, 29)), ms(2027, 2, 28));
        assert_eq!(p("P1Y2M3D").after(ms(2025, 11, 30)), ms(2027, 2, 2));
        assert_eq!(p("PT2S").after(1_000), 3_000);
        assert_eq!(p("P1Y").after(i64::MAX), i64::MAX);
    }
}
