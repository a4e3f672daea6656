//! JSON text of serde values through one path: a value is first made a `serde_json::Value`,
//! which is then printed. With serde_json's `preserve_order` the text is byte for byte what
//! serializing directly gives (the golden files check it), and each type needs one serializer
//! (into `Value`) instead of one per output form (compact, pretty, `Value`): in the browser's
//! WebAssembly that is code the page does not download.
//!
//! Reading is the same the other way round: text becomes a `Value` first, and each type has
//! one reader (from `&Value`). The configuration document is the exception: it is read
//! straight from its text ([`crate::Document::from_json`]) so that its errors keep their line
//! and column, and nothing reads it from a `Value`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Compact JSON, or the error that made the value unserializable (a map with non-string keys).
pub fn try_compact<T: Serialize + ?Sized>(v: &T) -> Result<String, serde_json::Error> {
    serde_json::to_value(v).and_then(|v| serde_json::to_string(&v))
}

/// Compact JSON (empty when the value cannot be serialized).
pub fn compact<T: Serialize + ?Sized>(v: &T) -> String {
    try_compact(v).unwrap_or_default()
}

/// Pretty JSON, two-space indented (empty when the value cannot be serialized).
pub fn pretty<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_value(v)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

/// Reads JSON text as `T` through one `serde_json::Value` (the position of an error in the
/// text is lost past the syntax: API answers and events, not documents a person edits).
pub fn read<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    T::deserialize(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn the_text_is_what_direct_serialization_gives() {
        #[derive(Serialize)]
        struct S {
            z: u32,
            a: f64,
            list: Vec<&'static str>,
            #[serde(flatten)]
            more: Value,
        }
        let s = S {
            z: 1,
            a: 80.0,
            list: vec!["x", "y"],
            more: json!({"b": true, "a2": null}),
        };
        assert_eq!(compact(&s), serde_json::to_string(&s).expect("direct"));
        assert_eq!(
            pretty(&s),
            serde_json::to_string_pretty(&s).expect("direct")
        );
    }
}
