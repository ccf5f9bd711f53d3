//! Timestamps on the wire.

use berth_core::Timestamp;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

fn datetime(at: Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Linode's format: UTC, to the second, without a zone: `2024-05-01T12:00:00`.
pub(crate) fn linode(at: Timestamp) -> String {
    datetime(at)
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        .unwrap_or_else(|_| "1970-01-01T00:00:00".to_string())
}

/// RFC 3339 in UTC, as Exoscale writes it: `2024-05-01T12:00:00.123Z`.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    datetime(at).format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// A time in RFC 3339, as milliseconds since the epoch.
pub(crate) fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok().map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linode_times_have_no_zone_and_no_fraction() {
        assert_eq!(linode(Timestamp(1_714_564_800_123)), "2024-05-01T12:00:00");
    }

    #[test]
    fn exoscale_times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(Timestamp(1_714_564_800_123)), "2024-05-01T12:00:00.123Z");
    }
}
