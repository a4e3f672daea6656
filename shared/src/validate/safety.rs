//! Values that could not be rendered safely, and document-level sanity.
//!
//! A path with a newline, a name libvirt rejects or an address QEMU cannot parse is an error
//! here, never something a renderer silently alters.

use super::Report;
use crate::model::{Document, InitialSync, Node, Storage, SCHEMA_VERSION};
use crate::render::names;

/// Longest path the kernel accepts in `sockaddr_un.sun_path` (108 bytes including the NUL).
pub(crate) const MAX_SOCKET_PATH: usize = 107;
const MAX_PATH: usize = 4095;

pub(crate) fn check(doc: &Document, r: &mut Report) {
    check_schema_version(doc, r);
    check_guest_name(doc, r);
    check_guest_resources(doc, r);
    check_uuid(doc, r);
    check_paths(doc, r);
    check_storage_kinds(doc, r);
    check_host_addresses(doc, r);
    check_host_names(doc, r);
    check_socket_paths(doc, r);
    check_initial_sync(doc, r);
}

/// Why a path cannot be rendered, if it cannot.
pub(crate) fn path_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("is empty")
    } else if !p.starts_with('/') {
        Some("is not absolute")
    } else if p.chars().any(char::is_control) {
        Some("contains a control character (newline, tab, NUL, ...)")
    } else if p.len() > MAX_PATH {
        Some("is longer than 4095 bytes")
    } else if p.ends_with('/') {
        Some("ends with '/'")
    } else {
        None
    }
}

fn check_schema_version(doc: &Document, r: &mut Report) {
    if doc.schema_version != SCHEMA_VERSION {
        r.push(
            "E058",
            &["schema_version"],
            format!(
                "schema_version is {} but this build reads version {SCHEMA_VERSION}",
                doc.schema_version
            ),
            "set schema_version to 1",
        );
    }
}

/// libvirt refuses '/' and control characters in domain names; the name also becomes part of
/// socket paths and QEMU's `-name guest=`.
fn check_guest_name(doc: &Document, r: &mut Report) {
    let name = &doc.guest.name;
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name.chars().count() > 64 {
        Some("is longer than 64 characters")
    } else if name.trim() != name {
        Some("starts or ends with whitespace")
    } else {
        None
    };
    if let Some(p) = problem {
        r.push(
            "E051",
            &["guest.name"],
            format!(
                "guest name {name:?} {p}; libvirt would reject it or sockets could not be named"
            ),
            "use letters, digits, '-', '_' or '.', at most 64 characters",
        );
    }
}

fn check_guest_resources(doc: &Document, r: &mut Report) {
    let g = &doc.guest;
    if !(16..=4 * 1024 * 1024).contains(&g.memory_mib) {
        r.push(
            "E057",
            &["guest.memory_mib"],
            format!(
                "guest memory is {} MiB; it must be between 16 MiB and 4 TiB",
                g.memory_mib
            ),
            "set guest.memory_mib to the guest's RAM in MiB",
        );
    }
    if !(1..=255).contains(&g.vcpus) {
        r.push(
            "E057",
            &["guest.vcpus"],
            format!(
                "guest has {} vCPUs; it must have between 1 and 255",
                g.vcpus
            ),
            "set guest.vcpus to a number from 1 to 255",
        );
    }
}

fn check_uuid(doc: &Document, r: &mut Report) {
    let u = &doc.guest.uuid;
    let ok = u.len() == 36
        && u.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if !ok {
        r.push(
            "E054",
            &["guest.uuid"],
            format!("guest uuid {u:?} is not a UUID like 3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21"),
            "use 36 characters: 8-4-4-4-12 hexadecimal digits",
        );
    }
}

