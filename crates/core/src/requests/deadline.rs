//! When a subject request is due (SPEC 7): 152-FZ counts working days (or, for destruction after
//! a withdrawal, calendar days), GDPR a calendar month; with both regimes the earlier time wins.
//! One extension is allowed — 152-FZ +5 working days where the law provides it, GDPR +2 months —
//! and only before the original due time. Days are the operator's (`Calendar::zone`): a request
//! received at 01:30 Moscow time was received that day, and its last day ends at 24:00 there.

use super::calendar::Calendar;
use crate::Millis;

pub use crate::records::rights::{Regimes, RequestType};

/// The 152-FZ period for a type: `(working days, extension in working days)`, or calendar days.
enum Fz152Period {
    WorkingDays { days: u32, extension: u32 },
    CalendarDays(i64),
}

fn fz152_period(t: RequestType) -> Fz152Period {
    match t {
        // Art. 14 and 20: information and access, 10 working days, +5 with a reasoned notice.
        RequestType::Access | RequestType::Portability => Fz152Period::WorkingDays {
            days: 10,
            extension: 5,
        },
        // Art. 20(3): rectify incomplete or inaccurate data (also 21(2)), or destroy data unlawfully
        // obtained or not needed for the purpose, within 7 working days.
        RequestType::Rectification | RequestType::Erasure => Fz152Period::WorkingDays {
            days: 7,
            extension: 0,
        },
        // Art. 21(5.1): stop processing on the subject's demand within 10 working days, +5.
        RequestType::Restriction | RequestType::Objection => Fz152Period::WorkingDays {
            days: 10,
            extension: 5,
        },
        // Art. 21(5): destruction after consent is withdrawn, 30 days.
        RequestType::WithdrawConsent => Fz152Period::CalendarDays(30),
    }
}

fn fz152_due(t: RequestType, received: Millis, cal: &Calendar, extended: bool) -> Millis {
    let zone = cal.zone();
    let day = zone.day_of(received);
    match fz152_period(t) {
        Fz152Period::WorkingDays { days, extension } => {
            let n = days + if extended { extension } else { 0 };
            zone.end_of(cal.add_working_days(day, n))
        }
        Fz152Period::CalendarDays(n) => zone.end_of(day + time::Duration::days(n)),
    }
}

/// GDPR Art. 12(3): one month from receipt, on the operator's calendar; extended "by two further
/// months", read the way that cannot be later than either reading: the earlier of receipt + 3
/// months and the original due time + 2 (they differ after a short month: 31 January is due
/// 28 February, + 2 months is 28 April, not 30 April).
fn gdpr_due(received: Millis, cal: &Calendar, extended: bool) -> Millis {
    let zone = cal.zone();
    let due = zone.add_months(received, 1);
    match extended {
        false => due,
        true => zone.add_months(received, 3).min(zone.add_months(due, 2)),
    }
}

/// The due time of a request received at `received`.
pub fn due(t: RequestType, regime: Regimes, received: Millis, cal: &Calendar) -> Millis {
    match regime {
        Regimes::Fz152 => fz152_due(t, received, cal, false),
        Regimes::Gdpr => gdpr_due(received, cal, false),
        Regimes::Both => fz152_due(t, received, cal, false).min(gdpr_due(received, cal, false)),
    }
}

/// Whether a request's period was counted on years the calendar is complete for: a 152-FZ period
/// in working days that runs into a year the file does not cover may end later than computed
/// (a transfer decree adds days off), so it is shown as `calendar_unverified`. GDPR months and
/// calendar days do not depend on the calendar.
pub fn calendar_verified(
    t: RequestType,
    regime: Regimes,
    received: Millis,
    due: Millis,
    cal: &Calendar,
) -> bool {
    let in_working_days = matches!(fz152_period(t), Fz152Period::WorkingDays { .. });
    if regime == Regimes::Gdpr || !in_working_days {
        return true;
    }
    let zone = cal.zone();
    cal.uncovered(zone.day_of(received), zone.day_of(due))
        .is_none()
}

/// Why an extension is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExtension {
    /// 152-FZ provides none for this type (and it is the binding regime).
    NotProvided,
    /// The original due time has passed.
    TooLate,
}

