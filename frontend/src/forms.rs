//! What the form fields accept: sizes with units and bounded numbers, read from what a person
//! types, with a message that says what is wrong. Plain functions, tested natively.

use lockstep_shared::wizard::parse_size;

/// A size as people write it: `10G`, `10 GiB`, `512MiB`, `1.5`-free byte counts.
pub fn size(text: &str) -> Result<u64, String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .unwrap_or(&t);
    if t.is_empty() {
        return Err("enter a size such as 10 GiB".to_owned());
    }
    parse_size(t).map_err(|_| {
        format!("\"{}\" is not a size: write a whole number with K, M, G or T (binary units), e.g. 10 GiB", text.trim())
    })
}

/// A whole number from `min` to `max` (decimal, or hex with 0x).
pub fn number(text: &str, min: u64, max: u64) -> Result<u64, String> {
    let t = text.trim();
    let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>(),
    }
    .map_err(|_| format!("\"{t}\" is not a whole number"))?;
    if n < min || n > max {
        return Err(format!("{n} is out of range: use {min} to {max}"));
    }
    Ok(n)
}

/// Text that must not be empty.
pub fn required(text: &str, what: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        Err(format!("{what} must not be empty"))
    } else {
        Ok(t.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units_people_write() {
        assert_eq!(size("10G"), Ok(10 << 30));
        assert_eq!(size("10 GiB"), Ok(10 << 30));
        assert_eq!(size(" 512 MiB "), Ok(512 << 20));
        assert_eq!(size("4096"), Ok(4096));
        assert!(size("").is_err());
        assert!(size("ten").is_err_and(|e| e.contains("not a size")));
        assert!(size("0").is_err());
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(number("0x1f", 0, 31), Ok(31));
        assert_eq!(number("7", 1, 10), Ok(7));
        assert_eq!(
            number("0", 1, 10),
            Err("0 is out of range: use 1 to 10".into())
        );
        assert!(number("x", 0, 1).is_err());
    }
}
