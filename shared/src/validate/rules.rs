//! The rules table: every code the validator emits, and where each COLO rule that is not a
//! document check is enforced instead; [`SOURCES`] says where each rule comes from.
//!
//! `docs/rules.md` is generated from this table (`UPDATE_GOLDEN=1 cargo test -p lockstep-shared`)
//! and a test fails when it is stale or when a code is emitted that is not listed here.

/// Where a rule is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// A validator function emits the code.
    Validator,
    /// The renderer derives the values, so a document cannot get them wrong.
    Construction,
    /// The QMP plan and runbooks carry it out in the required order.
    Plan,
    /// Needs every configuration of a team: `validate::cross`, run by the server on save.
    Server,
}

#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    /// Stable code, or `-` for rules that no document check emits.
    pub code: &'static str,
    /// Number of the COLO rule it belongs to (several codes can share one), 0 for checks
    /// Lockstep adds.
    pub reference: u32,
    pub coverage: Coverage,
    pub rule: &'static str,
    pub why: &'static str,
    pub source: &'static str,
}

const fn v(
    code: &'static str,
    reference: u32,
    rule: &'static str,
    why: &'static str,
    source: &'static str,
) -> RuleInfo {
    RuleInfo {
        code,
        reference,
        coverage: Coverage::Validator,
        rule,
        why,
        source,
    }
}

const fn s(
    code: &'static str,
    reference: u32,
    rule: &'static str,
    why: &'static str,
    source: &'static str,
) -> RuleInfo {
    RuleInfo {
        code,
        reference,
        coverage: Coverage::Server,
        rule,
        why,
        source,
    }
}

const fn o(
    coverage: Coverage,
    reference: u32,
    rule: &'static str,
    why: &'static str,
    source: &'static str,
) -> RuleInfo {
    RuleInfo {
        code: "-",
        reference,
        coverage,
        rule,
        why,
        source,
    }
}

use Coverage::{Construction, Plan};

