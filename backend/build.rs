//! Embeds the built browser app (`dist/`, made by `scripts/lib.sh build_frontend`) into the
//! `lockstep` binary, so `lockstep serve` serves it from anywhere. Without `dist/` the binary
//! has no app and `serve` asks for `--static-dir`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut out = String::from("&[\n");
    let mut names: Vec<String> = std::fs::read_dir(&dist)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.ends_with(".gz") && !n.ends_with(".br"))
        .collect();
    names.sort();
    for name in names {
        let path = dist.join(&name);
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = |suffix: &str| {
            let p = dist.join(format!("{name}{suffix}"));
            if p.is_file() {
                println!("cargo:rerun-if-changed={}", p.display());
                format!("Some(include_bytes!({:?}))", p.display().to_string())
            } else {
                "None".to_owned()
            }
        };
        let _ = writeln!(
            out,
            "    Asset {{ name: {name:?}, identity: include_bytes!({:?}), gzip: {}, brotli: {} }},",
            path.display().to_string(),
            bytes(".gz"),
            bytes(".br"),
        );
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("app.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("write {}: {e}", target.display());
    }
}
