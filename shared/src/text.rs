//! Checks on user-chosen names (configurations, templates, hosts, teams, tokens, users): what
//! the browser and the server both refuse, with the reason.
//!
//! A name is shown in lists and in the audit history, so it must display as what it is: no
//! control characters (Unicode category Cc: NUL, newline, tab, ...) and no format characters
//! (category Cf: the bidirectional overrides U+202A..U+202E and U+2066..U+2069, zero-width
//! characters, the soft hyphen, ...), which make `invoice-<U+202E>txt.exe` display as
//! `invoice-exe.txt`.

/// Unicode general category Cf (format), as of Unicode 15.1 (`DerivedGeneralCategory.txt`).
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is a format character (category Cf).
pub fn is_format(c: char) -> bool {
    let c = u32::from(c);
    FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Whether `c` must not appear in a name: category Cc or Cf.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_format(c)
}

/// Why `name` cannot be a `kind`'s name (at most `max` characters), if it cannot.
pub fn name_problem(kind: &str, name: &str, max: usize) -> Option<String> {
    if name.trim().is_empty() {
        return Some(format!("{kind} name is empty"));
    }
    let n = name.chars().count();
    if n > max {
        return Some(format!(
            "{kind} name is {n} characters long; at most {max} are allowed"
        ));
    }
    if let Some(c) = name.chars().find(|c| is_hidden(*c)) {
        let what = if c.is_control() {
            "a control character"
        } else {
            "an invisible format character (it can change how the name displays)"
        };
        return Some(format!(
            "{kind} name {name:?} contains U+{:04X}, {what}; names take printable characters only",
            u32::from(c)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_format_characters_are_refused_with_their_code_point() {
        for (name, says) in [
            ("invoice-\u{202E}txt.exe", "U+202E"),
            ("a\u{200F}b", "U+200F"),
            ("a\u{0}b", "U+0000"),
            ("tab\there", "U+0009"),
            ("new\nline", "U+000A"),
            ("zero\u{200B}width", "U+200B"),
            ("bom\u{FEFF}", "U+FEFF"),
            ("tag\u{E0041}", "U+E0041"),
        ] {
            let p = name_problem("token", name, 64).expect(name);
            assert!(p.contains(says), "{p}");
        }
    }

    #[test]
    fn printable_names_pass_and_limits_count_characters() {
        for name in ["vm1", "Datenbank Köln", "データベース", "a-b_c.d", "x ✓"] {
            assert_eq!(name_problem("configuration", name, 128), None, "{name}");
        }
        assert!(name_problem("team", "   ", 64).is_some());
        assert!(name_problem("team", &"é".repeat(65), 64).is_some());
        assert_eq!(name_problem("team", &"é".repeat(64), 64), None);
    }
}
