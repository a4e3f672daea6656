//! The wizard: "these disks on these two hosts" becomes the standard COLO graph.
//!
//! Per disk: primary image, quorum (fifo, threshold 1) with the image as child 0 and a
//! replication node (mode primary) over an NBD client as child 1; secondary disk, hidden and
//! active qcow2 overlays, replication (mode secondary) and quorum; guest devices at the same PCI
//! slot on both sides (`colo-reference.md` §1.2, §1.3). Templates and the editor start from it.

use crate::model::{
    ColoProxy, ColoSettings, DiskBus, Document, Edge, EdgeKind, Guest, GuestDiskNode, HostRef,
    Hosts, ImageFormat, ImageNode, InitialSync, Layout, NbdClientNode, Nic, NicModel, NicSource,
    Node, Point, QuorumNode, ReadPattern, ReplicationMode, ReplicationNode, Side, Storage,
    SCHEMA_VERSION,
};

/// One protected disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskSpec {
    /// Image path on the primary host.
    pub path: String,
    /// Image path on the secondary host; the same path when `None`.
    pub secondary_path: Option<String>,
    pub size_bytes: u64,
    pub format: ImageFormat,
    /// What the primary's path is; from the path when `None` ([`Storage::for_path`]).
    pub storage: Option<Storage>,
    /// What the secondary's path is; from that path when `None`.
    pub secondary_storage: Option<Storage>,
}

/// A NIC with the COLO proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct NicSpec {
    pub mac: String,
    pub model: NicModel,
    pub source: NicSource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WizardInput {
    pub name: String,
    pub uuid: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    pub primary: HostRef,
    pub secondary: HostRef,
    pub disks: Vec<DiskSpec>,
    pub nic: Option<NicSpec>,
    /// Ports: migration = base, NBD = base+1, mirror = base+2, compare = base+3.
    pub base_port: u32,
    /// Directory for active and hidden overlays on the secondary (tmpfs recommended).
    pub overlay_dir: String,
    pub checkpoint_delay_ms: u64,
}

impl WizardInput {
    /// Defaults for everything but the disks and hosts.
    pub fn new(name: &str, uuid: &str, primary: HostRef, secondary: HostRef) -> WizardInput {
        WizardInput {
            name: name.to_owned(),
            uuid: uuid.to_owned(),
            memory_mib: 1024,
            vcpus: 1,
            primary,
            secondary,
            disks: Vec::new(),
            nic: None,
            base_port: 9000,
            overlay_dir: "/dev/shm/lockstep".to_owned(),
            checkpoint_delay_ms: 2000,
        }
    }
}

/// A wizard input for examples, benchmarks and tests: guest `name` on hosts 10.0.0.1 and
/// 10.0.0.2, with `disks` 10 GiB qcow2 disks under `/var/lib/colo/<name>/`.
pub fn example_input(name: &str, disks: usize) -> WizardInput {
    let host = |a: &str| HostRef {
        name: a.to_owned(),
        address: a.to_owned(),
        run_dir: "/run/lockstep".to_owned(),
    };
    let mut input = WizardInput::new(
        name,
        "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21",
        host("10.0.0.1"),
        host("10.0.0.2"),
    );
    input.disks = (0..disks)
        .map(|i| DiskSpec {
            path: format!("/var/lib/colo/{name}/disk{i}.qcow2"),
            secondary_path: None,
            size_bytes: 10 << 30,
            format: ImageFormat::Qcow2,
            storage: None,
            secondary_storage: None,
        })
        .collect();
    input
}

/// First PCI slot for guest disks; NICs start at 0x03.
pub const FIRST_DISK_SLOT: u32 = 0x10;

