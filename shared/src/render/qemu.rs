//! Typed QEMU configuration shared by the domain XML, the command line and the QMP plan:
//! `-blockdev` options, chardevs, QOM objects and guest devices of one side.
//!
//! The same value renders as a command-line option (JSON for `-blockdev`, escaped `key=value`
//! otherwise) and as QMP arguments, so what the plan adds at run time matches what a command
//! line would have created.

use super::escape::QemuOpts;
use super::names::{self, ProxyNames, IOTHREAD};
use super::Validated;
use crate::model::{ImageFormat, ImageNode, Nic, NicModel, NicSource, Side, Storage};
use serde::Serialize;

/// `BlockdevOptions`, keyed by `driver` (QAPI `block-core.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "driver", rename_all = "kebab-case")]
pub enum BlockdevOptions {
    File {
        filename: String,
    },
    /// A block device (`host_device`; the `file` driver refuses one).
    #[serde(rename = "host_device")]
    HostDevice {
        filename: String,
    },
    Qcow2 {
        #[serde(rename = "node-name")]
        node_name: String,
        file: Box<BlockdevRef>,
        #[serde(skip_serializing_if = "Option::is_none")]
        backing: Option<String>,
    },
    Raw {
        #[serde(rename = "node-name")]
        node_name: String,
        file: Box<BlockdevRef>,
    },
    Quorum {
        #[serde(rename = "node-name")]
        node_name: String,
        children: Vec<String>,
        #[serde(rename = "vote-threshold")]
        vote_threshold: u32,
        #[serde(rename = "read-pattern")]
        read_pattern: &'static str,
    },
    Replication {
        #[serde(rename = "node-name")]
        node_name: String,
        mode: &'static str,
        #[serde(rename = "top-id", skip_serializing_if = "Option::is_none")]
        top_id: Option<String>,
        file: Box<BlockdevRef>,
    },
    Nbd {
        #[serde(rename = "node-name")]
        node_name: String,
        server: InetSocketAddress,
        export: String,
    },
}

/// A reference to a node by name, or a node defined inline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BlockdevRef {
    Name(String),
    Inline(BlockdevOptions),
}

/// `SocketAddress` of type inet (flat form, as `blockdev-add` takes it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InetSocketAddress {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub host: String,
    pub port: String,
}

impl InetSocketAddress {
    pub fn new(host: &str, port: u32) -> InetSocketAddress {
        InetSocketAddress {
            kind: "inet",
            host: host.to_owned(),
            port: port.to_string(),
        }
    }
}

/// An image node: the format node named after the image, over an inline protocol node of the
/// storage's kind (`file` or `host_device`).
pub fn image(img: &ImageNode, backing: Option<&str>) -> BlockdevOptions {
    let filename = img.path.clone();
    let file = Box::new(BlockdevRef::Inline(match img.storage {
        Storage::File => BlockdevOptions::File { filename },
        Storage::Block => BlockdevOptions::HostDevice { filename },
    }));
    let node_name = names::node_name(&img.id).to_owned();
    match img.format {
        ImageFormat::Qcow2 => BlockdevOptions::Qcow2 {
            node_name,
            file,
            backing: backing.map(str::to_owned),
        },
        ImageFormat::Raw => BlockdevOptions::Raw { node_name, file },
    }
}

/// The NBD client of a disk's remote leg.
pub fn nbd_client(v: &Validated, node: &str, secondary_disk: &str) -> BlockdevOptions {
    BlockdevOptions::Nbd {
        node_name: names::node_name(node).to_owned(),
        server: InetSocketAddress::new(v.address(Side::Secondary), v.doc().colo.nbd_port),
        export: names::export_name(secondary_disk).to_owned(),
    }
}

/// The primary's remote leg: replication (mode primary) over the NBD client, added at run time.
pub fn primary_replication(v: &Validated, d: &super::Disk) -> BlockdevOptions {
    BlockdevOptions::Replication {
        node_name: names::node_name(&d.p_replication).to_owned(),
        mode: "primary",
        top_id: None,
        file: Box::new(BlockdevRef::Inline(nbd_client(v, &d.p_nbd, &d.s_disk.id))),
    }
}