pub const RULES: &[RuleInfo] = &[
    v("E001", 1, "the block graph (child, file, backing) has no cycle", "QEMU resolves references at open time; replication walks file→backing→backing", "[S4]"),
    v("E002", 2, "every edge names existing nodes", "each missing name is a hard error at start or at the QMP step", "[S4, S5, S8, S10]"),
    v("E003", 3, "node, edge and NIC ids are unique", "\"Duplicate node name\"; ids are how every reference is rendered", "[S15]"),
    v("E004", 4, "ids do not clash with libvirt-generated or Lockstep-derived names", "libvirt owns `libvirt-N-*`, `hostnet0`, `virtio-disk0`, `iothread1`; device ids are `ua-*`", "[L6, T3-301]"),
    v("E005", 5, "guest targets and NIC ids become valid, unique `ua-` aliases", "libvirt silently drops malformed aliases and rejects duplicates", "[L1, L3]"),
    v("E006", 6, "each guest disk is attached to one quorum; quorums are fifo with vote_threshold 1; primary child 0 is the local image", "fifo keeps reads local; threshold 1 keeps writes going when the remote leg fails", "[S1, S2, S5]"),
    v("E007", 7, "quorum parameters are legal: ≥1 child, 1 ≤ threshold ≤ children, child indexes 0..n", "QEMU refuses other quorums", "[S5]"),
    v("E008", 8, "exactly one remote leg per primary disk", "\"There should be only one NBD Client for each primary disk\"", "[S1, S2]"),
    v("E009", 9, "primary replication: mode primary, one file edge to an NBD client, child of one quorum", "replication.c refuses top-id in primary mode; the leg forwards writes over NBD", "[S4]"),
    v("E010", 10, "each NBD client exports its own secondary disk (export name = disk node name)", "export names must match on both sides and be unique per disk", "[S1]"),
    v("E011", 11, "primary image size equals the secondary disk size", "quorum refuses children of different length (-EIO)", "[S5]"),
    v("E012", 12, "the remote leg is the last quorum child and can be removed without going below the threshold", "x-blockdev-change removes children.N; removal below vote-threshold is refused", "[S5, S7]"),
    v("E013", 13, "secondary replication has mode secondary", "\"Missing the option top-id\"; top-id is rendered from the quorum above", "[S4]"),
    v("E014", 14, "secondary replication is child 0 of one quorum attached to a guest disk (the top-id root)", "\"No top_bs or it is invalid\"", "[S4]"),
    v("E015", 15, "chain: replication.file = active, active.backing = hidden, hidden.backing = secondary disk", "the start checks and backup/commit jobs use exactly these positions", "[S4, S1]"),
    v("E016", 16, "active and hidden images are qcow2", "\"Active disk or hidden disk doesn't support make_empty\"", "[S4, S1]"),
    v("E017", 17, "active, hidden and secondary disk have the same virtual size", "\"Active disk, hidden disk, secondary disk's length are not the same\"", "[S4, S1]"),
    v("E018", 18, "active and hidden have their own files (they are recreated empty at every start)", "recreating an overlay on another image's path destroys it", "[S1, T1]"),
    v("W018", 18, "active and hidden live on tmpfs", "\"It is better to put active disk and hidden disk in ramdisk\"", "[S1, S2]"),
    v("E019", 19, "the secondary disk is exported to exactly one NBD client and not attached to a device", "the primary writes into it over NBD; an export gives it the BlockBackend replication needs", "[S1, S2, S4]"),
    v("E020", 20, "the secondary quorum has exactly one child, the replication node, at index 0", "needed to promote the secondary and continue replication", "[S1]"),
    v("E021", 21, "on one host, the secondary never uses a primary image's file", "\"Qemu can't allow 2 VM touch 1 image\"", "[S13]"),
    v("W021", 21, "primary and secondary are different hosts", "one host is one failure domain", "Lockstep"),
    v("E022", 22, "guest disks pair up by target with the same bus and PCI slot, replicating the same disk", "the secondary is a migration target", "[T3-370]"),
    v("E023", 23, "machine type is i440fx (`pc`, `pc-i440fx-*`)", "q35's AHCI crashes when its vmstate is loaded more than once", "[S14]"),
    o(Plan, 24, "no hot-plug of protected disks while protected", "assertion crash on an incoming secondary", "[T3-363]"),
    o(Construction, 25, "no device that needs RAM discard on the secondary", "\"COLO: cannot disable RAM discard\"; the XML has no balloon and no virtio-mem", "[S19]"),
    o(Plan, 26, "x-colo on both sides; the secondary starts with -incoming defer and gets x-colo before migrate-incoming", "ENABLE_COLO fails otherwise", "[S12, S13, S19]"),
    o(Plan, 27, "return-path stays off", "conflicts with COLO's own return channel", "[T3-362]"),
    v("E028", 28, "checkpoint delay fits QEMU's uint32 (at most 4294967295 ms)", "x-checkpoint-delay is a uint32 in ms; QEMU refuses larger values", "[S6, S11]"),
    v("W028", 28, "checkpoint delay within 100..60000 ms", "0 is legal but makes checkpoints back to back (the guest is paused most of the time); default 20000, documented example 2000, test 300", "[S2, S11, S14]"),
    o(Plan, 29, "the QEMU build supports COLO (x-colo, colo-compare present)", "checked by the plan's capability queries on each side", "[S12, S19]"),
    v("W030", 30, "a NIC has the COLO proxy (vhost off and one queue hold by construction)", "without the proxy the secondary's packets reach clients unchecked", "[S9, S10]"),
    v("E031", 31, "a virtio NIC's proxy has vnet_hdr", "filters misparse packets with vnet headers otherwise", "[S9, T3-340]"),
    v("W031", 31, "vnet_hdr only with virtio NICs", "non-virtio NICs carry no vnet header", "[S9]"),
    o(Construction, 32, "each filter's netdev is the NIC's real netdev id (`hostua-<nic>`)", "derived in render::names", "[S10, L6]"),
    o(Construction, 33, "redirectors have indev/outdev, never the same chardev for both", "derived in render::names", "[S8]"),
    o(Construction, 34, "colo-compare has primary_in, secondary_in, outdev and libvirt's iothread1", "derived in render::names; the iothread is declared by libvirt only", "[S8, T3-301]"),
    o(Construction, 35, "chardev pairs match between primary and secondary", "derived in render::names", "[S2, S9]"),
    o(Construction, 36, "servers never block (wait=off); secondary clients reconnect", "QEMU would block start-up while libvirt waits", "[S9]"),
    o(Plan, 37, "on a promoted node, new filters go before the rewriter", "carried out by the runbooks that add filters", "[S2]"),
    o(Plan, 38, "the mirror and primary-in redirector start off and are switched on after migration starts", "premature activation fails", "[T1, T3]"),
    v("E039", 39, "ports are 1..65535 and unique per host within the configuration", "\"4 tcp ports that are unique for each instance\"", "[T1, S2]"),
    v("W039", 39, "ports are not privileged (< 1024)", "system services hold those", "Lockstep"),
    s("E070", 39, "a port is not used by two configurations on one host", "\"4 tcp ports that are unique for each instance\"", "[T1]"),
    s("E071", 0, "an image file is not used by two configurations on one host", "two VMs on one image corrupt it", "[S13]"),
    s("E072", 0, "a guest (libvirt domain) name is not used by two configurations on one host", "libvirt domain names are unique per host; sockets are named after the guest", "libvirt"),
    o(Construction, 40, "one NBD server per QEMU, one export per disk", "the plan starts the server once", "[S1, S2]"),
    v("E041", 41, "explicit PCI slots 0x03..0x1f, unique per side", "libvirt cannot see qemu:commandline devices", "[L2]"),
    o(Plan, 42, "re-protection only after a full resync", "the re-protect runbook mirrors sync=full before attaching the leg", "[S7, S2, T1]"),
    o(Plan, 43, "after secondary loss the remote leg is removed first", "the failover-to-primary runbook removes children.N before anything else", "[S4, S1]"),
    v("E044", 0, "ids are well-formed QEMU ids; block node ids have at most 31 characters", "\"Node name too long\"; QEMU's id_wellformed", "[S15]"),
    v("E046", 0, "edges connect the kinds of node they are defined for", "the graph would not render into a QEMU block graph", "Lockstep"),
    v("E047", 0, "only the nbd edge crosses hosts, from primary to secondary", "each QEMU only sees its own nodes", "Lockstep"),
    v("E048", 0, "each image is used once and has its own file", "two parents or two nodes on one file corrupt it", "[S13]"),
    v("E050", 0, "paths are absolute and free of control characters", "such a path cannot be rendered safely", "Lockstep"),
    v("E051", 0, "the guest name is a valid libvirt domain name", "libvirt refuses '/' and control characters", "libvirt"),
    v("E052", 0, "replication addresses are IP addresses or DNS names", "QEMU's NBD and migration URIs need a host", "Lockstep"),
    v("E053", 0, "MAC addresses are valid, unicast and unique", "libvirt and QEMU refuse others", "libvirt"),
    v("E054", 0, "the UUID is a valid UUID", "libvirt refuses others", "libvirt"),
    v("E055", 0, "socket paths fit in sun_path (107 bytes)", "QEMU cannot bind longer unix socket paths", "Linux unix(7)"),
    v("E056", 0, "bridge names are valid Linux interface names", "libvirt cannot attach otherwise", "Linux"),
    v("E057", 0, "memory and vCPU counts are within range", "QEMU refuses 0", "Lockstep"),
    v("E058", 0, "schema_version is 1", "the format this build understands", "Lockstep"),
    v("W059", 0, "initial sync assumes identical images", "nothing checks the images really match; divergence is silent", "[S1, S13]"),
    v("E060", 0, "host names are printable", "they appear in logs and plans", "Lockstep"),
    v("E062", 0, "each side has at least one guest disk", "there is nothing to protect otherwise", "Lockstep"),
    v("W063", 0, "every node is reachable from a guest disk", "unreachable nodes are not rendered", "Lockstep"),
    v("E064", 18, "active and hidden overlays are files, not block devices", "the plan recreates them empty with `qemu-img create` at every start", "[S1]"),
    v("W065", 0, "an image's storage kind (file or block device) agrees with its path", "QEMU's `file` driver refuses a block device and `host_device` a regular file", "[S20]"),
];

