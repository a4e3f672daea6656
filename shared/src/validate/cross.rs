//! Cross-configuration rules (`colo-reference.md` §5 rule 39 and Lockstep's own): what only the
//! server can decide, because it knows every configuration. Two configurations on one host
//! must not share a listening port, an image file or a libvirt domain name.
//!
//! A host is the same when either its name or its replication address matches.

use super::{Finding, Report};
use crate::model::{Document, HostRef, Node, Side};

/// Another configuration of the same team, by name.
pub struct Other<'a> {
    pub name: &'a str,
    pub doc: &'a Document,
}

struct Claim<'a> {
    host: &'a HostRef,
    what: &'static str,
    value: String,
    field: String,
}

fn host(doc: &Document, side: Side) -> &HostRef {
    match side {
        Side::Primary => &doc.hosts.primary,
        Side::Secondary => &doc.hosts.secondary,
    }
}

fn claims(doc: &Document) -> Vec<Claim<'_>> {
    let mut v = Vec::new();
    let sec = &doc.hosts.secondary;
    let pri = &doc.hosts.primary;
    for (field, port) in [
        ("colo.migration_port", doc.colo.migration_port),
        ("colo.nbd_port", doc.colo.nbd_port),
    ] {
        v.push(Claim {
            host: sec,
            what: "port",
            value: port.to_string(),
            field: field.to_owned(),
        });
    }
    for nic in &doc.nics {
        if let Some(p) = &nic.proxy {
            for (f, port) in [
                ("mirror_port", p.mirror_port),
                ("compare_port", p.compare_port),
            ] {
                v.push(Claim {
                    host: pri,
                    what: "port",
                    value: port.to_string(),
                    field: format!("nics.{}.proxy.{f}", nic.id),
                });
            }
        }
    }
    for n in &doc.nodes {
        if let Node::Image(img) = n {
            v.push(Claim {
                host: host(doc, img.side),
                what: "image",
                value: img.path.clone(),
                field: img.id.clone(),
            });
        }
    }
    for side in [Side::Primary, Side::Secondary] {
        v.push(Claim {
            host: host(doc, side),
            what: "domain",
            value: doc.guest.name.clone(),
            field: "guest.name".to_owned(),
        });
    }
    v
}

fn same_host(a: &HostRef, b: &HostRef) -> bool {
    a.name == b.name || a.address.eq_ignore_ascii_case(&b.address)
}

/// Findings for `doc` against the other configurations of its team.
pub fn check_against(doc: &Document, others: &[Other]) -> Vec<Finding> {
    let mut r = Report {
        findings: Vec::new(),
    };
    let mine = claims(doc);
    for o in others {
        for theirs in claims(o.doc) {
            for c in mine.iter().filter(|c| {
                c.what == theirs.what && c.value == theirs.value && same_host(c.host, theirs.host)
            }) {
                let (code, what, hint) = match c.what {
                    "port" => (
                        "E070",
                        format!("port {}", c.value),
                        "pick a port no other configuration uses on that host",
                    ),
                    "image" => (
                        "E071",
                        format!("image file {:?}", c.value),
                        "give each configuration its own image files",
                    ),
                    _ => (
                        "E072",
                        format!("domain name {:?}", c.value),
                        "give each guest its own name on a host",
                    ),
                };
                r.push(
                    code,
                    &[&c.field],
                    format!(
                        "{what} on host '{}' ({}) is also used by configuration '{}' ({})",
                        c.host.name, c.host.address, o.name, theirs.field
                    ),
                    hint,
                );
            }
        }
    }
    let mut f = r.findings;
    super::sort_findings(&mut f);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(case: &str) -> Document {
        let p = format!(
            "{}/../test-data/{case}/input.json",
            env!("CARGO_MANIFEST_DIR")
        );
        Document::from_json(&std::fs::read_to_string(p).expect("corpus")).expect("parse")
    }

    #[test]
    fn two_configurations_on_the_same_hosts_collide() {
        let a = doc("one-disk-qcow2");
        let b = a.clone();
        let f = check_against(
            &a,
            &[Other {
                name: "copy",
                doc: &b,
            }],
        );
        let codes: Vec<&str> = f.iter().map(|x| x.code.as_str()).collect();
        assert!(
            codes.contains(&"E070") && codes.contains(&"E071") && codes.contains(&"E072"),
            "{codes:?}"
        );
        assert!(f
            .iter()
            .any(|x| x.message.contains("port 9001 on host 'colo-b.example.net'")));
    }

    #[test]
    fn other_hosts_or_other_values_do_not_collide() {
        let a = doc("one-disk-qcow2");
        let mut b = a.clone();
        b.hosts.primary.name = "colo-c".into();
        b.hosts.primary.address = "10.9.9.1".into();
        b.hosts.secondary.name = "colo-d".into();
        b.hosts.secondary.address = "10.9.9.2".into();
        assert!(check_against(
            &a,
            &[Other {
                name: "elsewhere",
                doc: &b
            }]
        )
        .is_empty());
        let mut c = a.clone();
        c.guest.name = "vm2".into();
        c.colo.migration_port = 9100;
        c.colo.nbd_port = 9101;
        for n in &mut c.nodes {
            if let Node::Image(i) = n {
                i.path = i.path.replace("vm1", "vm2");
            }
        }
        assert!(check_against(
            &a,
            &[Other {
                name: "neighbour",
                doc: &c
            }]
        )
        .is_empty());
    }

    #[test]
    fn a_host_matches_by_name_or_address() {
        let a = doc("one-disk-qcow2");
        let mut b = a.clone();
        b.hosts.secondary.name = "renamed".into();
        let f = check_against(&a, &[Other { name: "b", doc: &b }]);
        assert!(
            f.iter().any(|x| x.code == "E070"),
            "same address, other name"
        );
    }
}
