//! Renderers: libvirt domain XML, the QMP plan with its runbooks, and a QEMU command line per
//! side. They accept only a [`Validated`] document, are deterministic (same document, same
//! bytes) and escape every user value for its context (`escape`).

pub mod cmdline;
pub mod escape;
pub mod libvirt;
pub mod names;
pub mod plan;
pub mod qemu;
pub mod qmp;
pub mod swap;
pub mod topology;

use crate::model::{Document, Graph, GuestDiskNode, ImageNode, Side};
use crate::validate::{self, Finding, Severity};

/// The roles of one protected disk, resolved once from a valid document.
#[derive(Debug, Clone)]
pub struct Disk {
    pub target: String,
    pub pci_slot: u32,
    pub pci_function: u32,
    /// Another disk uses a higher function of the same slot.
    pub multifunction: bool,
    pub p_device: GuestDiskNode,
    pub p_quorum: String,
    pub p_local: ImageNode,
    pub p_replication: String,
    pub p_nbd: String,
    pub remote_index: u32,
    pub s_device: GuestDiskNode,
    pub s_quorum: String,
    pub s_replication: String,
    pub s_active: ImageNode,
    pub s_hidden: ImageNode,
    pub s_disk: ImageNode,
}

/// A document the validator accepted (no errors), with its resolved disks.
#[derive(Debug, Clone)]
pub struct Validated {
    doc: Document,
    disks: Vec<Disk>,
    warnings: Vec<Finding>,
}

impl Validated {
    /// Validates `doc`; returns every finding when any is an error.
    pub fn new(doc: Document) -> Result<Validated, Vec<Finding>> {
        let findings = validate::validate(&doc);
        if validate::has_errors(&findings) {
            return Err(findings);
        }
        let g = Graph::new(&doc);
        let Some(pairs) = topology::resolve(&g) else {
            // The validator accepted a graph the resolver cannot read: a bug, reported as a
            // finding rather than a panic so the caller still gets a clear answer.
            return Err(vec![Finding {
                code: "E000".to_owned(),
                severity: Severity::Error,
                subjects: Vec::new(),
                message: "internal error: the document passed validation but its disk graph \
                          could not be resolved"
                    .to_owned(),
                hint: "please report this document to the Lockstep developers".to_owned(),
            }]);
        };
        let disks = pairs
            .iter()
            .map(|p| Disk {
                target: p.primary.device.target.clone(),
                pci_slot: p.primary.device.pci_slot,
                pci_function: p.primary.device.pci_function,
                multifunction: p.primary.device.pci_function == 0
                    && pairs.iter().any(|o| {
                        o.primary.device.pci_slot == p.primary.device.pci_slot
                            && o.primary.device.pci_function > 0
                    }),
                p_device: p.primary.device.clone(),
                p_quorum: p.primary.quorum.id.clone(),
                p_local: p.primary.local.clone(),
                p_replication: p.primary.replication.id.clone(),
                p_nbd: p.primary.nbd.id.clone(),
                remote_index: p.primary.remote_index,
                s_device: p.secondary.device.clone(),
                s_quorum: p.secondary.quorum.id.clone(),
                s_replication: p.secondary.replication.id.clone(),
                s_active: p.secondary.active.clone(),
                s_hidden: p.secondary.hidden.clone(),
                s_disk: p.secondary.disk.clone(),
            })
            .collect();
        Ok(Validated {
            doc,
            disks,
            warnings: findings,
        })
    }

    pub fn doc(&self) -> &Document {
        &self.doc
    }

    pub fn disks(&self) -> &[Disk] {
        &self.disks
    }

    /// Warnings the document still has.
    pub fn warnings(&self) -> &[Finding] {
        &self.warnings
    }

    /// Replication address of a side.
    pub fn address(&self, side: Side) -> &str {
        match side {
            Side::Primary => &self.doc.hosts.primary.address,
            Side::Secondary => &self.doc.hosts.secondary.address,
        }
    }

    /// `tcp:HOST:PORT` with IPv6 literals bracketed.
    pub fn tcp_uri(&self, side: Side, port: u32) -> String {
        let a = self.address(side);
        if a.contains(':') {
            format!("tcp:[{a}]:{port}")
        } else {
            format!("tcp:{a}:{port}")
        }
    }

    pub fn has_proxy(&self) -> bool {
        self.doc.nics.iter().any(|n| n.proxy.is_some())
    }
}

/// Every artifact of one document, as written by `lockstep render`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifacts {
    pub primary_xml: String,
    pub secondary_xml: String,
    pub plan_json: String,
    pub primary_cmdline: String,
    pub secondary_cmdline: String,
    /// The secondary on the primary's host once the roles have swapped (the plan's
    /// `reprotect-swapped` runbook starts it).
    pub swapped_secondary_xml: String,
    pub swapped_secondary_cmdline: String,
}

impl Artifacts {
    /// (file name, content) in a fixed order.
    pub fn files(&self) -> [(&'static str, &str); 7] {
        [
            ("primary.xml", &self.primary_xml),
            ("secondary.xml", &self.secondary_xml),
            ("plan.json", &self.plan_json),
            ("primary.cmdline", &self.primary_cmdline),
            ("secondary.cmdline", &self.secondary_cmdline),
            ("swapped-secondary.xml", &self.swapped_secondary_xml),
            ("swapped-secondary.cmdline", &self.swapped_secondary_cmdline),
        ]
    }
}

/// Renders everything for a valid document.
pub fn render_all(v: &Validated) -> Artifacts {
    let plan = plan::build(v);
    let mut plan_json = crate::json::pretty(&plan);
    plan_json.push('\n');
    let swapped = Validated::new(swap::swapped(v)).ok();
    Artifacts {
        primary_xml: libvirt::domain_xml(v, Side::Primary),
        secondary_xml: libvirt::domain_xml(v, Side::Secondary),
        plan_json,
        primary_cmdline: cmdline::command_line(v, Side::Primary),
        secondary_cmdline: cmdline::command_line(v, Side::Secondary),
        swapped_secondary_xml: swapped
            .as_ref()
            .map(|w| libvirt::domain_xml(w, Side::Secondary))
            .unwrap_or_default(),
        swapped_secondary_cmdline: swapped
            .as_ref()
            .map(|w| cmdline::command_line(w, Side::Secondary))
            .unwrap_or_default(),
    }
}
