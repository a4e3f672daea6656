//! One host, reached through its libvirt URI: the only place that calls libvirt.
//!
//! Everything a deploy does on a host goes through libvirtd: domains are defined and started
//! from the rendered XML, QMP goes through libvirt's monitor passthrough
//! (`virDomainQemuMonitorCommand`), and images, overlays and directories are storage volumes
//! and pools. The engine runs no program on a host and opens no connection of its own.

use serde_json::Value;
use std::time::Duration;
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

/// How long QEMU may take to answer one monitor command: 30 s, or
/// `LOCKSTEP_MONITOR_TIMEOUT_MS`, read once per process (the binary checks it at start).
/// QEMU answers each command Lockstep sends within milliseconds (lab timings); libvirt itself
/// waits for an answer forever.
pub fn monitor_limit() -> Result<Duration> {
    const VAR: &str = "LOCKSTEP_MONITOR_TIMEOUT_MS";
    static LIMIT: std::sync::OnceLock<std::result::Result<Duration, String>> =
        std::sync::OnceLock::new();
    LIMIT
        .get_or_init(|| match std::env::var(VAR) {
            Err(_) => Ok(Duration::from_secs(30)),
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                _ => Err(format!(
                    "{VAR} must be a positive number of milliseconds, not '{v}'"
                )),
            },
        })
        .clone()
        .map_err(HostError)
}

/// One QMP command through libvirt, given up on after [`monitor_limit`]: a QEMU that is
/// stopped or stuck in its main loop (QEMU 7.2 can deadlock a COLO pair when its main loop
/// waits on the NBD leg during a checkpoint) would otherwise hold the caller, a status read or
/// a failover, forever. The call goes on in its own thread until QEMU answers; libvirt refuses
/// other monitor commands to that guest meanwhile (its job lock).
fn monitor_command(d: Domain, command: &Value, limit: Duration) -> Result<String> {
    let text = command.to_string();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("qemu-monitor".to_owned())
        .spawn(move || {
            let _ = tx.send(d.qemu_monitor_command(&text, 0));
        })
        .map_err(|e| HostError(format!("cannot start a monitor call: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(reply) => Ok(reply?),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(HostError(format!(
            "QEMU did not answer {} within {} ms: the process is stopped or its main loop is \
             stuck",
            command["execute"],
            limit.as_millis()
        ))),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(HostError(
            "the monitor call ended without an answer".to_owned(),
        )),
    }
}

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
    /// libvirt's security drivers (`none`, `dac`, `apparmor`, `selinux`).
    pub security: Vec<String>,
    /// The user and group QEMU runs as under the DAC driver (`None`: root, or no DAC).
    pub qemu_user: Option<Ids>,
}

