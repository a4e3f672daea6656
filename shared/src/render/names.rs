//! The only place that invents QEMU and libvirt identifiers.
//!
//! Every name is derived from user-chosen ids, deterministically, so the primary's plan can
//! reference the secondary's export and the runbooks can reference nodes created at deploy time
//! without asking QEMU or libvirt what they called anything (`product.md`, "the problem the first
//! libvirt attempt hit").

use crate::model::{Document, Side};

/// QEMU keeps node names in `char node_name[32]` (`block.c` `bdrv_assign_node_name`).
pub const MAX_NODE_NAME: usize = 31;

/// Chardev id of the orchestrator's private QMP monitor, on both sides.
pub const QMP_CHARDEV: &str = "lockstep-qmp";

/// libvirt names its first `<iothreadids>` entry `iothread1`; colo-compare uses it.
pub const IOTHREAD: &str = "iothread1";

/// Whether `id` is a well-formed QEMU id (`id_wellformed`: a letter, then letters, digits,
/// `-`, `.` or `_`).
pub fn is_wellformed_id(id: &str) -> bool {
    let mut chars = id.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// The block node name of a graph node: the id itself.
pub fn node_name(id: &str) -> &str {
    id
}

/// QEMU device id (and libvirt user alias) of a guest disk: the same on both sides.
pub fn disk_device_id(target: &str) -> String {
    format!("ua-{target}")
}

/// NBD export name of a secondary disk: its node name (`block-replication.txt`: "The export name
/// for the same disk must be the same" on both sides).
pub fn export_name(secondary_disk: &str) -> &str {
    secondary_disk
}

/// The block job that copies a primary disk to the secondary before replication starts.
pub fn sync_job_id(primary_image: &str) -> String {
    format!("sync-{primary_image}")
}

/// libvirt user alias of a NIC; QEMU's device id.
pub fn nic_alias(nic: &str) -> String {
    format!("ua-{nic}")
}

/// The netdev id libvirt derives from a NIC alias (`host` + alias).
pub fn netdev_id(nic: &str) -> String {
    format!("hostua-{nic}")
}

/// Path of the private QMP socket on one side.
pub fn qmp_socket(doc: &Document, side: Side) -> String {
    let dir = match side {
        Side::Primary => &doc.hosts.primary.run_dir,
        Side::Secondary => &doc.hosts.secondary.run_dir,
    };
    format!("{dir}/{}-{}.qmp", doc.guest.name, side.as_str())
}

/// Chardev and object ids of one NIC's COLO proxy (upstream roles: the primary listens).
#[derive(Debug, Clone)]
pub struct ProxyNames {
    /// Primary: TCP server the secondary's `red0` connects to.
    pub mirror: String,
    /// Primary: TCP server the secondary's `red1` connects to (colo-compare secondary_in).
    pub compare_in: String,
    /// Primary: unix server/client pair feeding colo-compare primary_in.
    pub compare0: String,
    pub compare0_client: String,
    /// Primary: unix server/client pair carrying colo-compare's output back to the NIC.
    pub out: String,
    pub out_client: String,
    pub compare0_path: String,
    pub out_path: String,
    /// Primary objects.
    pub filter_mirror: String,
    pub redirect_out: String,
    pub redirect_in: String,
    pub compare: String,
    /// Secondary chardevs and objects.
    pub red0: String,
    pub red1: String,
    pub f1: String,
    pub f2: String,
    pub rewriter: String,
}

impl ProxyNames {
    pub fn new(doc: &Document, nic: &str) -> ProxyNames {
        let dir = &doc.hosts.primary.run_dir;
        let guest = &doc.guest.name;
        let id = |s: &str| format!("colo-{nic}-{s}");
        ProxyNames {
            mirror: id("mirror"),
            compare_in: id("cmpin"),
            compare0: id("cmp0"),
            compare0_client: id("cmp0c"),
            out: id("out"),
            out_client: id("outc"),
            compare0_path: format!("{dir}/{guest}-{nic}-cmp0.sock"),
            out_path: format!("{dir}/{guest}-{nic}-out.sock"),
            filter_mirror: id("m0"),
            redirect_out: id("redire0"),
            redirect_in: id("redire1"),
            compare: id("comp0"),
            red0: id("red0"),
            red1: id("red1"),
            f1: id("f1"),
            f2: id("f2"),
            rewriter: id("rew0"),
        }
    }
}
