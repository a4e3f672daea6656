//! The configuration document (schema version 1): one JSON document per protected VM.
//!
//! Serde lives here and the wire format is pinned by the golden corpus in `test-data/`. Unknown
//! fields are refused everywhere, so a typo is a parse error with a line and column, never a value
//! that is silently ignored. Ranges and cross references are *not* checked at parse time: that is
//! the validator's job, which reports every problem at once with a stable code.

mod graph;

pub use graph::{is_block_edge, FnvMap, Graph};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The largest document (JSON text, in bytes) Lockstep accepts: what the server takes in one
/// request, and what a template may expand into. A 32-disk pair is about 60 KiB.
pub const MAX_DOCUMENT_BYTES: usize = 4 << 20;

/// One protected VM: the guest, the two hosts, COLO settings, NICs and the disk graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Always 1 for this version of the format.
    pub schema_version: u32,
    pub guest: Guest,
    pub hosts: Hosts,
    pub colo: ColoSettings,
    /// Guest NICs; each may carry the COLO network proxy.
    #[serde(default)]
    pub nics: Vec<Nic>,
    /// Block nodes and guest devices of both sides.
    pub nodes: Vec<Node>,
    /// Relations between nodes.
    pub edges: Vec<Edge>,
    /// Editor layout; ignored by validation and rendering.
    #[serde(default)]
    pub layout: Layout,
}

/// The guest: identical on both sides (the secondary is a migration target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    /// libvirt domain name, the same on both hosts.
    pub name: String,
    /// QEMU machine type; COLO needs i440fx (`pc` or `pc-i440fx-*`).
    pub machine: String,
    pub memory_mib: u64,
    pub vcpus: u32,
    /// RFC 4122 UUID in its 36-character text form.
    pub uuid: String,
    /// Path of the QEMU binary on both hosts.
    #[serde(default = "default_emulator")]
    pub emulator: String,
}

/// The default QEMU binary on Debian.
pub fn default_emulator() -> String {
    "/usr/bin/qemu-system-x86_64".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    pub primary: HostRef,
    pub secondary: HostRef,
}

/// A host as this document sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostRef {
    /// Registered host name (or the host's own name when used from the CLI).
    pub name: String,
    /// Replication address: IPv4, IPv6 or a DNS name the peer can reach.
    pub address: String,
    /// Directory for QMP and proxy sockets on that host.
    #[serde(default = "default_run_dir")]
    pub run_dir: String,
}

pub fn default_run_dir() -> String {
    "/run/lockstep".to_owned()
}

/// How the secondary disk gets the primary's data before replication starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InitialSync {
    /// Copy every block from primary to secondary over NBD (`blockdev-mirror sync=full`) while
    /// the primary guest is paused.
    Mirror,
    /// The operator guarantees both images already hold the same data.
    AssumeIdentical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColoSettings {
    /// TCP port on the secondary for the migration stream.
    pub migration_port: u32,
    /// TCP port on the secondary for its NBD server.
    pub nbd_port: u32,
    /// `x-checkpoint-delay` in milliseconds.
    pub checkpoint_delay_ms: u64,
    pub initial_sync: InitialSync,
}

/// A guest NIC, identical on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Stable id; the libvirt alias is `ua-<id>` and the netdev `hostua-<id>`.
    pub id: String,
    pub mac: String,
    pub model: NicModel,
    pub source: NicSource,
    /// Slot on PCI bus 0, identical on both sides.
    pub pci_slot: u32,
    /// COLO network proxy (filter-mirror, filter-redirector, filter-rewriter, colo-compare).
    #[serde(default)]
    pub proxy: Option<ColoProxy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NicModel {
    E1000,
    Rtl8139,
    Virtio,
}

/// Where the NIC's packets go on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NicSource {
    /// A host bridge (libvirt `<interface type='bridge'>`).
    Bridge { bridge: String },
    /// QEMU user networking (libvirt `<interface type='user'>`).
    User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColoProxy {
    /// Port on the primary where the secondary receives mirrored packets.
    pub mirror_port: u32,
    /// Port on the primary where the secondary sends its output for comparison.
    pub compare_port: u32,
    /// `vnet_hdr_support` on every filter and colo-compare (needed with virtio NICs).
    #[serde(default)]
    pub vnet_hdr: bool,
}

/// Which QEMU instance a node lives in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Primary,
    Secondary,
}

impl Side {
    /// The side across the pair.
    pub fn other(self) -> Side {
        match self {
            Side::Primary => Side::Secondary,
            Side::Secondary => Side::Primary,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Secondary => "secondary",
        }
    }
}