/// Where the rules come from: the sources cited as `[S4]` and so on in [`RULES`]. QEMU paths
/// are in the QEMU source tree (<https://gitlab.com/qemu-project/qemu>), libvirt paths in
/// libvirt's (<https://gitlab.com/libvirt/libvirt>).
pub const SOURCES: &[(&str, &str)] = &[
    ("S1", "QEMU `docs/block-replication.txt`: design, workflow and usage of block replication"),
    ("S2", "QEMU `docs/COLO-FT.txt`: COLO architecture, test procedure, failover and resume"),
    ("S4", "QEMU `block/replication.c`: the replication filter's options and run-time checks"),
    ("S5", "QEMU `block/quorum.c`: quorum option checks, `quorum_add_child` / `quorum_del_child`, the length check"),
    ("S6", "QEMU `qapi/migration.json`: `x-colo`, `x-checkpoint-delay` (uint32), `query-colo-status`, `x-colo-lost-heartbeat`"),
    ("S7", "QEMU `qapi/block-core.json`: `BlockdevOptionsReplication`, `x-blockdev-change`"),
    ("S8", "QEMU `qapi/qom.json`: properties of filter-mirror, filter-redirector, filter-rewriter and colo-compare"),
    ("S9", "QEMU `docs/colo-proxy.txt`: the COLO network proxy"),
    ("S10", "QEMU `net/filter.c` (`netfilter_complete`): filters refuse vhost and multiqueue netdevs"),
    ("S11", "QEMU `migration/options.c` (older releases: `migration/migration.c`): `DEFAULT_MIGRATE_X_CHECKPOINT_DELAY`, 20000 ms"),
    ("S12", "qemu-devel, V. Sementsov-Ogievskiy, April-May 2023: COLO commands only with `CONFIG_REPLICATION`; `x-colo` required on the migration target too"),
    ("S13", "qemu-devel thread \"migration: Threadify loadvm process\", October 2025: `-incoming defer` with `x-colo` before migrating; a separate image per QEMU instance"),
    ("S14", "qemu-devel thread on the \"COLO migration test\" patch, December 2025 - January 2026: q35 unsupported (AHCI vmstate), `x-checkpoint-delay` 300 in tests"),
    ("S15", "QEMU `block.c` (`bdrv_assign_node_name`): node names are well formed, unique, at most 31 characters"),
    ("S19", "QEMU `migration/migration.c` (`migration_incoming_enable_colo`): replication module, `x-colo` and RAM discard checks"),
    ("S20", "QEMU `block/file-posix.c`: the `file` driver refuses block devices, `host_device` refuses regular files"),
    ("L1", "libvirt `docs/formatdomain.rst`: device aliases (`ua-` prefix), disks, targets"),
    ("L2", "libvirt `docs/drvqemu.rst`: `<qemu:commandline>`, `<qemu:override>`, monitor passthrough; devices passed this way are invisible to libvirt's address assignment"),
    ("L3", "libvirt `src/conf/schemas/domaincommon.rng`: the domain XML schema (alias pattern, qemu namespace)"),
    ("L6", "libvirt `src/qemu/qemu_command.c`: the names libvirt generates (`libvirt-N-format`, `hostnet0`, `host<alias>`, `iothread1`)"),
    ("T1", "colod, the COLO heartbeat daemon and Pacemaker agent: <https://github.com/lukasstraub2/colo-heartbeat-daemon>"),
    ("T3", "ABLESTACK FTCTL design notes (a COLO manager on libvirt), `docs/ftctl/` in <https://github.com/dhslove/ablestack-qemu-exec-tools>; `T3-301` is note 301"),
];