fn target(i: usize) -> String {
    // vda..vdz, then vdaa..: enough for any realistic disk count.
    let mut n = i;
    let mut s = String::new();
    loop {
        s.insert(0, (b'a' + (n % 26) as u8) as char);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    format!("vd{s}")
}

struct Builder {
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    layout: Layout,
}

impl Builder {
    fn node(&mut self, n: Node, x: f64, y: f64) {
        self.layout
            .positions
            .insert(n.id().to_owned(), Point { x, y });
        self.nodes.push(n);
    }

    fn edge(&mut self, kind: EdgeKind, from: &str, to: &str, index: Option<u32>) {
        self.edges.push(Edge {
            id: format!("{}-{}-{}", kind.as_str(), from, to),
            kind,
            from: from.to_owned(),
            to: to.to_owned(),
            index,
        });
    }
}

/// The standard COLO pair for `input`.
pub fn standard_pair(input: &WizardInput) -> Document {
    let mut b = Builder {
        nodes: Vec::new(),
        edges: Vec::new(),
        layout: Layout::default(),
    };
    for (i, d) in input.disks.iter().enumerate() {
        // 16 slots for disks; beyond 16 disks, further functions of the same slots.
        let pci = (FIRST_DISK_SLOT + (i % 16) as u32, (i / 16) as u32);
        let y = 100.0 + 540.0 * i as f64;
        disk_chain(&mut b, i, d, pci, y, &input.overlay_dir, &input.name);
    }
    let nics = input
        .nic
        .iter()
        .map(|n| Nic {
            id: "net0".to_owned(),
            mac: n.mac.clone(),
            model: n.model,
            source: n.source.clone(),
            pci_slot: 3,
            proxy: Some(ColoProxy {
                mirror_port: input.base_port + 2,
                compare_port: input.base_port + 3,
                vnet_hdr: n.model == NicModel::Virtio,
            }),
        })
        .collect();
    Document {
        schema_version: SCHEMA_VERSION,
        guest: Guest {
            name: input.name.clone(),
            machine: "pc".to_owned(),
            memory_mib: input.memory_mib,
            vcpus: input.vcpus,
            uuid: input.uuid.clone(),
            emulator: crate::model::default_emulator(),
        },
        hosts: Hosts {
            primary: input.primary.clone(),
            secondary: input.secondary.clone(),
        },
        colo: ColoSettings {
            migration_port: input.base_port,
            nbd_port: input.base_port + 1,
            checkpoint_delay_ms: input.checkpoint_delay_ms,
            initial_sync: InitialSync::Mirror,
        },
        nics,
        nodes: b.nodes,
        edges: b.edges,
        layout: b.layout,
    }
}

/// One protected disk's chain (index `i`, guest device at PCI `pci`, drawn from height `y`):
/// primary device, quorum, image, replication and NBD client; secondary device, quorum,
/// replication, active and hidden overlays and disk; and the edges between them.
fn disk_chain(
    b: &mut Builder,
    i: usize,
    d: &DiskSpec,
    pci: (u32, u32),
    y: f64,
    overlay_dir: &str,
    guest: &str,
) {
    let t = target(i);
    let (slot, function) = pci;
    let (pdev, pq, pimg, prep, pnbd) = (
        format!("p-{t}"),
        format!("pquorum{i}"),
        format!("pdisk{i}"),
        format!("prep{i}"),
        format!("pnbd{i}"),
    );
    let (sdev, sq, srep, sact, shid, sdisk) = (
        format!("s-{t}"),
        format!("squorum{i}"),
        format!("srep{i}"),
        format!("sactive{i}"),
        format!("shidden{i}"),
        format!("sdisk{i}"),
    );
    let image = |id: &str, side, path: String, format, storage: Option<Storage>| {
        Node::Image(ImageNode {
            id: id.to_owned(),
            side,
            storage: storage.unwrap_or_else(|| Storage::for_path(&path)),
            path,
            format,
            size_bytes: d.size_bytes,
        })
    };
    let quorum = |id: &str, side| {
        Node::Quorum(QuorumNode {
            id: id.to_owned(),
            side,
            vote_threshold: 1,
            read_pattern: ReadPattern::Fifo,
        })
    };
    let device = |id: &str, side| {
        Node::GuestDisk(GuestDiskNode {
            id: id.to_owned(),
            side,
            bus: DiskBus::Virtio,
            target: t.clone(),
            pci_slot: slot,
            pci_function: function,
        })
    };
    // Primary column.
    b.node(device(&pdev, Side::Primary), 80.0, y);
    b.node(quorum(&pq, Side::Primary), 80.0, y + 90.0);
    b.node(
        image(&pimg, Side::Primary, d.path.clone(), d.format, d.storage),
        0.0,
        y + 180.0,
    );
    b.node(
        Node::Replication(ReplicationNode {
            id: prep.clone(),
            side: Side::Primary,
            mode: ReplicationMode::Primary,
        }),
        200.0,
        y + 180.0,
    );
    b.node(
        Node::NbdClient(NbdClientNode {
            id: pnbd.clone(),
            side: Side::Primary,
        }),
        200.0,
        y + 270.0,
    );
    // Secondary column.
    let overlay = |role: &str| format!("{}/{}-{role}{i}.qcow2", overlay_dir, guest);
    b.node(device(&sdev, Side::Secondary), 560.0, y);
    b.node(quorum(&sq, Side::Secondary), 560.0, y + 90.0);
    b.node(
        Node::Replication(ReplicationNode {
            id: srep.clone(),
            side: Side::Secondary,
            mode: ReplicationMode::Secondary,
        }),
        560.0,
        y + 180.0,
    );
    b.node(
        image(
            &sact,
            Side::Secondary,
            overlay("active"),
            ImageFormat::Qcow2,
            Some(Storage::File),
        ),
        560.0,
        y + 270.0,
    );
    b.node(
        image(
            &shid,
            Side::Secondary,
            overlay("hidden"),
            ImageFormat::Qcow2,
            Some(Storage::File),
        ),
        560.0,
        y + 360.0,
    );
    let spath = d.secondary_path.clone().unwrap_or_else(|| d.path.clone());
    b.node(
        image(
            &sdisk,
            Side::Secondary,
            spath,
            d.format,
            d.secondary_storage,
        ),
        420.0,
        y + 450.0,
    );

    b.edge(EdgeKind::Attach, &pdev, &pq, None);
    b.edge(EdgeKind::Child, &pq, &pimg, Some(0));
    b.edge(EdgeKind::Child, &pq, &prep, Some(1));
    b.edge(EdgeKind::File, &prep, &pnbd, None);
    b.edge(EdgeKind::Nbd, &pnbd, &sdisk, None);
    b.edge(EdgeKind::Attach, &sdev, &sq, None);
    b.edge(EdgeKind::Child, &sq, &srep, Some(0));
    b.edge(EdgeKind::File, &srep, &sact, None);
    b.edge(EdgeKind::Backing, &sact, &shid, None);
    b.edge(EdgeKind::Backing, &shid, &sdisk, None);
}

/// Adds one protected disk to `doc` with the standard chain on both sides (what "Add
/// protected disk" does in the editor): the first index whose ids and guest target are free,
/// the first free PCI slot and function on bus 0, drawn below what is there. Returns the index.
pub fn add_protected_disk(doc: &mut Document, d: &DiskSpec, overlay_dir: &str) -> usize {
    let ids: std::collections::BTreeSet<&str> = doc.nodes.iter().map(Node::id).collect();
    let targets: std::collections::BTreeSet<&str> = doc
        .nodes
        .iter()
        .filter_map(Node::as_guest_disk)
        .map(|g| g.target.as_str())
        .collect();
    let i = (0..)
        .find(|i| {
            let t = target(*i);
            !targets.contains(t.as_str())
                && [
                    format!("pdisk{i}"),
                    format!("sdisk{i}"),
                    format!("p-{t}"),
                    format!("s-{t}"),
                ]
                .iter()
                .all(|id| !ids.contains(id.as_str()))
        })
        .unwrap_or(0);
    let used: std::collections::BTreeSet<(u32, u32)> = doc
        .nodes
        .iter()
        .filter_map(Node::as_guest_disk)
        .map(|g| (g.pci_slot, g.pci_function))
        .chain(doc.nics.iter().map(|n| (n.pci_slot, 0)))
        .collect();
    let pci = (0..8)
        .flat_map(|f| {
            (FIRST_DISK_SLOT..=0x1f)
                .chain(0x03..FIRST_DISK_SLOT)
                .map(move |s| (s, f))
        })
        .find(|p| !used.contains(p))
        .unwrap_or((FIRST_DISK_SLOT, 0));
    let y = doc
        .layout
        .positions
        .values()
        .map(|p| p.y)
        .fold(0.0_f64, f64::max)
        + 90.0;
    let mut b = Builder {
        nodes: Vec::new(),
        edges: Vec::new(),
        layout: Layout::default(),
    };
    let guest = doc.guest.name.clone();
    disk_chain(&mut b, i, d, pci, y, overlay_dir, &guest);
    doc.nodes.extend(b.nodes);
    doc.edges.extend(b.edges);
    doc.layout.positions.extend(b.layout.positions);
    i
}

/// Parses a size such as `64M`, `10G`, `512K`, `1T` or a byte count (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                'B' => 1,
                other => {
                    return Err(format!(
                        "unknown size unit {other:?} in {s:?} (use K, M, G or T)"
                    ))
                }
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("size {s:?} is not a number with an optional K/M/G/T unit"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("size {s:?} is zero or too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_count_like_libvirt() {
        assert_eq!(target(0), "vda");
        assert_eq!(target(25), "vdz");
        assert_eq!(target(26), "vdaa");
        assert_eq!(target(27), "vdab");
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