/// A user and group id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// The security drivers and the DAC driver's QEMU user and group from the capabilities XML
/// (`<secmodel><model>dac</model>...<baselabel type='kvm'>+64055:+64055</baselabel>`); root
/// gives `None`.
pub fn parse_security(xml: &str) -> (Vec<String>, Option<Ids>) {
    let mut models = Vec::new();
    let mut user = None;
    for sec in xml.split("<secmodel>").skip(1) {
        let sec = sec.split("</secmodel>").next().unwrap_or_default();
        let Some(model) = sec
            .split("<model>")
            .nth(1)
            .and_then(|m| m.split("</model>").next())
        else {
            continue;
        };
        models.push(model.to_owned());
        if model != "dac" {
            continue;
        }
        let label = sec
            .split("<baselabel type='kvm'>")
            .nth(1)
            .and_then(|l| l.split("</baselabel>").next());
        if let Some((u, g)) = label.and_then(|l| l.split_once(':')) {
            let id = |s: &str| s.trim_start_matches('+').parse::<u32>().ok();
            if let (Some(uid), Some(gid)) = (id(u), id(g)) {
                if uid != 0 {
                    user = Some(Ids { uid, gid });
                }
            }
        }
    }
    (models, user)
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
    /// The DAC user QEMU runs as, once read from the capabilities.
    qemu_user: Option<Option<Ids>>,
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
            qemu_user: None,
            pools: Vec::new(),
        })
    }

    /// The user and group QEMU runs as when not root (libvirt's DAC driver), read once.
    pub fn qemu_user(&mut self) -> Result<Option<Ids>> {
        if let Some(u) = self.qemu_user {
            return Ok(u);
        }
        let u = parse_security(&self.conn.capabilities()?).1;
        self.qemu_user = Some(u);
        Ok(u)
    }

    pub fn facts(&self) -> Result<Facts> {
        let caps = self.conn.capabilities()?;
        let (kvm, emulators) = parse_capabilities(&caps);
        let (security, qemu_user) = parse_security(&caps);
        Ok(Facts {
            qemu: version(self.conn.hyp_version()?),
            libvirt: version(self.conn.lib_version()?),
            kvm,
            emulators,
            free_memory: self.conn.free_memory()?,
            security,
            qemu_user,
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

    /// Starts a throw-away guest (paused, 16 MiB, no devices; destroyed when this connection
    /// closes if not before) with `emulator` under this host's libvirt, asks its QEMU each of
    /// `commands` and stops it: what that QEMU build offers, before anything of the pair
    /// exists. Replies as [`Host::qmp`] gives them.
    pub fn probe(
        &self,
        emulator: &str,
        commands: &[Value],
    ) -> Result<Vec<std::result::Result<Value, String>>> {
        use lockstep_shared::render::escape::xml;
        // Unique per call: one server may probe several hosts, or one host twice, at once.
        static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "lockstep-probe-{}-{}",
            std::process::id(),
            PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let domain = format!(
            "<domain type='kvm'><name>{}</name><memory unit='MiB'>16</memory><vcpu>1</vcpu>\
             <os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>{}</emulator>\
             <controller type='usb' model='none'/><memballoon model='none'/></devices></domain>",
            xml(&name),
            xml(emulator)
        );
        let d = self
            .conn
            .create_domain_xml(
                &domain,
                virt::sys::VIR_DOMAIN_START_PAUSED | virt::sys::VIR_DOMAIN_START_AUTODESTROY,
            )
            .map_err(|e| self.lost(e))?;
        let mut out = Vec::new();
        for c in commands {
            let reply = monitor_limit().and_then(|limit| monitor_command(d.clone(), c, limit));
            out.push(match reply {
                Ok(r) => match serde_json::from_str::<Value>(&r) {
                    Ok(v) if v.get("error").is_some() => {
                        Err(v["error"]["desc"].as_str().unwrap_or("error").to_owned())
                    }
                    Ok(v) => Ok(v.get("return").cloned().unwrap_or(Value::Null)),
                    Err(e) => Err(format!("QMP reply is not JSON ({e})")),
                },
                Err(e) => Err(e.0),
            });
        }
        let _ = d.destroy();
        Ok(out)
    }

    /// Sends one QMP command through libvirt; `Ok(Err(..))` is QEMU's own error reply.
    pub fn qmp(&self, name: &str, command: &Value) -> Result<std::result::Result<Value, String>> {
        self.qmp_within(name, command, monitor_limit()?)
    }

    /// Like [`Host::qmp`], given up on after `limit` instead of the monitor limit.
    pub fn qmp_within(
        &self,
        name: &str,
        command: &Value,
        limit: Duration,
    ) -> Result<std::result::Result<Value, String>> {
        let d = self
            .domain(name)?
            .ok_or_else(|| HostError(format!("no domain '{name}' on {}", self.uri)))?;
        let reply = monitor_command(d, command, limit)?;
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
        self.pool_owned(dir, build, None)
    }

    /// Like `pool`; a directory it makes belongs to `owner` (mode 0750).
    ///
    /// Transient pools are shared by every connection to the host, and the connection that
    /// made one destroys it when it ends: another connection's pool for this directory can
    /// vanish at any moment, and two connections can try to make one at once. Both are met by
    /// looking again (a few times), never by reporting a missing directory or image.
    fn pool_owned(&mut self, dir: &str, build: bool, owner: Option<Ids>) -> Result<StoragePool> {
        let (mut tries, mut refused) = (0, 0);
        for _ in 0..2 * (POOL_TRIES + BUSY_TRIES) {
            if let Ok(p) = self.conn.lookup_storage_pool_by_target_path(dir) {
                let ready = p
                    .is_active()
                    .and_then(|active| if active { Ok(()) } else { p.create(0) })
                    .and_then(|_| p.refresh(0));
                match ready {
                    Ok(_) => return Ok(p),
                    // Going or gone (see `usable`): give its destroyer a moment to finish.
                    Err(_) if !usable(&p) => {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        continue;
                    }
                    // A refresh waits for no one: while another connection makes a volume
                    // there libvirt refuses it ("has asynchronous jobs running").
                    Err(e) if e.message().contains("asynchronous jobs") && tries < BUSY_TRIES => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let name = format!("lockstep-{:016x}", fnv(dir));
            let perms = owner
                .map(|o| {
                    format!(
                        "<permissions><mode>0750</mode><owner>{}</owner><group>{}</group></permissions>",
                        o.uid, o.gid
                    )
                })
                .unwrap_or_default();
            let xml = format!(
                "<pool type='dir'><name>{name}</name><target><path>{}</path>{perms}</target></pool>",
                lockstep_shared::render::escape::xml(dir)
            );
            let flags = if build {
                virt::sys::VIR_STORAGE_POOL_CREATE_WITH_BUILD
            } else {
                0
            };
            match self.conn.create_storage_pool_xml(&xml, flags) {
                Ok(p) => {
                    let found = self.conn.lookup_storage_pool_by_name(&name)?;
                    self.pools.push(p);
                    return Ok(found);
                }
                // Another connection is making it (until it is active, libvirt finds it by
                // name but not by its directory) or destroying it: wait for theirs, or make it
                // again.
                Err(e) if e.message().contains("already exists") && tries < BUSY_TRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    continue;
                }
                // Other refusals can come from another connection's pool that is gone by the
                // time we look; one that stays (a missing directory, say) is the answer.
                Err(_) if refused < POOL_TRIES => {
                    refused += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(self.vanishing(dir))
    }

    /// Runs `f` on the directory's pool, again with a pool looked up anew when it fails because
    /// the pool vanished meanwhile (see `pool_owned`).
    fn in_pool<T>(
        &mut self,
        dir: &str,
        build: bool,
        owner: Option<Ids>,
        f: impl Fn(&StoragePool) -> std::result::Result<T, virt::error::Error>,
    ) -> Result<T> {
        let mut tries = 1;
        loop {
            let pool = self.pool_owned(dir, build, owner)?;
            match f(&pool) {
                Ok(v) => return Ok(v),
                Err(_) if tries < POOL_TRIES && !usable(&pool) => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Makes the directory when it is missing, owned by `owner` (QEMU's user when it is not
    /// root: QEMU makes its sockets there). An existing directory QEMU's user cannot write to
    /// is an error saying how to fix it.
    pub fn directory(&mut self, dir: &str, owner: Option<Ids>, write: bool) -> Result<()> {
        let xml = self.in_pool(dir, true, owner, |pool| pool.xml_desc(0))?;
        let Some(ids) = owner else {
            return Ok(());
        };
        let (found, mode) = parse_permissions(&xml);
        // Making a file in a directory takes its write and search (x) permission; opening one
        // only search.
        let searchable = permits(found, mode, ids, if write { 0o3 } else { 0o1 });
        if searchable {
            Ok(())
        } else {
            Err(HostError(format!(
                "QEMU runs as uid {} gid {} on {} and cannot {} {dir} (owner {}, mode {:o}); \
                 chown {}:{} {dir}",
                ids.uid,
                ids.gid,
                self.uri,
                if write {
                    "make files in"
                } else {
                    "reach files in"
                },
                found
                    .map(|o| format!("{}:{}", o.uid, o.gid))
                    .unwrap_or_default(),
                mode.unwrap_or(0),
                ids.uid,
                ids.gid
            )))
        }
    }

    /// The volume at `path`; `None` when it or its directory does not exist.
    fn volume(&mut self, path: &str) -> Result<Option<StorageVol>> {
        let (dir, _) = split(path)?;
        for _ in 0..POOL_TRIES {
            let pool = match self.pool(dir, false) {
                Ok(p) => p,
                // A directory that is not there holds no image; a host that stopped answering
                // is an error.
                Err(e) => {
                    return match self.conn.is_alive() {
                        Ok(true) => Ok(None),
                        _ => Err(HostError(format!("{e} ({})", self.uri))),
                    }
                }
            };
            match self.conn.lookup_storage_vol_by_path(path) {
                Ok(v) => return Ok(Some(v)),
                // Not found in a pool that vanished meanwhile says nothing: look again.
                Err(_) if !usable(&pool) => continue,
                Err(e) if e.code() == Enum::Known(ErrorNumber::NoStorageVolume) => return Ok(None),
                Err(e) => return Err(self.lost(e)),
            }
        }
        Err(self.vanishing(dir))
    }

    /// The error when a directory's pool vanished under every lookup.
    fn vanishing(&self, dir: &str) -> HostError {
        HostError(format!(
            "the storage pool of {dir} on {} kept vanishing or stayed busy (other connections \
             making, using and destroying it); try again",
            self.uri
        ))
    }

    /// The image's kind (file or block), format and virtual size, or `None` if there is none.
    pub fn image(&mut self, path: &str) -> Result<Option<Image>> {
        let mut tries = 1;
        let (info, xml) = loop {
            let Some(v) = self.volume(path)? else {
                return Ok(None);
            };
            match v.info().and_then(|info| Ok((info, v.xml_desc(0)?))) {
                Ok((info, xml)) => break (info, xml),
                // Its pool vanished between the lookup and the reads (see `pool_owned`).
                Err(_) if tries < POOL_TRIES => tries += 1,
                Err(e) => return Err(e.into()),
            }
        };
        let format = xml
            .split("<format type='")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap_or("raw")
            .to_owned();
        let (owner, mode) = parse_permissions(&xml);
        Ok(Some(Image {
            block: info.kind == virt::sys::VIR_STORAGE_VOL_BLOCK,
            format,
            size_bytes: info.capacity,
            owner,
            mode,
        }))
    }

    /// An empty qcow2 image of `size` bytes at `path`, replacing any; owned by `owner` (QEMU's
    /// user when it is not root) with mode 0600.
    pub fn create_overlay(&mut self, path: &str, size: u64, owner: Option<Ids>) -> Result<()> {
        let (dir, file) = split(path)?;
        self.remove(path)?;
        let perms = owner
            .map(|o| {
                format!(
                    "<permissions><mode>0600</mode><owner>{}</owner><group>{}</group></permissions>",
                    o.uid, o.gid
                )
            })
            .unwrap_or_default();
        let xml = format!(
            "<volume><name>{}</name><capacity unit='bytes'>{size}</capacity>\
             <target><format type='qcow2'/>{perms}</target></volume>",
            lockstep_shared::render::escape::xml(file)
        );
        self.in_pool(dir, true, owner, |pool| {
            StorageVol::create_xml(pool, &xml, 0)
        })?;
        Ok(())
    }

    /// Removes the image at `path`, if there is one.
    pub fn remove(&mut self, path: &str) -> Result<()> {
        let mut tries = 1;
        loop {
            let Some(v) = self.volume(path)? else {
                return Ok(());
            };
            match v.delete(0) {
                Ok(()) => return Ok(()),
                // Its pool vanished between the lookup and the delete (see `pool_owned`).
                Err(_) if tries < POOL_TRIES => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for p in self.pools.drain(..) {
            let _ = p.destroy();
        }
    }
}

/// How often a directory's pool is looked up again when another connection's pool vanished.
const POOL_TRIES: usize = 10;

/// How often a pool busy making a volume is refreshed again, or one another connection is
/// making is waited for, 20 ms apart.
const BUSY_TRIES: usize = 100;

/// Whether the pool is still there and active. A transient pool another connection destroys
/// is first marked inactive and only then removed (libvirt's `storagePoolDestroy` sets it
/// inactive, then `virStoragePoolObjRemove` unlocks it to take the pool list's lock): in that
/// window it is found, and refreshing it or making a volume in it fails with "storage pool
/// ... is not active". Such a pool is as gone as a removed one: look again.
fn usable(p: &StoragePool) -> bool {
    matches!(p.is_active(), Ok(true))
}

/// What libvirt's storage API says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub block: bool,
    pub format: String,
    pub size_bytes: u64,
    /// Owner, group and mode bits, as the storage API reports them.
    pub owner: Option<Ids>,
    pub mode: Option<u32>,
}

impl Image {
    /// Whether a process with `ids` (and no other group) may read and write it.
    pub fn writable_by(&self, ids: Ids) -> bool {
        permits(self.owner, self.mode, ids, 0o6)
    }
}

/// Whether owner and mode give `ids` (and no other group) all of `bits` (`0o6` read and write,
/// `0o1` search); unknown permissions permit.
fn permits(owner: Option<Ids>, mode: Option<u32>, ids: Ids, bits: u32) -> bool {
    let (Some(o), Some(mode)) = (owner, mode) else {
        return true;
    };
    let class = if o.uid == ids.uid {
        mode >> 6
    } else if o.gid == ids.gid {
        mode >> 3
    } else {
        mode
    };
    class & bits == bits
}

/// The `<permissions>` of a volume's or pool's `<target>`: owner, group, mode.
fn parse_permissions(xml: &str) -> (Option<Ids>, Option<u32>) {
    let perms = xml
        .split("<permissions>")
        .nth(1)
        .and_then(|p| p.split("</permissions>").next())
        .unwrap_or_default();
    let field = |name: &str| {
        perms
            .split(&format!("<{name}>"))
            .nth(1)
            .and_then(|v| v.split(&format!("</{name}>")).next())
            .map(str::trim)
    };
    let owner = match (
        field("owner").and_then(|v| v.parse().ok()),
        field("group").and_then(|v| v.parse().ok()),
    ) {
        (Some(uid), Some(gid)) => Some(Ids { uid, gid }),
        _ => None,
    };
    let mode = field("mode").and_then(|m| u32::from_str_radix(m, 8).ok());
    (owner, mode)
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
    fn security_models_and_the_qemu_user() {
        let xml = "<host><secmodel><model>none</model><doi>0</doi></secmodel>\
            <secmodel><model>dac</model><doi>0</doi>\
            <baselabel type='kvm'>+999:+995</baselabel>\
            <baselabel type='qemu'>+999:+995</baselabel></secmodel></host>";
        let (models, user) = parse_security(xml);
        assert_eq!(models, ["none", "dac"]);
        assert_eq!(user, Some(Ids { uid: 999, gid: 995 }));
        let root = xml.replace("+999:+995", "+0:+0");
        assert_eq!(parse_security(&root).1, None);
        let aa = "<secmodel><model>apparmor</model><doi>0</doi></secmodel>";
        assert_eq!(parse_security(aa), (vec!["apparmor".to_owned()], None));
    }

    #[test]
    fn permissions_decide_access() {
        let xml = "<volume><target><path>/x</path><permissions><mode>0640</mode>\
            <owner>0</owner><group>995</group></permissions></target></volume>";
        let (owner, mode) = parse_permissions(xml);
        assert_eq!(owner, Some(Ids { uid: 0, gid: 995 }));
        assert_eq!(mode, Some(0o640));
        let img = Image {
            block: false,
            format: "raw".to_owned(),
            size_bytes: 1,
            owner,
            mode,
        };
        let qemu = Ids { uid: 999, gid: 995 };
        // The group may read, not write.
        assert!(!img.writable_by(qemu));
        assert!(img.writable_by(Ids { uid: 0, gid: 0 }));
        let img = Image {
            mode: Some(0o660),
            ..img
        };
        assert!(img.writable_by(qemu));
        assert!(permits(owner, Some(0o750), qemu, 0o1));
        assert!(!permits(owner, Some(0o750), qemu, 0o3));
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