/// A node of the disk graph. The kind decides which fields exist.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Node {
    /// A disk image file: the only node that touches storage.
    Image(ImageNode),
    /// A quorum filter over ordered children.
    Quorum(QuorumNode),
    /// A replication filter (`mode` primary or secondary).
    Replication(ReplicationNode),
    /// The primary's NBD client that reaches the secondary's exported disk.
    NbdClient(NbdClientNode),
    /// The guest-visible disk device.
    GuestDisk(GuestDiskNode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    Raw,
    Qcow2,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        }
    }
}

/// What an image's path is on its host: QEMU opens a regular file with its `file` driver and a
/// block device (an LVM volume, a partition, a multipath device) with `host_device`; each driver
/// refuses the other kind (QEMU `block/file-posix.c`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// A regular file (the default).
    #[default]
    File,
    /// A block device.
    Block,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::File => "file",
            Storage::Block => "block",
        }
    }

    /// The kind a path usually is: under `/dev/` (but not the tmpfs `/dev/shm/`) a block
    /// device, anywhere else a regular file. What the wizard picks when not told.
    pub fn for_path(path: &str) -> Storage {
        if path.starts_with("/dev/") && !path.starts_with("/dev/shm/") {
            Storage::Block
        } else {
            Storage::File
        }
    }

    fn is_file(&self) -> bool {
        *self == Storage::File
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageNode {
    pub id: String,
    pub side: Side,
    /// Absolute path on that side's host.
    pub path: String,
    /// Whether the path is a regular file or a block device; `file` when absent.
    #[serde(default, skip_serializing_if = "Storage::is_file")]
    pub storage: Storage,
    /// Image format; mandatory, never probed.
    pub format: ImageFormat,
    /// Virtual size in bytes.
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReadPattern {
    Fifo,
    Quorum,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuorumNode {
    pub id: String,
    pub side: Side,
    pub vote_threshold: u32,
    pub read_pattern: ReadPattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicationMode {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplicationNode {
    pub id: String,
    pub side: Side,
    pub mode: ReplicationMode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NbdClientNode {
    pub id: String,
    pub side: Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DiskBus {
    /// `virtio-blk-pci` on PCI bus 0.
    Virtio,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuestDiskNode {
    pub id: String,
    pub side: Side,
    pub bus: DiskBus,
    /// Guest target name (`vda`, `vdb`, ...); the QEMU device id is `ua-<target>` on both sides.
    pub target: String,
    /// Slot on PCI bus 0, identical on both sides.
    pub pci_slot: u32,
    /// Function within the slot (0-7); a slot with several functions is multifunction.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pci_function: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// The kinds, as `kind` spells them.
const NODE_KINDS: &[&str] = &["image", "quorum", "replication", "nbd-client", "guest-disk"];

/// Reads a node as serde's internally tagged form would (`kind` picks the variant, whose struct
/// refuses unknown fields), through one `serde_json::Value`: each node struct then has one
/// deserializer in the browser's WebAssembly instead of one per reader and one for serde's
/// buffered content.
impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        use serde::de::{Error, Unexpected};
        let mut v = serde_json::Value::deserialize(d)?;
        let Some(fields) = v.as_object_mut() else {
            return Err(D::Error::invalid_type(
                Unexpected::Other("a value that is not an object"),
                &"a node object with a `kind`",
            ));
        };
        let kind = match fields.remove("kind") {
            Some(serde_json::Value::String(k)) => k,
            Some(other) => {
                return Err(D::Error::invalid_type(
                    Unexpected::Other(&other.to_string()),
                    &"a `kind` string",
                ))
            }
            None => return Err(D::Error::missing_field("kind")),
        };
        let node = match kind.as_str() {
            "image" => ImageNode::deserialize(&v).map(Node::Image),
            "quorum" => QuorumNode::deserialize(&v).map(Node::Quorum),
            "replication" => ReplicationNode::deserialize(&v).map(Node::Replication),
            "nbd-client" => NbdClientNode::deserialize(&v).map(Node::NbdClient),
            "guest-disk" => GuestDiskNode::deserialize(&v).map(Node::GuestDisk),
            other => return Err(D::Error::unknown_variant(other, NODE_KINDS)),
        };
        node.map_err(D::Error::custom)
    }
}

impl Node {
    pub fn id(&self) -> &str {
        match self {
            Node::Image(n) => &n.id,
            Node::Quorum(n) => &n.id,
            Node::Replication(n) => &n.id,
            Node::NbdClient(n) => &n.id,
            Node::GuestDisk(n) => &n.id,
        }
    }

    pub fn side(&self) -> Side {
        match self {
            Node::Image(n) => n.side,
            Node::Quorum(n) => n.side,
            Node::Replication(n) => n.side,
            Node::NbdClient(n) => n.side,
            Node::GuestDisk(n) => n.side,
        }
    }

    /// The kind as written in the document.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::Image(_) => "image",
            Node::Quorum(_) => "quorum",
            Node::Replication(_) => "replication",
            Node::NbdClient(_) => "nbd-client",
            Node::GuestDisk(_) => "guest-disk",
        }
    }

    pub fn as_image(&self) -> Option<&ImageNode> {
        match self {
            Node::Image(n) => Some(n),
            Node::Quorum(_) | Node::Replication(_) | Node::NbdClient(_) | Node::GuestDisk(_) => {
                None
            }
        }
    }

    pub fn as_quorum(&self) -> Option<&QuorumNode> {
        match self {
            Node::Quorum(n) => Some(n),
            Node::Image(_) | Node::Replication(_) | Node::NbdClient(_) | Node::GuestDisk(_) => None,
        }
    }

    pub fn as_replication(&self) -> Option<&ReplicationNode> {
        match self {
            Node::Replication(n) => Some(n),
            Node::Image(_) | Node::Quorum(_) | Node::NbdClient(_) | Node::GuestDisk(_) => None,
        }
    }

    pub fn as_nbd_client(&self) -> Option<&NbdClientNode> {
        match self {
            Node::NbdClient(n) => Some(n),
            Node::Image(_) | Node::Quorum(_) | Node::Replication(_) | Node::GuestDisk(_) => None,
        }
    }

    pub fn as_guest_disk(&self) -> Option<&GuestDiskNode> {
        match self {
            Node::GuestDisk(n) => Some(n),
            Node::Image(_) | Node::Quorum(_) | Node::Replication(_) | Node::NbdClient(_) => None,
        }
    }

    /// Whether this node becomes a QEMU block node (everything but guest devices).
    pub fn is_block_node(&self) -> bool {
        match self {
            Node::GuestDisk(_) => false,
            Node::Image(_) | Node::Quorum(_) | Node::Replication(_) | Node::NbdClient(_) => true,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// Quorum to child; `index` orders the children.
    Child,
    /// Filter to what it filters.
    File,
    /// qcow2 overlay to its backing node.
    Backing,
    /// The primary's NBD client to the secondary's exported disk (the one cross-host edge).
    Nbd,
    /// Guest device to its root block node.
    Attach,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Child => "child",
            EdgeKind::File => "file",
            EdgeKind::Backing => "backing",
            EdgeKind::Nbd => "nbd",
            EdgeKind::Attach => "attach",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub id: String,
    pub kind: EdgeKind,
    pub from: String,
    pub to: String,
    /// Position among a quorum's children (child edges only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// Editor positions, keyed by node id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    #[serde(default)]
    pub positions: BTreeMap<String, Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// A parse failure with the parser's position (1-based line and column) and what is wrong
/// (the message, without the position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

impl Document {
    /// Parses a document from JSON text; never panics.
    pub fn from_json(text: &str) -> Result<Document, ParseError> {
        serde_json::from_str(text).map_err(|e| {
            // serde_json's text ends with " at line L column C"; the position has its fields.
            let mut message = e.to_string();
            let at = format!(" at line {} column {}", e.line(), e.column());
            if message.ends_with(&at) {
                message.truncate(message.len() - at.len());
            }
            ParseError {
                line: e.line(),
                column: e.column(),
                message,
            }
        })
    }

    /// A document from a JSON value (a template's body with its values filled in), read as
    /// JSON text so that documents have one reader in the browser's WebAssembly; the error's
    /// position is that of the compact text, so only its message is meaningful.
    pub fn from_value(v: &serde_json::Value) -> Result<Document, ParseError> {
        Document::from_json(&crate::json::compact(v))
    }

    /// Pretty JSON with a trailing newline: the canonical form written by the CLI and the corpus.
    pub fn to_json_pretty(&self) -> String {
        let mut s = crate::json::pretty(self);
        s.push('\n');
        s
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id() == id)
    }
}

/// The JSON Schema of the document, generated from these types.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Document);
    serde_json::to_value(schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_give_the_position_once() {
        let e = Document::from_json("{\n  \"schema_version\": \"one\"\n}").expect_err("a string");
        assert_eq!((e.line, e.column), (2, 25), "{e}");
        assert!(e.message.starts_with("invalid type: string \"one\""), "{e}");
        assert!(!e.message.contains("line"), "{e}");
        assert_eq!(e.to_string(), format!("line 2, column 25: {}", e.message));
    }

    #[test]
    fn a_document_read_from_a_value_is_the_one_read_from_its_text() {
        let text = crate::json::pretty(&crate::wizard::standard_pair(
            &crate::wizard::example_input("g", 2),
        ));
        let from_text = Document::from_json(&text).expect("text");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(Document::from_value(&value).expect("value"), from_text);
        let e = Document::from_value(&serde_json::json!({"schema_version": 1, "colour": 3}))
            .expect_err("unknown field");
        assert!(e.message.starts_with("unknown field `colour`"), "{e}");
    }
}
