//! Flag values with units: retention ages (`7d`, `36h`, `90m`) and sizes (`10GiB`, `500MB`).

use std::time::Duration;

/// A duration: a whole number with `s`, `m`, `h`, `d` or `w`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age such as 7d, 36h or 90m"))?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    n.checked_mul(unit_s)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} must be more than zero and less than centuries"))
}

/// A size in bytes: a whole number with an optional unit `B`, `KB`, `MB`, `GB`, `TB` (powers of
/// 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 10GiB or 500MB"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    n.checked_mul(factor)
        .filter(|b| *b > 0)
        .ok_or_else(|| format!("{text:?} must be more than zero and fit in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_whole_numbers_with_a_unit() {
        let table = [
            ("7d", 604_800),
            ("36h", 129_600),
            ("90m", 5_400),
            ("2w", 1_209_600),
        ];
        for (text, secs) in table {
            assert_eq!(parse_age(text), Ok(Duration::from_secs(secs)), "{text}");
        }
        for bad in ["7", "0d", "d", "1.5d", "7y", ""] {
            assert!(parse_age(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        let table = [
            ("10GiB", 10 << 30),
            ("500MB", 500_000_000),
            ("4096", 4096),
            ("1 KiB", 1024),
        ];
        for (text, bytes) in table {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["0", "10XB", "GiB", "99999999999TiB"] {
            assert!(parse_size(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
