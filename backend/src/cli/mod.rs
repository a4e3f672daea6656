//! The document commands: validate, render, schema, new; `hosts` has the deploy commands.

pub mod hosts;

use anyhow::Context;
use clap::Args as ClapArgs;
use lockstep_shared::model::{Document, HostRef, ImageFormat, NicModel, NicSource, Storage};
use lockstep_shared::render::{self, Validated};
use lockstep_shared::validate::{self, Finding};
use lockstep_shared::wizard::{self, DiskSpec, NicSpec, WizardInput};
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

const PARSE_FAILED: u8 = 2;

/// Reads and parses a document; on failure prints why (with line and column) and gives the
/// exit code.
fn load(file: &Path) -> Result<Document, ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
        ExitCode::from(PARSE_FAILED)
    })?;
    Document::from_json(&text).map_err(|e| {
        eprintln!("error: {}: {e}", file.display());
        ExitCode::from(PARSE_FAILED)
    })
}

fn print_findings(findings: &[Finding]) {
    for f in findings {
        println!("{f}");
    }
    let errors = findings.iter().filter(|f| f.is_error()).count();
    println!("{errors} error(s), {} warning(s)", findings.len() - errors);
}

pub fn validate(file: &Path, json: bool) -> ExitCode {
    let doc = match load(file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let findings = validate::validate(&doc);
    let errors = findings.iter().filter(|f| f.is_error()).count();
    if json {
        let out = serde_json::json!({
            "errors": errors,
            "warnings": findings.len() - errors,
            "findings": findings,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_findings(&findings);
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn render(file: &Path, out: &Path) -> ExitCode {
    let doc = match load(file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let v = match Validated::new(doc) {
        Ok(v) => v,
        Err(findings) => {
            eprintln!("error: {} has errors; nothing was written", file.display());
            print_findings(&findings);
            return ExitCode::from(1);
        }
    };
    let artifacts = render::render_all(&v);
    match write_artifacts(&artifacts, out) {
        Ok(()) => {
            for (name, _) in artifacts.files() {
                println!("wrote {}", out.join(name).display());
            }
            for w in v.warnings() {
                println!("{w}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(PARSE_FAILED)
        }
    }
}

fn write_artifacts(a: &render::Artifacts, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for (name, content) in a.files() {
        let p = out.join(name);
        std::fs::write(&p, content).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

/// Prints the swapped pair's document (only an error-free document has one).
pub fn swap(file: &Path) -> ExitCode {
    let doc = match load(file) {
        Ok(d) => d,
        Err(code) => return code,
    };
    match Validated::new(doc) {
        Ok(v) => {
            let w = render::swap::swapped(&v);
            println!("{}", serde_json::to_string_pretty(&w).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(findings) => {
            eprintln!(
                "error: {} has errors; only an error-free pair can swap roles",
                file.display()
            );
            print_findings(&findings);
            ExitCode::from(1)
        }
    }
}

pub fn schema() -> ExitCode {
    let s = lockstep_shared::model::json_schema();
    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    ExitCode::SUCCESS
}

#[derive(ClapArgs)]
pub struct NewArgs {
    /// A protected disk as PATH:SIZE:FORMAT[:STORAGE] (SIZE like 64M or 10G, FORMAT raw or qcow2,
    /// STORAGE file or block; default block under /dev/ except /dev/shm, file elsewhere); repeat
    /// for more disks.
    #[arg(long = "disk", required = true)]
    disks: Vec<String>,
    /// The secondary's copy of each disk as PATH[:STORAGE], in --disk order (default: the same
    /// path).
    #[arg(long = "secondary-disk")]
    secondary_disks: Vec<String>,
    /// Primary host: a name or an address.
    #[arg(long)]
    primary: String,
    /// Secondary host: a name or an address.
    #[arg(long)]
    secondary: String,
    /// Guest (libvirt domain) name.
    #[arg(long, default_value = "colo-vm")]
    name: String,
    #[arg(long, default_value_t = 1024)]
    memory_mib: u64,
    #[arg(long, default_value_t = 1)]
    vcpus: u32,
    /// Migration port; NBD, mirror and compare ports follow it.
    #[arg(long, default_value_t = 9000)]
    base_port: u32,
    #[arg(long, default_value_t = 2000)]
    checkpoint_delay_ms: u64,
    /// Where the secondary keeps its active and hidden overlays (tmpfs recommended).
    #[arg(long, default_value = "/dev/shm/lockstep")]
    overlay_dir: String,
    /// Socket directory on both hosts.
    #[arg(long, default_value = "/run/lockstep")]
    run_dir: String,
    /// Add a NIC with the COLO proxy: `user` or `bridge=NAME`.
    #[arg(long)]
    nic: Option<String>,
    /// NIC model: e1000, rtl8139 or virtio.
    #[arg(long, default_value = "e1000")]
    nic_model: String,
    /// NIC MAC address (default: derived from the UUID).
    #[arg(long)]
    nic_mac: Option<String>,
    /// Guest UUID (default: a random one).
    #[arg(long)]
    uuid: Option<String>,
}

/// Splits a trailing `:file` or `:block` off a disk argument.
fn split_storage(s: &str) -> (&str, Option<Storage>) {
    match s.rsplit_once(':') {
        Some((rest, "file")) => (rest, Some(Storage::File)),
        Some((rest, "block")) => (rest, Some(Storage::Block)),
        _ => (s, None),
    }
}

fn parse_disk(s: &str) -> anyhow::Result<DiskSpec> {
    let (spec, storage) = split_storage(s);
    let mut parts = spec.rsplitn(3, ':');
    let (Some(format), Some(size), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        anyhow::bail!("--disk {s:?} is not PATH:SIZE:FORMAT[:file|block]");
    };
    let format = match format {
        "raw" => ImageFormat::Raw,
        "qcow2" => ImageFormat::Qcow2,
        other => anyhow::bail!("--disk {s:?}: format {other:?} is neither raw nor qcow2"),
    };
    let size_bytes = wizard::parse_size(size).map_err(|e| anyhow::anyhow!("--disk {s:?}: {e}"))?;
    Ok(DiskSpec {
        path: path.to_owned(),
        secondary_path: None,
        size_bytes,
        format,
        storage,
        secondary_storage: None,
    })
}

fn random_uuid() -> anyhow::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom for a UUID")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn build_new(a: &NewArgs) -> anyhow::Result<Document> {
    let mut disks = a
        .disks
        .iter()
        .map(|d| parse_disk(d))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if a.secondary_disks.len() > disks.len() {
        anyhow::bail!(
            "{} --secondary-disk paths given for {} --disk",
            a.secondary_disks.len(),
            disks.len()
        );
    }
    for (d, s) in disks.iter_mut().zip(&a.secondary_disks) {
        let (path, storage) = split_storage(s);
        d.secondary_path = Some(path.to_owned());
        d.secondary_storage = storage;
    }
    let uuid = match &a.uuid {
        Some(u) => u.clone(),
        None => random_uuid()?,
    };
    let host = |h: &str| HostRef {
        name: h.to_owned(),
        address: h.to_owned(),
        run_dir: a.run_dir.clone(),
    };
    let mut input = WizardInput::new(&a.name, &uuid, host(&a.primary), host(&a.secondary));
    input.disks = disks;
    input.memory_mib = a.memory_mib;
    input.vcpus = a.vcpus;
    input.base_port = a.base_port;
    input.checkpoint_delay_ms = a.checkpoint_delay_ms;
    input.overlay_dir = a.overlay_dir.clone();
    if let Some(nic) = &a.nic {
        let source = match nic.as_str() {
            "user" => NicSource::User,
            other => match other.strip_prefix("bridge=") {
                Some(br) => NicSource::Bridge {
                    bridge: br.to_owned(),
                },
                None => anyhow::bail!("--nic {other:?} is neither 'user' nor 'bridge=NAME'"),
            },
        };
        let model = match a.nic_model.as_str() {
            "e1000" => NicModel::E1000,
            "rtl8139" => NicModel::Rtl8139,
            "virtio" => NicModel::Virtio,
            other => anyhow::bail!("--nic-model {other:?} is not e1000, rtl8139 or virtio"),
        };
        let mac = match &a.nic_mac {
            Some(m) => m.clone(),
            None => {
                let h: String = uuid.chars().filter(char::is_ascii_hexdigit).collect();
                format!("52:54:00:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6])
            }
        };
        input.nic = Some(NicSpec { mac, model, source });
    }
    Ok(wizard::standard_pair(&input))
}

pub fn new(a: &NewArgs) -> ExitCode {
    match build_new(a) {
        Ok(doc) => {
            print!("{}", doc.to_json_pretty());
            let findings = validate::validate(&doc);
            if validate::has_errors(&findings) {
                eprintln!("warning: this document has errors; fix them before rendering:");
                for f in &findings {
                    eprintln!("{f}");
                }
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(PARSE_FAILED)
        }
    }
}
