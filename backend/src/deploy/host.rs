//! One host, reached through its libvirt URI: the only place that calls libvirt.
//!
//! Everything a deploy does on a host goes through libvirtd: domains are defined and started
//! from the rendered XML, QMP goes through libvirt's monitor passthrough
//! (`virDomainQemuMonitorCommand`), and images, overlays and directories are storage volumes
//! and pools. The engine runs no program on a host and opens no connection of its own.

use serde_json::Value;
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::ErrorNumber;
use virt::storage_pool::StoragePool;
use virt::storage_vol::StorageVol;

/// An error from libvirt, QEMU or a check, in the words of whoever refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostError {}

impl From<virt::error::Error> for HostError {
    fn from(e: virt::error::Error) -> HostError {
        HostError(e.message().to_owned())
    }
}

pub type Result<T> = std::result::Result<T, HostError>;

/// The state libvirt reports for a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomState {
    /// No domain of that name is defined.
    Absent,
    Running,
    Paused,
    /// Defined but not running (after a crash too: libvirt says `shut off (crashed)`).
    ShutOff,
    Other,
}

impl DomState {
    pub fn as_str(self) -> &'static str {
        match self {
            DomState::Absent => "absent",
            DomState::Running => "running",
            DomState::Paused => "paused",
            DomState::ShutOff => "shut off",
            DomState::Other => "other",
        }
    }

    /// Whether a QEMU process exists for the domain.
    pub fn active(self) -> bool {
        matches!(self, DomState::Running | DomState::Paused | DomState::Other)
    }
}

/// What a host's libvirt says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// QEMU's version as libvirt reports it (major, minor, micro).
    pub qemu: (u32, u32, u32),
    pub libvirt: (u32, u32, u32),
    /// The host can run KVM guests (x86_64).
    pub kvm: bool,
    /// The emulator binaries the host's capabilities list for x86_64.
    pub emulators: Vec<String>,
    /// Free memory in bytes.
    pub free_memory: u64,
}

fn version(v: u32) -> (u32, u32, u32) {
    (v / 1_000_000, (v / 1000) % 1000, v % 1000)
}

/// Reads what the capabilities XML says: KVM for x86_64 and the emulators listed.
pub fn parse_capabilities(xml: &str) -> (bool, Vec<String>) {
    let mut kvm = false;
    let mut emulators = Vec::new();
    // The capabilities XML lists one <guest> per architecture and OS type; each has
    // <arch name='x86_64'><emulator>PATH</emulator> ... <domain type='kvm'/> ... </arch>.
    for guest in xml.split("<guest>").skip(1) {
        let guest = guest.split("</guest>").next().unwrap_or_default();
        if !guest.contains("<arch name='x86_64'>") {
            continue;
        }
        for part in guest.split("<emulator>").skip(1) {
            if let Some((path, _)) = part.split_once("</emulator>") {
                if !emulators.iter().any(|e| e == path) {
                    emulators.push(path.to_owned());
                }
            }
        }
        if guest.contains("<domain type='kvm'") {
            kvm = true;
        }
    }
    (kvm, emulators)
}

/// A libvirt connection to one host.
pub struct Host {
    pub uri: String,
    conn: Connect,
    /// Pools this connection created (transient, one per directory), destroyed on drop.
    pools: Vec<StoragePool>,
}

impl Host {
    pub fn open(uri: &str) -> Result<Host> {
        // libvirt prints every error on stderr unless told not to; ours are returned instead
        // (a lookup that finds nothing is an answer, not an error to print).
        static QUIET: std::sync::Once = std::sync::Once::new();
        QUIET.call_once(virt::error::clear_error_callback);
        super::events::start_loop();
        let conn = Connect::open(Some(uri))
            .map_err(|e| HostError(format!("cannot connect to {uri}: {}", e.message())))?;
        Ok(Host {
            uri: uri.to_owned(),
            conn,
            pools: Vec::new(),
        })
    }

    pub fn facts(&self) -> Result<Facts> {
        let caps = self.conn.capabilities()?;
        let (kvm, emulators) = parse_capabilities(&caps);
        Ok(Facts {
            qemu: version(self.conn.hyp_version()?),
            libvirt: version(self.conn.lib_version()?),
            kvm,
            emulators,
            free_memory: self.conn.free_memory()?,
        })
    }

