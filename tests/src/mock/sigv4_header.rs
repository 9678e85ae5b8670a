//! Reading an AWS SigV4 `Authorization` header and its `x-amz-date`, so the mock
//! can recompute the signature over what arrived.

/// `AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=<a;b;c>, Signature=<hex>`, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

pub(super) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// `None` when the value is not a well-formed SigV4 authorization.
pub(super) fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, val) = part.trim().split_once('=')?;
        match key {
            "Credential" => credential = Some(val),
            "SignedHeaders" => signed_headers = Some(val),
            "Signature" => signature = Some(val),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let access_key_id = scope.next().filter(|s| !s.is_empty())?;
    let date = scope.next().filter(|s| s.len() == 8)?;
    let region = scope.next().filter(|s| !s.is_empty())?;
    let service = scope.next().filter(|s| !s.is_empty())?;
    if scope.next() != Some("aws4_request") || scope.next().is_some() {
        return None;
    }
    let signed_headers: Vec<&str> = signed_headers?.split(';').collect();
    if signed_headers.iter().any(|h| h.is_empty()) {
        return None;
    }
    let signature =
        signature.filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))?;
    Some(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// `YYYYMMDD'T'HHMMSS'Z'` → seconds since the Unix epoch.
pub(super) fn parse_amz_date(value: &str) -> Option<u64> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = value.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + hour * 3_600 + minute * 60 + second).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    #[test]
    fn authorization_headers() {
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={SIG}"
        );
        assert_eq!(
            parse_authorization(&good),
            Some(Authorization {
                access_key_id: "AKIDEXAMPLE",
                date: "20150830",
                region: "us-east-1",
                service: "bedrock",
                signed_headers: vec!["content-type", "host", "x-amz-date"],
                signature: SIG,
            })
        );
        let no_spaces = good.replace(", ", ",");
        assert!(parse_authorization(&no_spaces).is_some());
        let bad = [
            good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            good.replace("/aws4_request", "/aws5_request"),
            good.replace("/20150830/", "/2015083/"),
            good.replace(
                "SignedHeaders=content-type;host;x-amz-date",
                "SignedHeaders=host;;x-amz-date",
            ),
            good.replace(SIG, "xyz"),
            good.replace(&format!(", Signature={SIG}"), ""),
            good.replace("Credential=AKIDEXAMPLE/", "Credential=/"),
            format!("{good}, Extra=1"),
            "Bearer abc".to_owned(),
        ];
        for value in bad {
            assert_eq!(parse_authorization(&value), None, "{value}");
        }
    }

    #[test]
    fn amz_dates() {
        let cases: Vec<(&str, Option<u64>)> = vec![
            ("19700101T000000Z", Some(0)),
            ("20150830T123600Z", Some(1_440_938_160)),
            ("20000229T235959Z", Some(951_868_799)),
            ("20240101T000000Z", Some(1_704_067_200)),
            ("20240101T000000", None),
            ("2024-01-01T00:00:00Z", None),
            ("20241301T000000Z", None),
            ("20240101T250000Z", None),
            ("2024010aT000000Z", None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_amz_date(value), want, "{value}");
        }
    }
}
