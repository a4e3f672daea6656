//! Checks QMP commands against the introspected schema of a real QEMU (`query-qmp-schema`).

use crate::qmp::Qmp;
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Schema {
    types: BTreeMap<String, Value>,
    commands: BTreeMap<String, Value>,
    /// `query-version` of the QEMU the schema came from.
    pub version: Value,
}

struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Schema {
    /// Starts `qemu-system-x86_64 -machine none` with a QMP socket in `dir` and reads its schema.
    pub fn from_qemu(dir: &Path) -> Result<Schema> {
        let sock = dir.join("schema.qmp");
        let child = Command::new("qemu-system-x86_64")
            .args([
                "-machine",
                "none",
                "-nodefaults",
                "-display",
                "none",
                "-qmp",
            ])
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("start qemu-system-x86_64")?;
        let _guard = Killer(child);
        let mut q = Qmp::connect(&sock, Duration::from_secs(20))?;
        q.call(&serde_json::json!({"execute": "qmp_capabilities"}))?;
        let version = q.call(&serde_json::json!({"execute": "query-version"}))?;
        let entities = q.call(&serde_json::json!({"execute": "query-qmp-schema"}))?;
        Ok(Schema::from_entities(&entities, version))
    }

    pub fn from_entities(entities: &Value, version: Value) -> Schema {
        let mut types = BTreeMap::new();
        let mut commands = BTreeMap::new();
        for e in entities.as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default().to_owned();
            if e["meta-type"] == "command" {
                commands.insert(name, e.clone());
            } else {
                types.insert(name, e.clone());
            }
        }
        Schema {
            types,
            commands,
            version,
        }
    }

    /// Every problem with one `{"execute": ..., "arguments": ...}` object.
    pub fn check_command(&self, cmd: &Value) -> Vec<String> {
        let name = cmd["execute"].as_str().unwrap_or_default();
        let Some(c) = self.commands.get(name) else {
            return vec![format!("command {name:?} does not exist")];
        };
        let mut errs = Vec::new();
        if c["features"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "deprecated"))
        {
            errs.push(format!("command {name:?} is deprecated"));
        }
        let args = cmd
            .get("arguments")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        let arg_type = c["arg-type"].as_str().unwrap_or_default();
        self.check_value(&args, arg_type, name, &mut errs);
        errs
    }

    /// Problems with `value` as an instance of the named type.
    pub fn check_type(&self, value: &Value, type_name: &str, at: &str) -> Vec<String> {
        let mut errs = Vec::new();
        self.check_value(value, type_name, at, &mut errs);
        errs
    }

    /// The arg-type of a command (for checking `-blockdev` JSON against `blockdev-add`).
    pub fn arg_type(&self, command: &str) -> Option<&str> {
        self.commands.get(command)?["arg-type"].as_str()
    }

    fn check_value(&self, v: &Value, ty: &str, at: &str, errs: &mut Vec<String>) {
        let Some(t) = self.types.get(ty) else {
            errs.push(format!("{at}: unknown type {ty}"));
            return;
        };
        match t["meta-type"].as_str() {
            Some("builtin") => {
                let ok = match t["json-type"].as_str() {
                    Some("string") => v.is_string(),
                    Some("int") => v.is_i64() || v.is_u64(),
                    Some("number") => v.is_number(),
                    Some("boolean") => v.is_boolean(),
                    Some("null") => v.is_null(),
                    Some("value") => true,
                    _ => false,
                };
                if !ok {
                    errs.push(format!("{at}: {v} is not a {}", t["json-type"]));
                }
            }
            Some("enum") => {
                let ok = t["values"]
                    .as_array()
                    .is_some_and(|vals| vals.iter().any(|x| x == v));
                if !ok {
                    errs.push(format!("{at}: {v} is not one of {}", t["values"]));
                }
            }
            Some("array") => match v.as_array() {
                Some(items) => {
                    let et = t["element-type"].as_str().unwrap_or_default();
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(item, et, &format!("{at}[{i}]"), errs);
                    }
                }
                None => errs.push(format!("{at}: {v} is not an array")),
            },
            Some("alternate") => {
                let ok = t["members"].as_array().into_iter().flatten().any(|m| {
                    let mut sub = Vec::new();
                    self.check_value(v, m["type"].as_str().unwrap_or_default(), at, &mut sub);
                    sub.is_empty()
                });
                if !ok {
                    errs.push(format!("{at}: {v} matches no branch of an alternate"));
                }
            }
            Some("object") => self.check_object(v, t, at, errs),
            other => errs.push(format!("{at}: unexpected meta-type {other:?}")),
        }
    }

    fn check_object(&self, v: &Value, t: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(obj) = v.as_object() else {
            errs.push(format!("{at}: {v} is not an object"));
            return;
        };
        let mut members: Vec<Value> = t["members"].as_array().cloned().unwrap_or_default();
        if let Some(tag) = t["tag"].as_str() {
            let case = obj.get(tag).cloned().unwrap_or(Value::Null);
            let variant = t["variants"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| x["case"] == case);
            if let Some(var) = variant {
                if let Some(vt) = self.types.get(var["type"].as_str().unwrap_or_default()) {
                    members.extend(vt["members"].as_array().cloned().unwrap_or_default());
                }
            }
        }
        for (k, val) in obj {
            match members.iter().find(|m| m["name"] == k.as_str()) {
                Some(m) => self.check_value(
                    val,
                    m["type"].as_str().unwrap_or_default(),
                    &format!("{at}.{k}"),
                    errs,
                ),
                None => errs.push(format!("{at}: no member {k:?}")),
            }
        }
        for m in &members {
            let name = m["name"].as_str().unwrap_or_default();
            if m.get("default").is_none() && !obj.contains_key(name) {
                errs.push(format!("{at}: required member {name:?} is missing"));
            }
        }
    }
}
