//! Escaping for each output context: XML attributes and text, QEMU `key=value` options, shell
//! words. JSON is escaped by serde. Renderers never concatenate user data without one of these.

/// Escapes text for an XML attribute value or element content.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a value inside a QEMU option string: QemuOpts ends a value at ',' unless doubled.
pub fn qemu_value(s: &str) -> String {
    s.replace(',', ",,")
}

/// Quotes one shell word so `sh` passes it through unchanged.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '+' | '@')
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A QEMU option string (`driver,key=value,...`) with every value escaped.
#[derive(Debug, Clone)]
pub struct QemuOpts {
    s: String,
}

impl QemuOpts {
    /// Starts with a fixed driver or type name (never user data).
    pub fn new(head: &'static str) -> QemuOpts {
        QemuOpts { s: head.to_owned() }
    }

    /// Starts with the first key=value pair and no driver name.
    pub fn kv_first(key: &'static str, value: &str) -> QemuOpts {
        QemuOpts {
            s: format!("{key}={}", qemu_value(value)),
        }
    }

    pub fn kv(mut self, key: &str, value: &str) -> QemuOpts {
        self.s.push(',');
        self.s.push_str(key);
        self.s.push('=');
        self.s.push_str(&qemu_value(value));
        self
    }

    pub fn finish(self) -> String {
        self.s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_all_five() {
        assert_eq!(xml(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    }

    #[test]
    fn qemu_doubles_commas() {
        let o = QemuOpts::new("socket").kv("path", "/a,b=c").finish();
        assert_eq!(o, "socket,path=/a,,b=c");
    }

    #[test]
    fn shell_quotes_what_needs_it() {
        assert_eq!(shell_word("-m"), "-m");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("{\"a\":1}"), "'{\"a\":1}'");
    }
}
