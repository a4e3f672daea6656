//! NICs, the COLO proxy and ports (`colo-reference.md` §5 rules 5, 30, 31, 39).
//!
//! Rules 32–38 and 40 (filter netdev ids, redirector chardevs, colo-compare inputs, chardev
//! pairs, start order, filter order, filters starting off, one NBD server) hold by construction:
//! the renderer derives every one of those names and options (see `render::names`), and the
//! golden corpus pins them.

use super::Report;
use crate::model::{Document, NicModel, NicSource};
use std::collections::BTreeMap;

pub(crate) fn check(doc: &Document, r: &mut Report) {
    check_nic_ids(doc, r);
    check_macs(doc, r);
    check_bridges(doc, r);
    check_proxy_present(doc, r);
    check_vnet_hdr(doc, r);
    check_ports(doc, r);
}

/// Rule 5: the NIC id becomes the alias `ua-<id>`: `[a-zA-Z0-9_-]+`, short enough for the
/// derived proxy ids.
fn check_nic_ids(doc: &Document, r: &mut Report) {
    for nic in &doc.nics {
        let ok = !nic.id.is_empty()
            && nic.id.len() <= 16
            && nic.id.starts_with(|c: char| c.is_ascii_alphabetic())
            && nic
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            r.push(
                "E005",
                &[&nic.id],
                format!(
                    "NIC id {:?} cannot become the libvirt alias 'ua-{}': use a letter, then \
                     letters, digits, '_' or '-', at most 16 characters",
                    nic.id, nic.id
                ),
                "rename the NIC, e.g. 'net0'",
            );
        }
    }
}

fn check_macs(doc: &Document, r: &mut Report) {
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for nic in &doc.nics {
        let parts: Vec<&str> = nic.mac.split(':').collect();
        let ok = parts.len() == 6
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        let multicast = ok
            && u8::from_str_radix(parts[0], 16)
                .map(|b| b & 1 == 1)
                .unwrap_or(true);
        if !ok || multicast {
            r.push(
                "E053",
                &[&nic.id],
                format!(
                    "NIC '{}' has MAC address {:?}; it must be six hex pairs separated by ':' and \
                     unicast",
                    nic.id, nic.mac
                ),
                "use a locally administered address such as 52:54:00:12:34:56",
            );
        } else if let Some(prev) = seen.insert(nic.mac.to_ascii_lowercase(), &nic.id) {
            r.push(
                "E053",
                &[prev, &nic.id],
                format!(
                    "NICs '{prev}' and '{}' share MAC address {}",
                    nic.id, nic.mac
                ),
                "give every NIC its own MAC address",
            );
        }
    }
}

fn check_bridges(doc: &Document, r: &mut Report) {
    for nic in &doc.nics {
        match &nic.source {
            NicSource::Bridge { bridge } => {
                let ok = !bridge.is_empty()
                    && bridge.len() <= 15
                    && bridge
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    r.push(
                        "E056",
                        &[&nic.id],
                        format!(
                            "NIC '{}' uses bridge {bridge:?}; a Linux interface name has 1 to 15 \
                             letters, digits, '-', '_' or '.'",
                            nic.id
                        ),
                        "name an existing bridge such as br0",
                    );
                }
            }
            NicSource::User => {}
        }
    }
}

/// Rule 30 (and §3): without the proxy, both guests' packets reach the network.
fn check_proxy_present(doc: &Document, r: &mut Report) {
    for nic in &doc.nics {
        if nic.proxy.is_none() {
            r.push(
                "W030",
                &[&nic.id],
                format!(
                    "NIC '{}' has no COLO proxy: the secondary's packets are not compared, and \
                     clients may see two answers",
                    nic.id
                ),
                "add a proxy (mirror and compare ports) to the NIC",
            );
        }
    }
}

/// Rule 31: virtio NICs use vnet headers, so every filter and colo-compare needs
/// `vnet_hdr_support` (colo-proxy.txt).
fn check_vnet_hdr(doc: &Document, r: &mut Report) {
    for nic in &doc.nics {
        let Some(p) = &nic.proxy else { continue };
        match (nic.model, p.vnet_hdr) {
            (NicModel::Virtio, false) => r.push(
                "E031",
                &[&nic.id],
                format!(
                    "NIC '{}' is virtio but its proxy has vnet_hdr false; filters would misread \
                     every packet",
                    nic.id
                ),
                "set proxy.vnet_hdr to true, or use an e1000 NIC",
            ),
            (NicModel::E1000 | NicModel::Rtl8139, true) => r.push(
                "W031",
                &[&nic.id],
                format!(
                    "NIC '{}' is not virtio but its proxy has vnet_hdr true",
                    nic.id
                ),
                "set proxy.vnet_hdr to false for non-virtio NICs",
            ),
            (NicModel::Virtio, true) | (NicModel::E1000 | NicModel::Rtl8139, false) => {}
        }
    }
}

/// Rule 39: ports are valid and unique per host within this configuration (the server checks
/// other configurations on the same host).
fn check_ports(doc: &Document, r: &mut Report) {
    let h = &doc.hosts;
    let same = super::hosts::same_host(&h.primary, &h.secondary);
    let mut claims: Vec<(&str, String, u32)> = vec![
        (
            "secondary",
            "colo.migration_port".to_owned(),
            doc.colo.migration_port,
        ),
        ("secondary", "colo.nbd_port".to_owned(), doc.colo.nbd_port),
    ];
    for nic in &doc.nics {
        if let Some(p) = &nic.proxy {
            claims.push((
                "primary",
                format!("nics.{}.proxy.mirror_port", nic.id),
                p.mirror_port,
            ));
            claims.push((
                "primary",
                format!("nics.{}.proxy.compare_port", nic.id),
                p.compare_port,
            ));
        }
    }
    let mut used: BTreeMap<(&str, u32), String> = BTreeMap::new();
    for (host, field, port) in claims {
        if !(1..=65535).contains(&port) {
            r.push(
                "E039",
                &[&field],
                format!("{field} is {port}; a TCP port is between 1 and 65535"),
                "pick a free port, e.g. 9000-9999",
            );
            continue;
        }
        if port < 1024 {
            r.push(
                "W039",
                &[&field],
                format!("{field} is {port}, a privileged port that system services may hold"),
                "use a port above 1023",
            );
        }
        // On one machine, both sides share one port space.
        let key_host = if same { "host" } else { host };
        if let Some(prev) = used.insert((key_host, port), field.clone()) {
            r.push(
                "E039",
                &[&prev, &field],
                format!("{prev} and {field} both use port {port} on the {host} host"),
                "give every listener of a host its own port",
            );
        }
    }
}