/// `-blockdev` nodes present when a side's QEMU starts, in dependency order.
pub fn startup_blockdevs(v: &Validated, side: Side) -> Vec<BlockdevOptions> {
    let mut out = Vec::new();
    for d in v.disks() {
        match side {
            Side::Primary => {
                out.push(image(&d.p_local, None));
                // The remote leg (children.1) is attached at run time with x-blockdev-change.
                out.push(BlockdevOptions::Quorum {
                    node_name: d.p_quorum.clone(),
                    children: vec![d.p_local.id.clone()],
                    vote_threshold: 1,
                    read_pattern: "fifo",
                });
            }
            Side::Secondary => {
                out.push(image(&d.s_disk, None));
                out.push(image(&d.s_hidden, Some(&d.s_disk.id)));
                out.push(image(&d.s_active, Some(&d.s_hidden.id)));
                out.push(BlockdevOptions::Replication {
                    node_name: d.s_replication.clone(),
                    mode: "secondary",
                    top_id: Some(d.s_quorum.clone()),
                    file: Box::new(BlockdevRef::Name(d.s_active.id.clone())),
                });
                out.push(BlockdevOptions::Quorum {
                    node_name: d.s_quorum.clone(),
                    children: vec![d.s_replication.clone()],
                    vote_threshold: 1,
                    read_pattern: "fifo",
                });
            }
        }
    }
    out
}

/// `-device` strings of the guest disks (identical on both sides, by construction).
pub fn disk_devices(v: &Validated, side: Side) -> Vec<String> {
    v.disks()
        .iter()
        .map(|d| {
            let root = match side {
                Side::Primary => &d.p_quorum,
                Side::Secondary => &d.s_quorum,
            };
            let mut o = QemuOpts::new("virtio-blk-pci")
                .kv("drive", root)
                .kv("id", &names::disk_device_id(&d.target))
                .kv("bus", "pci.0");
            o = if d.pci_function == 0 {
                o.kv("addr", &format!("{:#04x}", d.pci_slot))
            } else {
                o.kv(
                    "addr",
                    &format!("{:#04x}.{:#x}", d.pci_slot, d.pci_function),
                )
            };
            if d.multifunction {
                o = o.kv("multifunction", "on");
            }
            o.finish()
        })
        .collect()
}

/// A socket chardev.
#[derive(Debug, Clone, PartialEq)]
pub struct Chardev {
    pub id: String,
    pub addr: ChardevAddr,
    /// Listening side; servers never wait for a peer (`wait=off`).
    pub server: bool,
    /// Client reconnect interval in seconds (QEMU 7.2 `reconnect`).
    pub reconnect: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChardevAddr {
    Inet { host: String, port: u32 },
    Unix { path: String },
}

impl Chardev {
    /// The `-chardev` option string.
    pub fn opts(&self) -> String {
        let mut o = QemuOpts::new("socket").kv("id", &self.id);
        match &self.addr {
            ChardevAddr::Inet { host, port } => {
                o = o
                    .kv("host", host)
                    .kv("port", &port.to_string())
                    .kv("nodelay", "on");
            }
            ChardevAddr::Unix { path } => o = o.kv("path", path),
        }
        if self.server {
            o = o.kv("server", "on").kv("wait", "off");
        }
        if let Some(r) = self.reconnect {
            o = o.kv("reconnect", &r.to_string());
        }
        o.finish()
    }