fn check_paths(doc: &Document, r: &mut Report) {
    let mut check = |subject: &str, what: &str, p: &str| {
        if let Some(problem) = path_problem(p) {
            r.push(
                "E050",
                &[subject],
                format!("{what} {p:?} {problem}"),
                "use an absolute path without control characters",
            );
        }
    };
    check("guest.emulator", "emulator path", &doc.guest.emulator);
    check(
        "hosts.primary.run_dir",
        "primary run_dir",
        &doc.hosts.primary.run_dir,
    );
    check(
        "hosts.secondary.run_dir",
        "secondary run_dir",
        &doc.hosts.secondary.run_dir,
    );
    for n in &doc.nodes {
        if let crate::model::Node::Image(img) = n {
            check(&img.id, &format!("image '{}' path", img.id), &img.path);
        }
    }
}

/// An image's storage kind that its path contradicts: most likely a document written before
/// `storage` existed, which would be opened with the wrong QEMU driver.
fn check_storage_kinds(doc: &Document, r: &mut Report) {
    for img in doc.nodes.iter().filter_map(Node::as_image) {
        let likely = Storage::for_path(&img.path);
        if img.storage != likely {
            let (said, hint) = match img.storage {
                Storage::File => (
                    "a regular file, but paths under /dev/ are block devices",
                    "set storage to 'block' if it is an LVM volume, partition or multipath \
                     device (QEMU's file driver refuses those)",
                ),
                Storage::Block => (
                    "a block device, but it is not under /dev/",
                    "set storage to 'file' unless the path really names a block device",
                ),
            };
            r.push(
                "W065",
                &[&img.id],
                format!("image '{}' at {:?} is declared {said}", img.id, img.path),
                hint,
            );
        }
    }
}

fn check_host_addresses(doc: &Document, r: &mut Report) {
    for (side, h) in [
        ("hosts.primary.address", &doc.hosts.primary),
        ("hosts.secondary.address", &doc.hosts.secondary),
    ] {
        if let Some(problem) = super::hosts::address_problem(&h.address) {
            r.push(
                "E052",
                &[side],
                format!(
                    "replication address {:?} of host '{}' {problem}",
                    h.address, h.name
                ),
                "use an IPv4/IPv6 address or a host name such as colo-b.example.net",
            );
        }
    }
}

fn check_host_names(doc: &Document, r: &mut Report) {
    for (side, h) in [
        ("hosts.primary.name", &doc.hosts.primary),
        ("hosts.secondary.name", &doc.hosts.secondary),
    ] {
        if h.name.is_empty() || h.name.chars().any(char::is_control) || h.name.len() > 255 {
            r.push(
                "E060",
                &[side],
                format!(
                    "host name {:?} is empty, too long or has control characters",
                    h.name
                ),
                "name the host as it is registered",
            );
        }
    }
}

fn check_socket_paths(doc: &Document, r: &mut Report) {
    let mut paths = Vec::new();
    for side in [crate::model::Side::Primary, crate::model::Side::Secondary] {
        paths.push((side, names::qmp_socket(doc, side)));
    }
    for nic in &doc.nics {
        if nic.proxy.is_some() {
            let s = names::ProxyNames::new(doc, &nic.id);
            paths.push((crate::model::Side::Primary, s.compare0_path));
            paths.push((crate::model::Side::Primary, s.out_path));
        }
    }
    for (side, p) in paths {
        if p.len() > MAX_SOCKET_PATH {
            r.push(
                "E055",
                &[&format!("hosts.{}.run_dir", side.as_str())],
                format!(
                    "socket path {p:?} is {} bytes; unix sockets allow at most {MAX_SOCKET_PATH}",
                    p.len()
                ),
                "use a shorter run_dir or guest name",
            );
        }
    }
}

fn check_initial_sync(doc: &Document, r: &mut Report) {
    match doc.colo.initial_sync {
        InitialSync::Mirror => {}
        InitialSync::AssumeIdentical => r.push(
            "W059",
            &["colo.initial_sync"],
            "initial_sync is 'assume-identical': nothing checks that the secondary images hold \
             the primary's data; if they differ, the pair diverges silently"
                .to_owned(),
            "use 'mirror' unless the secondary images were copied from the primary while it was off",
        ),
    }
}