/// `docs/rules.md`, generated from [`RULES`] and [`SOURCES`].
pub fn rules_markdown() -> String {
    let mut s = String::from(
        "# Validation rules\n\n\
         Generated from `shared/src/validate/rules.rs` (`UPDATE_GOLDEN=1 cargo test -p \
         lockstep-shared`). `E` codes are errors (a version with errors cannot be deployed), `W` \
         codes are warnings. \"#\" numbers the COLO rule a code belongs to (several codes can \
         share one; 0: a check Lockstep adds). Rules without a code are not document checks; \
         \"enforced by\" says where they hold. The sources are listed below the table.\n\n\
         | code | # | rule | why | source | enforced by |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in RULES {
        let by = match r.coverage {
            Coverage::Validator => "validator",
            Coverage::Construction => "renderer (by construction)",
            Coverage::Plan => "QMP plan and runbooks",
            Coverage::Server => "server (across configurations)",
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.code,
            r.reference,
            r.rule.replace('|', "\\|"),
            r.why.replace('|', "\\|"),
            r.source,
            by
        ));
    }
    s.push_str("\n## Sources\n\n");
    for (id, what) in SOURCES {
        s.push_str(&format!("* **[{id}]** {what}\n"));
    }
    s
}

/// Source ids cited by a rule (`[S4, T3-301]` gives `S4`, `T3`).
pub fn cited_sources(source: &str) -> Vec<&str> {
    let Some(inner) = source.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return Vec::new();
    };
    inner
        .split(',')
        .map(|c| c.trim().split('-').next().unwrap_or_default())
        .collect()
}
