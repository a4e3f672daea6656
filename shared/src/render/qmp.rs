//! QMP commands as typed values (`execute` + `arguments`), never string templates.
//!
//! Names and argument shapes follow QEMU 7.2's QAPI schema; the test suite checks every command
//! of every plan against `query-qmp-schema` taken from the real QEMU.

use super::qemu::BlockdevOptions;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "execute", content = "arguments", rename_all = "kebab-case")]
pub enum QmpCommand {
    #[serde(rename = "qmp_capabilities")]
    QmpCapabilities,
    QueryStatus,
    QueryVersion,
    QueryMigrate,
    QueryColoStatus,
    QueryBlockJobs,
    QueryNamedBlockNodes,
    QueryMigrateCapabilities,
    QomListTypes(QomListTypes),
    MigrateSetCapabilities(MigrateSetCapabilities),
    MigrateSetParameters(MigrateSetParameters),
    MigrateIncoming(Uri),
    Migrate(Uri),
    NbdServerStart(NbdServerStart),
    NbdServerStop,
    BlockExportAdd(BlockExportAdd),
    BlockdevAdd(BlockdevOptions),
    BlockdevDel(NodeName),
    BlockdevMirror(BlockdevMirror),
    BlockJobCancel(Device),
    XBlockdevChange(XBlockdevChange),
    XColoLostHeartbeat,
    Yank(Yank),
    QomSet(QomSet),
    ObjectAdd(serde_json::Value),
    ObjectDel(Id),
    ChardevAdd(serde_json::Value),
    ChardevRemove(Id),
    Stop,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QomListTypes {
    pub implements: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capability {
    pub capability: &'static str,
    pub state: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrateSetCapabilities {
    pub capabilities: Vec<Capability>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MigrateSetParameters {
    #[serde(rename = "x-checkpoint-delay")]
    pub x_checkpoint_delay: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uri {
    pub uri: String,
}

/// `SocketAddressLegacy` as `nbd-server-start` takes it in QEMU 7.2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NbdServerStart {
    pub addr: LegacyInetAddress,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyInetAddress {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: InetData,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InetData {
    pub host: String,
    pub port: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockExportAdd {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    #[serde(rename = "node-name")]
    pub node_name: String,
    pub name: String,
    pub writable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeName {
    #[serde(rename = "node-name")]
    pub node_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockdevMirror {
    #[serde(rename = "job-id")]
    pub job_id: String,
    pub device: String,
    pub target: String,
    pub sync: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub device: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct XBlockdevChange {
    pub parent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
}

/// `yank`: shuts down the sockets of the named instances at once, so that whatever waits on
/// them fails instead of waiting for a peer that will never answer (QEMU qapi/yank.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Yank {
    pub instances: Vec<YankInstance>,
}

impl Yank {
    /// The primary's NBD clients, one per disk (the replication legs' `file` nodes).
    pub fn primary_nbd_clients(disks: &[super::Disk]) -> Yank {
        Yank {
            instances: disks
                .iter()
                .map(|d| YankInstance {
                    kind: "block-node",
                    node_name: d.p_nbd.clone(),
                })
                .collect(),
        }
    }
}

/// A `YankInstance` of type `block-node`: an NBD client's connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YankInstance {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "node-name")]
    pub node_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QomSet {
    pub path: String,
    pub property: &'static str,
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Id {
    pub id: String,
}
