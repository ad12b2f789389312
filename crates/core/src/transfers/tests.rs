use super::*;

fn at(s: &str) -> Millis {
    crate::parse_time(s).unwrap()
}

fn note(country: &str, purpose: &str, filed: &str, withdrawn: Option<&str>) -> NotificationRow {
    NotificationRow {
        id: format!("n-{country}-{purpose}"),
        country: country.into(),
        purpose: purpose.into(),
        filed_at: at(filed),
        // Received the moment it was filed, unless a test says otherwise.
        received_at: Some(at(filed)),
        reference: None,
        recorded_by: "dpo".into(),
        recorded_at: at(filed),
        withdrawn_at: withdrawn.map(at),
    }
}

fn decide_at(
    notes: &[NotificationRow],
    country: &str,
    purpose: &str,
    now: &str,
) -> Result<(), Refusal> {
    decide(
        country,
        purpose,
        notes,
        &Adequacy::shipped(),
        &Calendar::russia(),
        at(now),
    )
}

#[test]
fn shipped_list_has_convention_108_parties_and_the_rkn_list_only() {
    let a = Adequacy::shipped();
    for c in ["DE", "FR", "GB", "CH", "AR", "UY", "MX", "de"] {
        assert!(a.contains(c), "{c} is a Convention 108 party");
    }
    for c in ["KZ", "JP", "CA", "SG", "IL", "KR"] {
        assert!(a.contains(c), "{c} is on the Roskomnadzor list");
    }
    for c in ["US", "CN", "IN", "AE", "BR"] {
        assert!(!a.contains(c), "{c} is not adequate");
    }
}

#[test]
fn adequacy_list_errors_name_the_line() {
    assert_eq!(
        Adequacy::parse("DE\n# x\nGermany\n")
            .unwrap_err()
            .to_string(),
        "line 3: `Germany` is not an ISO 3166-1 alpha-2 code"
    );
    assert!(Adequacy::parse("de # Germany\n").unwrap().contains("DE"));
}

#[test]
fn domestic_transfers_need_nothing() {
    assert_eq!(
        decide_at(&[], "RU", "marketing", "2026-05-01T00:00:00Z"),
        Ok(())
    );
    assert_eq!(
        decide_at(&[], "ru", "marketing", "2026-05-01T00:00:00Z"),
        Ok(())
    );
}

#[test]
fn a_foreign_country_without_a_notification_is_refused() {
    let notes = [note("DE", "order_fulfilment", "2026-04-29T10:00:00Z", None)];
    assert_eq!(
        decide_at(&notes, "DE", "marketing", "2026-06-01T00:00:00Z"),
        Err(Refusal::NotNotified),
        "a notification covers its purpose only"
    );
    assert_eq!(
        decide_at(&notes, "FR", "order_fulfilment", "2026-06-01T00:00:00Z"),
        Err(Refusal::NotNotified),
        "and its country only"
    );
}

#[test]
fn an_adequate_country_is_allowed_from_filing() {
    let notes = [note("DE", "marketing", "2026-04-29T10:00:00Z", None)];
    assert_eq!(
        decide_at(&notes, "DE", "marketing", "2026-04-29T09:59:59Z"),
        Err(Refusal::Waiting {
            allowed_from: at("2026-04-29T10:00:00Z")
        }),
        "not before it was filed"
    );
    assert_eq!(
        decide_at(&notes, "de", "marketing", "2026-04-29T10:00:00Z"),
        Ok(())
    );
}

#[test]
fn a_non_adequate_country_waits_ten_working_days_across_the_may_holidays() {
    // Filed Wed 29 April 2026. Working days after it: 30 Apr (1); 1 May is a holiday; 4–8 May
    // (2–6); 11 May is the transferred Victory Day holiday; 12–15 May (7–10). The wait ends at
    // 24:00 Moscow time on 15 May, 21:00 UTC.
    let notes = [note("US", "marketing", "2026-04-29T10:00:00Z", None)];
    let open = at("2026-05-15T21:00:00Z");
    assert_eq!(
        decide_at(&notes, "US", "marketing", "2026-05-15T20:59:59Z"),
        Err(Refusal::Waiting { allowed_from: open })
    );
    assert_eq!(
        decide_at(&notes, "US", "marketing", "2026-05-15T21:00:00Z"),
        Ok(())
    );
    // Filed at 01:30 Moscow time on Thursday 30 April (still 29 April in UTC): counted from the
    // 30th, so the tenth working day is 18 May.
    let late = [note("US", "marketing", "2026-04-29T22:30:00Z", None)];
    assert_eq!(
        decide_at(&late, "US", "marketing", "2026-05-16T00:00:00Z"),
        Err(Refusal::Waiting {
            allowed_from: at("2026-05-18T21:00:00Z")
        })
    );
}