    /// The `chardev-add` arguments.
    pub fn qmp_args(&self) -> serde_json::Value {
        let addr = match &self.addr {
            ChardevAddr::Inet { host, port } => serde_json::json!({
                "type": "inet", "data": {"host": host, "port": port.to_string()}
            }),
            ChardevAddr::Unix { path } => {
                serde_json::json!({"type": "unix", "data": {"path": path}})
            }
        };
        let mut data = serde_json::json!({"addr": addr, "server": self.server});
        if let Some(obj) = data.as_object_mut() {
            if matches!(self.addr, ChardevAddr::Inet { .. }) {
                obj.insert("nodelay".into(), true.into());
            }
            if self.server {
                obj.insert("wait".into(), false.into());
            }
            if let Some(r) = self.reconnect {
                obj.insert("reconnect".into(), r.into());
            }
        }
        serde_json::json!({"id": self.id, "backend": {"type": "socket", "data": data}})
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// QOM objects of the COLO proxy (QAPI `qom.json` `ObjectOptions`, keyed by `qom-type`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "qom-type", rename_all = "kebab-case")]
pub enum QomObject {
    FilterMirror {
        id: String,
        netdev: String,
        queue: &'static str,
        outdev: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<&'static str>,
        #[serde(skip_serializing_if = "is_false")]
        vnet_hdr_support: bool,
    },
    FilterRedirector {
        id: String,
        netdev: String,
        queue: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        indev: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        outdev: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<&'static str>,
        #[serde(skip_serializing_if = "is_false")]
        vnet_hdr_support: bool,
    },
    FilterRewriter {
        id: String,
        netdev: String,
        queue: &'static str,
        #[serde(skip_serializing_if = "is_false")]
        vnet_hdr_support: bool,
    },
    ColoCompare {
        id: String,
        primary_in: String,
        secondary_in: String,
        outdev: String,
        iothread: String,
        #[serde(skip_serializing_if = "is_false")]
        vnet_hdr_support: bool,
    },
    Iothread {
        id: String,
    },
}

impl QomObject {
    pub fn id(&self) -> &str {
        match self {
            QomObject::FilterMirror { id, .. }
            | QomObject::FilterRedirector { id, .. }
            | QomObject::FilterRewriter { id, .. }
            | QomObject::ColoCompare { id, .. }
            | QomObject::Iothread { id } => id,
        }
    }

    /// The `-object` option string: the qom-type, then every property, escaped.
    pub fn opts(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        let mut out = String::new();
        if let Some(map) = value.as_object() {
            for (k, v) in map {
                let text = match v {
                    serde_json::Value::Bool(true) => "on".to_owned(),
                    serde_json::Value::Bool(false) => "off".to_owned(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if k == "qom-type" {
                    out.push_str(&super::escape::qemu_value(&text));
                } else {
                    out.push(',');
                    out.push_str(k);
                    out.push('=');
                    out.push_str(&super::escape::qemu_value(&text));
                }
            }
        }
        out
    }
}

/// The COLO proxy of one NIC on one side: chardevs, then objects in creation order.
pub fn proxy(v: &Validated, nic: &Nic, side: Side) -> (Vec<Chardev>, Vec<QomObject>) {
    let Some(p) = &nic.proxy else {
        return (Vec::new(), Vec::new());
    };
    let n = ProxyNames::new(v.doc(), &nic.id);
    let netdev = names::netdev_id(&nic.id);
    let paddr = v.address(Side::Primary).to_owned();
    let vnet = p.vnet_hdr;
    match side {
        Side::Primary => {
            let inet = |id: &str, port| Chardev {
                id: id.to_owned(),
                addr: ChardevAddr::Inet {
                    host: paddr.clone(),
                    port,
                },
                server: true,
                reconnect: None,
            };
            let unix = |id: &str, path: &str, server| Chardev {
                id: id.to_owned(),
                addr: ChardevAddr::Unix {
                    path: path.to_owned(),
                },
                server,
                reconnect: None,
            };
            let chardevs = vec![
                inet(&n.mirror, p.mirror_port),
                inet(&n.compare_in, p.compare_port),
                unix(&n.compare0, &n.compare0_path, true),
                unix(&n.compare0_client, &n.compare0_path, false),
                unix(&n.out, &n.out_path, true),
                unix(&n.out_client, &n.out_path, false),
            ];
            let objects = vec![
                // Peer-facing filters start off and are switched on once migration runs
                // (rule 38, colod practice).
                QomObject::FilterMirror {
                    id: n.filter_mirror.clone(),
                    netdev: netdev.clone(),
                    queue: "tx",
                    outdev: n.mirror.clone(),
                    status: Some("off"),
                    vnet_hdr_support: vnet,
                },
                QomObject::FilterRedirector {
                    id: n.redirect_out.clone(),
                    netdev: netdev.clone(),
                    queue: "rx",
                    indev: Some(n.out.clone()),
                    outdev: None,
                    status: None,
                    vnet_hdr_support: vnet,
                },
                QomObject::FilterRedirector {
                    id: n.redirect_in.clone(),
                    netdev,
                    queue: "rx",
                    indev: None,
                    outdev: Some(n.compare0.clone()),
                    status: Some("off"),
                    vnet_hdr_support: vnet,
                },
                QomObject::ColoCompare {
                    id: n.compare.clone(),
                    primary_in: n.compare0_client.clone(),
                    secondary_in: n.compare_in.clone(),
                    outdev: n.out_client.clone(),
                    iothread: IOTHREAD.to_owned(),
                    vnet_hdr_support: vnet,
                },
            ];
            (chardevs, objects)
        }
        Side::Secondary => {
            let client = |id: &str, port| Chardev {
                id: id.to_owned(),
                addr: ChardevAddr::Inet {
                    host: paddr.clone(),
                    port,
                },
                server: false,
                reconnect: Some(1),
            };
            let chardevs = vec![
                client(&n.red0, p.mirror_port),
                client(&n.red1, p.compare_port),
            ];
            let objects = vec![
                QomObject::FilterRedirector {
                    id: n.f1.clone(),
                    netdev: netdev.clone(),
                    queue: "tx",
                    indev: Some(n.red0.clone()),
                    outdev: None,
                    status: None,
                    vnet_hdr_support: vnet,
                },
                QomObject::FilterRedirector {
                    id: n.f2.clone(),
                    netdev: netdev.clone(),
                    queue: "rx",
                    indev: None,
                    outdev: Some(n.red1.clone()),
                    status: None,
                    vnet_hdr_support: vnet,
                },
                QomObject::FilterRewriter {
                    id: n.rewriter.clone(),
                    netdev,
                    queue: "all",
                    vnet_hdr_support: vnet,
                },
            ];
            (chardevs, objects)
        }
    }
}

/// `-netdev` and `-device` strings of a NIC for the command-line preview (libvirt writes its
/// own for the domain XML; the ids are the same).
pub fn nic_options(nic: &Nic) -> (String, String) {
    let netdev_id = names::netdev_id(&nic.id);
    let netdev = match &nic.source {
        NicSource::Bridge { bridge } => QemuOpts::new("bridge")
            .kv("id", &netdev_id)
            .kv("br", bridge)
            .finish(),
        NicSource::User => QemuOpts::new("user").kv("id", &netdev_id).finish(),
    };
    let model = match nic.model {
        NicModel::E1000 => "e1000",
        NicModel::Rtl8139 => "rtl8139",
        NicModel::Virtio => "virtio-net-pci",
    };
    let device = QemuOpts::new(model)
        .kv("netdev", &netdev_id)
        .kv("id", &names::nic_alias(&nic.id))
        .kv("mac", &nic.mac.to_ascii_lowercase())
        .kv("bus", "pci.0")
        .kv("addr", &format!("{:#04x}", nic.pci_slot))
        .finish();
    (netdev, device)
}

/// The orchestrator's private QMP monitor: `-chardev` and `-mon` options.
pub fn qmp_monitor(v: &Validated, side: Side) -> (String, String) {
    let chardev = QemuOpts::new("socket")
        .kv("id", names::QMP_CHARDEV)
        .kv("path", &names::qmp_socket(v.doc(), side))
        .kv("server", "on")
        .kv("wait", "off")
        .finish();
    let mon = QemuOpts::kv_first("chardev", names::QMP_CHARDEV)
        .kv("mode", "control")
        .finish();
    (chardev, mon)
}

/// `qemu:commandline` / command-line arguments shared by the XML and the preview: block graph,
/// guest disks, proxy, QMP monitor and (secondary) `-incoming defer`.
pub fn colo_args(v: &Validated, side: Side) -> Vec<String> {
    let mut args = Vec::new();
    for b in startup_blockdevs(v, side) {
        args.push("-blockdev".to_owned());
        args.push(crate::json::compact(&b));
    }
    for d in disk_devices(v, side) {
        args.push("-device".to_owned());
        args.push(d);
    }
    for nic in &v.doc().nics {
        let (chardevs, objects) = proxy(v, nic, side);
        for c in chardevs {
            args.push("-chardev".to_owned());
            args.push(c.opts());
        }
        for o in objects {
            args.push("-object".to_owned());
            args.push(o.opts());
        }
    }
    let (chardev, mon) = qmp_monitor(v, side);
    args.extend(["-chardev".to_owned(), chardev, "-mon".to_owned(), mon]);
    match side {
        Side::Primary => {}
        Side::Secondary => args.extend(["-incoming".to_owned(), "defer".to_owned()]),
    }
    args
}