    /// The domain, `None` when libvirt says there is none; any other failure (the host gone,
    /// say) is an error, never taken for "absent".
    /// Counts the QMP event `event` of domain `name` from now until the counter drops.
    pub fn count_events(&self, name: &str, event: &str) -> Result<super::events::Counter<'_>> {
        let d = self
            .domain(name)?
            .ok_or_else(|| HostError(format!("no domain '{name}' on {}", self.uri)))?;
        super::events::Counter::new(&self.conn, &d, event)
            .map_err(|e| HostError(format!("{e} ({})", self.uri)))
    }

    fn domain(&self, name: &str) -> Result<Option<Domain>> {
        match self.conn.lookup_domain_by_name(name) {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.code() == Enum::Known(ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// An error of this host, naming it.
    fn lost(&self, e: virt::error::Error) -> HostError {
        HostError(format!("{} ({})", e.message(), self.uri))
    }

    pub fn state(&self, name: &str) -> Result<DomState> {
        let Some(d) = self.domain(name)? else {
            return Ok(DomState::Absent);
        };
        Ok(match d.info()?.state {
            Enum::Known(DomainState::Running) => DomState::Running,
            Enum::Known(DomainState::Paused) => DomState::Paused,
            Enum::Known(DomainState::Shutoff | DomainState::Crashed) => DomState::ShutOff,
            _ => DomState::Other,
        })
    }

    /// Defines the domain and starts it (paused when asked).
    pub fn define_and_start(&self, xml: &str, paused: bool) -> Result<()> {
        let d = self.conn.define_domain_xml(xml)?;
        let flags = if paused {
            virt::sys::VIR_DOMAIN_START_PAUSED
        } else {
            0
        };
        if let Err(e) = d.create_with_flags(flags) {
            let _ = d.undefine();
            return Err(e.into());
        }
        Ok(())
    }

    /// Stops the domain at once (if it runs) and removes its definition (if any).
    ///
    /// Only a domain Lockstep defined for this guest is removed: its UUID must be `uuid` (the
    /// document's) and its description Lockstep's; any other domain of that name is left
    /// alone and the refusal says why.
    pub fn remove_domain(&self, name: &str, uuid: &str) -> Result<()> {
        let Some(d) = self.domain(name)? else {
            return Ok(());
        };
        let theirs = d.uuid_string()?;
        let xml = d.xml_desc(0)?;
        if !theirs.eq_ignore_ascii_case(uuid) || !xml.contains("<description>Lockstep COLO ") {
            return Err(HostError(format!(
                "domain '{name}' on {} is not the one Lockstep defined for this guest (UUID \
                 {theirs}, expected {uuid}); it was left alone",
                self.uri
            )));
        }
        if d.is_active()? {
            d.destroy()?;
        }
        d.undefine()?;
        Ok(())
    }

    /// Sends one QMP command through libvirt; `Ok(Err(..))` is QEMU's own error reply.
    pub fn qmp(&self, name: &str, command: &Value) -> Result<std::result::Result<Value, String>> {
        let d = self
            .domain(name)?
            .ok_or_else(|| HostError(format!("no domain '{name}' on {}", self.uri)))?;
        let reply = d.qemu_monitor_command(&command.to_string(), 0)?;
        let v: Value = serde_json::from_str(&reply)
            .map_err(|e| HostError(format!("QMP reply is not JSON ({e}): {reply}")))?;
        if let Some(e) = v.get("error") {
            return Ok(Err(format!(
                "{}: {}",
                e["class"].as_str().unwrap_or("Error"),
                e["desc"].as_str().unwrap_or_default()
            )));
        }
        Ok(Ok(v.get("return").cloned().unwrap_or(Value::Null)))
    }

    /// The pool for a directory: an existing one, or a transient `dir` pool this connection
    /// creates; `build` makes the directory when it is missing (else a missing directory is an
    /// error).
    fn pool(&mut self, dir: &str, build: bool) -> Result<StoragePool> {
        if let Ok(p) = self.conn.lookup_storage_pool_by_target_path(dir) {
            if !p.is_active()? {
                p.create(0)?;
            }
            p.refresh(0)?;
            return Ok(p);
        }
        let name = format!("lockstep-{:016x}", fnv(dir));
        let xml = format!(
            "<pool type='dir'><name>{name}</name><target><path>{}</path></target></pool>",
            lockstep_shared::render::escape::xml(dir)
        );
        let flags = if build {
            virt::sys::VIR_STORAGE_POOL_CREATE_WITH_BUILD
        } else {
            0
        };
        let p = self.conn.create_storage_pool_xml(&xml, flags)?;
        let found = self.conn.lookup_storage_pool_by_name(&name)?;
        self.pools.push(p);
        Ok(found)
    }

    /// Makes the directory when it is missing.
    pub fn directory(&mut self, dir: &str) -> Result<()> {
        self.pool(dir, true).map(|_| ())
    }

    /// The volume at `path`; `None` when it or its directory does not exist.
    fn volume(&mut self, path: &str) -> Result<Option<StorageVol>> {
        let (dir, _) = split(path)?;
        if let Err(e) = self.pool(dir, false) {
            // A directory that is not there holds no image; a host that stopped answering is
            // an error.
            return match self.conn.is_alive() {
                Ok(true) => Ok(None),
                _ => Err(HostError(format!("{e} ({})", self.uri))),
            };
        }
        match self.conn.lookup_storage_vol_by_path(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code() == Enum::Known(ErrorNumber::NoStorageVolume) => Ok(None),
            Err(e) => Err(self.lost(e)),
        }
    }

    /// The image's kind (file or block), format and virtual size, or `None` if there is none.
    pub fn image(&mut self, path: &str) -> Result<Option<Image>> {
        let Some(v) = self.volume(path)? else {
            return Ok(None);
        };
        let info = v.info()?;
        let xml = v.xml_desc(0)?;
        let format = xml
            .split("<format type='")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap_or("raw")
            .to_owned();
        Ok(Some(Image {
            block: info.kind == virt::sys::VIR_STORAGE_VOL_BLOCK,
            format,
            size_bytes: info.capacity,
        }))
    }

    /// An empty qcow2 image of `size` bytes at `path`, replacing any.
    pub fn create_overlay(&mut self, path: &str, size: u64) -> Result<()> {
        let (dir, file) = split(path)?;
        if let Some(v) = self.volume(path)? {
            v.delete(0)?;
        }
        let pool = self.pool(dir, true)?;
        let xml = format!(
            "<volume><name>{}</name><capacity unit='bytes'>{size}</capacity>\
             <target><format type='qcow2'/></target></volume>",
            lockstep_shared::render::escape::xml(file)
        );
        StorageVol::create_xml(&pool, &xml, 0)?;
        Ok(())
    }

    /// Removes the image at `path`, if there is one.
    pub fn remove(&mut self, path: &str) -> Result<()> {
        if let Some(v) = self.volume(path)? {
            v.delete(0)?;
        }
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for p in self.pools.drain(..) {
            let _ = p.destroy();
        }
    }
}

/// What libvirt's storage API says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub block: bool,
    pub format: String,
    pub size_bytes: u64,
}

fn split(path: &str) -> Result<(&str, &str)> {
    match path.rsplit_once('/') {
        Some((dir, file)) if !file.is_empty() => Ok((if dir.is_empty() { "/" } else { dir }, file)),
        _ => Err(HostError(format!("'{path}' is not an absolute file path"))),
    }
}

/// FNV-1a: a stable short name for a directory's pool.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_say_kvm_and_emulators() {
        let xml = "<capabilities><guest><os_type>hvm</os_type><arch name='x86_64'>\
            <wordsize>64</wordsize><emulator>/usr/bin/qemu-system-x86_64</emulator>\
            <domain type='qemu'/><domain type='kvm'/></arch></guest>\
            <guest><os_type>hvm</os_type><arch name='i686'><emulator>/usr/bin/qemu-system-i386</emulator>\
            <domain type='kvm'/></arch></guest></capabilities>";
        assert_eq!(
            parse_capabilities(xml),
            (true, vec!["/usr/bin/qemu-system-x86_64".to_owned()])
        );
        let tcg = xml.replacen(
            "<domain type='kvm'/></arch></guest><guest>",
            "</arch></guest><guest>",
            1,
        );
        assert!(!parse_capabilities(&tcg).0);
    }

    #[test]
    fn versions_split() {
        assert_eq!(version(7_002_022), (7, 2, 22));
        assert_eq!(version(9_000_000), (9, 0, 0));
    }

    #[test]
    fn paths_split() {
        assert_eq!(
            split("/var/lib/a.img").expect("split"),
            ("/var/lib", "a.img")
        );
        assert_eq!(split("/a.img").expect("split"), ("/", "a.img"));
        assert!(split("/var/lib/").is_err());
    }
}
