//! Strict `xs:dateTime` for SAML instants.
//!
//! Accepted: `YYYY-MM-DDThh:mm:ss`, optional fraction (`.` and 1 to 12
//! digits, truncated to whole seconds), then `Z`, `+hh:mm` or `-hh:mm`. A
//! missing zone is read as UTC (SAML core 1.3.3 says instants are UTC).
//! Refused: signs, years outside 1..=9999, `24:00:00`, leap seconds, days a
//! month does not have, stray whitespace.

/// Seconds since the Unix epoch, or `None` when `s` is not a dateTime.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        let mut v: i64 = 0;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);

    let year = num(0, 4)?;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 12 {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&c @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            if !sep(i + 3, b':') {
                return None;
            }
            let om = num(i + 4, 2)?;
            if oh > 14 || om > 59 || (oh == 14 && om != 0) {
                return None;
            }
            i += 6;
            let o = oh * 3600 + om * 60;
            if c == b'+' {
                o
            } else {
                -o
            }
        }
        Some(_) => return None,
    };
    if i != b.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_datetime as p;

    #[test]
    fn accepts_common_forms() {
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2014-03-21T13:41:09Z"), Some(1_395_409_269));
        assert_eq!(p("2014-03-21T13:41:09.123Z"), Some(1_395_409_269));
        assert_eq!(p("2014-03-21T14:41:09+01:00"), Some(1_395_409_269));
        assert_eq!(p("2014-03-21T12:41:09-01:00"), Some(1_395_409_269));
        assert_eq!(p("2014-03-21T13:41:09"), Some(1_395_409_269));
        assert_eq!(p("2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(p("2993-09-22T19:01:09Z"), Some(32_305_719_669));
    }

    #[test]
    fn refuses_garbage() {
        for s in [
            "",
            "2014-03-21",
            "2014-03-21 13:41:09Z",
            "2014-13-21T13:41:09Z",
            "2014-02-30T13:41:09Z",
            "2013-02-29T00:00:00Z",
            "2014-03-21T24:00:00Z",
            "2014-03-21T13:60:09Z",
            "2014-03-21T13:41:60Z",
            "2014-03-21T13:41:09.Z",
            "2014-03-21T13:41:09ZZ",
            "2014-03-21T13:41:09+1:00",
            "2014-03-21T13:41:09+15:00",
            "-2014-03-21T13:41:09Z",
            "0000-03-21T13:41:09Z",
            " 2014-03-21T13:41:09Z",
            "2014-03-21T13:41:09Z ",
            "２014-03-21T13:41:09Z",
        ] {
            assert_eq!(p(s), None, "{s:?}");
        }
    }
}