#[test]
fn the_wait_runs_from_roskomnadzors_receipt_recorded_or_assumed() {
    // Filed Wed 22 April 2026, receipt not recorded: assumed 7 calendar days later, Wed 29 April,
    // so the wait ends as in the test above, at 24:00 Moscow time on 15 May.
    let mut n = note("US", "marketing", "2026-04-22T10:00:00Z", None);
    n.received_at = None;
    assert_eq!(
        decide_at(
            std::slice::from_ref(&n),
            "US",
            "marketing",
            "2026-05-15T20:59:59Z"
        ),
        Err(Refusal::Waiting {
            allowed_from: at("2026-05-15T21:00:00Z")
        })
    );
    // `[transfers] delivery_days = 0`: from the filing day, the tenth working day is 7 May.
    let same_day = Adequacy::shipped().with_delivery_days(0);
    let cal = Calendar::russia();
    let now = at("2026-05-07T00:00:00Z");
    assert_eq!(
        decide(
            "US",
            "marketing",
            std::slice::from_ref(&n),
            &same_day,
            &cal,
            now
        ),
        Err(Refusal::Waiting {
            allowed_from: at("2026-05-07T21:00:00Z")
        })
    );
    // Recorded as received at 23:30 Moscow time on Thursday 23 April (20:30 UTC): the operator's
    // day is the 23rd, and ten working days after it end on 8 May (1 May is a holiday).
    n.received_at = Some(at("2026-04-23T20:30:00Z"));
    assert_eq!(
        decide_at(
            std::slice::from_ref(&n),
            "US",
            "marketing",
            "2026-05-08T20:59:59Z"
        ),
        Err(Refusal::Waiting {
            allowed_from: at("2026-05-08T21:00:00Z")
        })
    );
    assert_eq!(
        decide_at(&[n], "US", "marketing", "2026-05-08T21:00:00Z"),
        Ok(())
    );
}

#[test]
fn a_withdrawn_notification_stops_transfers_from_its_withdrawal() {
    let notes = [note(
        "DE",
        "marketing",
        "2026-04-01T00:00:00Z",
        Some("2026-05-01T00:00:00Z"),
    )];
    assert_eq!(
        decide_at(&notes, "DE", "marketing", "2026-04-30T00:00:00Z"),
        Ok(())
    );
    assert_eq!(
        decide_at(&notes, "DE", "marketing", "2026-05-01T00:00:00Z"),
        Err(Refusal::NotNotified)
    );
}

#[test]
fn the_cache_fails_closed_when_it_was_never_read_or_has_gone_stale() {
    let t = Notified::new(Adequacy::shipped(), Arc::new(Calendar::russia()));
    let now = at("2026-06-01T00:00:00Z");
    assert_eq!(
        t.check("RU", "marketing", now),
        Ok(()),
        "domestic needs no cache"
    );
    assert_eq!(t.check("DE", "marketing", now), Err(Refusal::Unverified));
    assert!(t.stale(now), "never read: readiness says so");
    t.set(
        vec![note("DE", "marketing", "2026-04-01T00:00:00Z", None)],
        now,
    );
    assert_eq!(t.check("DE", "marketing", now + STALE_AFTER_MS), Ok(()));
    assert!(!t.stale(now + STALE_AFTER_MS));
    assert_eq!(
        t.check("DE", "marketing", now + STALE_AFTER_MS + 1),
        Err(Refusal::Unverified)
    );
    assert!(t.stale(now + STALE_AFTER_MS + 1));
}

#[test]
fn a_wait_into_a_year_the_calendar_does_not_cover_is_not_over() {
    let notes = [note("US", "marketing", "2026-12-21T10:00:00Z", None)];
    let now = "2027-03-01T00:00:00Z";
    assert_eq!(
        decide_at(&notes, "US", "marketing", now),
        Err(Refusal::CalendarUncovered { year: 2027 })
    );
    let covered = Calendar::parse("covers 2026 2027\noff 2026-12-31 2027-01-01\n").unwrap();
    let ok = decide(
        "US",
        "marketing",
        &notes,
        &Adequacy::shipped(),
        &covered,
        at(now),
    );
    assert_eq!(ok, Ok(()));
    // An adequate country needs no count of days.
    let de = [note("DE", "marketing", "2026-12-21T10:00:00Z", None)];
    assert_eq!(decide_at(&de, "DE", "marketing", now), Ok(()));
}