/// The due time after the one extension, asked at `now`.
pub fn extended_due(
    t: RequestType,
    regime: Regimes,
    received: Millis,
    now: Millis,
    cal: &Calendar,
) -> Result<Millis, NoExtension> {
    if now > due(t, regime, received, cal) {
        return Err(NoExtension::TooLate);
    }
    let fz_extendable = matches!(
        fz152_period(t),
        Fz152Period::WorkingDays { extension, .. } if extension > 0
    );
    match regime {
        Regimes::Gdpr => Ok(gdpr_due(received, cal, true)),
        Regimes::Fz152 | Regimes::Both if !fz_extendable => Err(NoExtension::NotProvided),
        Regimes::Fz152 => Ok(fz152_due(t, received, cal, true)),
        Regimes::Both => Ok(fz152_due(t, received, cal, true).min(gdpr_due(received, cal, true))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::OffsetDateTime;

    fn ms(t: OffsetDateTime) -> Millis {
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
    }

    #[test]
    fn fz152_access_is_ten_working_days_and_five_more() {
        let cal = Calendar::russia();
        let received = ms(datetime!(2025-04-25 15:00 UTC));
        let d = due(RequestType::Access, Regimes::Fz152, received, &cal);
        assert_eq!(d, ms(datetime!(2025-05-15 23:59:59.999 +03:00)));
        let e = extended_due(
            RequestType::Access,
            Regimes::Fz152,
            received,
            received,
            &cal,
        )
        .unwrap();
        // +5 working days: 16, 19, 20, 21, 22 May.
        assert_eq!(e, ms(datetime!(2025-05-22 23:59:59.999 +03:00)));
        assert_eq!(
            extended_due(RequestType::Access, Regimes::Fz152, received, d + 1, &cal),
            Err(NoExtension::TooLate)
        );
    }

    #[test]
    fn days_are_the_operators() {
        let cal = Calendar::russia();
        // 01:30 on Wednesday 9 December in Moscow, still Tuesday in UTC: received on Wednesday;
        // ten working days later is Wednesday 23 December, which ends at 24:00 Moscow time.
        let received = ms(datetime!(2026-12-08 22:30 UTC));
        assert_eq!(
            due(RequestType::Access, Regimes::Fz152, received, &cal),
            ms(datetime!(2026-12-23 21:00 UTC)) - 1
        );
        // The same request for an operator counting in UTC was received on Tuesday.
        let utc = cal
            .clone()
            .in_zone(crate::legal_day::LegalZone::named("UTC").unwrap());
        assert_eq!(
            due(RequestType::Access, Regimes::Fz152, received, &utc),
            ms(datetime!(2026-12-23 00:00 UTC)) - 1
        );
    }

    #[test]
    fn periods_past_the_calendar_are_unverified() {
        let cal = Calendar::russia();
        let december = ms(datetime!(2026-12-21 10:00 UTC));
        let due = due(RequestType::Access, Regimes::Fz152, december, &cal);
        let verified = |t, regime| calendar_verified(t, regime, december, due, &cal);
        assert!(
            !verified(RequestType::Access, Regimes::Fz152),
            "ends in 2027"
        );
        assert!(!verified(RequestType::Access, Regimes::Both));
        assert!(
            verified(RequestType::Access, Regimes::Gdpr),
            "a month is a month"
        );
        assert!(
            verified(RequestType::WithdrawConsent, Regimes::Fz152),
            "calendar days"
        );
        let november = ms(datetime!(2026-11-02 10:00 UTC));
        let early = super::due(RequestType::Access, Regimes::Fz152, november, &cal);
        assert!(calendar_verified(
            RequestType::Access,
            Regimes::Fz152,
            november,
            early,
            &cal
        ));
    }

    #[test]
    fn the_stricter_regime_wins_and_gdpr_counts_months() {
        let cal = Calendar::russia();
        let received = ms(datetime!(2026-01-30 10:00 UTC));
        assert_eq!(
            due(RequestType::Access, Regimes::Gdpr, received, &cal),
            ms(datetime!(2026-02-28 10:00 UTC)),
            "one month, clamped to the month's end"
        );
        let both = due(RequestType::Access, Regimes::Both, received, &cal);
        assert_eq!(
            both,
            due(RequestType::Access, Regimes::Fz152, received, &cal)
        );
        assert_eq!(both, ms(datetime!(2026-02-13 23:59:59.999 +03:00)));
        // GDPR alone extends by two months from the original due time (28 February + 2 months,
        // earlier than 30 January + 3); under both regimes the 152-FZ +5 binds.
        assert_eq!(
            extended_due(RequestType::Access, Regimes::Gdpr, received, received, &cal),
            Ok(ms(datetime!(2026-04-28 10:00 UTC)))
        );
        assert_eq!(
            extended_due(RequestType::Access, Regimes::Both, received, received, &cal),
            Ok(ms(datetime!(2026-02-20 23:59:59.999 +03:00)))
        );
    }

    #[test]
    fn the_gdpr_extension_is_read_conservatively() {
        let cal = Calendar::russia();
        // 31 January 12:00 Moscow: due 28 February; extended to 28 April, not 30 April.
        let received = ms(datetime!(2027-01-31 09:00 UTC));
        assert_eq!(
            due(RequestType::Access, Regimes::Gdpr, received, &cal),
            ms(datetime!(2027-02-28 09:00 UTC))
        );
        assert_eq!(
            extended_due(RequestType::Access, Regimes::Gdpr, received, received, &cal),
            Ok(ms(datetime!(2027-04-28 09:00 UTC)))
        );
    }

    #[test]
    fn rectification_withdrawal_and_objection_periods() {
        let cal = Calendar::russia();
        let received = ms(datetime!(2026-11-23 09:00 UTC));
        assert_eq!(
            due(RequestType::Rectification, Regimes::Fz152, received, &cal),
            ms(datetime!(2026-12-02 23:59:59.999 +03:00))
        );
        assert_eq!(
            extended_due(
                RequestType::Rectification,
                Regimes::Fz152,
                received,
                received,
                &cal
            ),
            Err(NoExtension::NotProvided)
        );
        assert_eq!(
            due(RequestType::WithdrawConsent, Regimes::Fz152, received, &cal),
            ms(datetime!(2026-12-23 23:59:59.999 +03:00))
        );
        assert_eq!(
            due(RequestType::Objection, Regimes::Fz152, received, &cal),
            ms(datetime!(2026-12-07 23:59:59.999 +03:00))
        );
    }
}
