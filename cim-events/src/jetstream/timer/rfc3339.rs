//! RFC 3339 UTC times, the form `Nats-Schedule: @at …` takes: written here from
//! nanoseconds since the epoch, with no calendar dependency.

/// `nanos` nanoseconds after the Unix epoch as `YYYY-MM-DDTHH:MM:SS.fffffffffZ`. The
/// server parses it with Go's `time.RFC3339`, which accepts a fractional second.
pub(crate) fn format(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let fraction = nanos % 1_000_000_000;
    let (days, second_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:09}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn known_instants() {
        const S: u64 = 1_000_000_000;
        assert_eq!(format(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format(951_782_400 * S), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(
            format(951_868_799 * S + 1),
            "2000-02-29T23:59:59.000000001Z"
        );
        assert_eq!(format(1_709_251_199 * S), "2024-02-29T23:59:59.000000000Z");
        assert_eq!(format(4_107_542_400 * S), "2100-03-01T00:00:00.000000000Z");
        assert_eq!(
            format(1_764_633_600 * S + 5),
            "2025-12-02T00:00:00.000000005Z"
        );
        assert_eq!(format(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }
}
