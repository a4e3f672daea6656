//! Cross-configuration rules (`colo-reference.md` §5 rule 39 and Lockstep's own): what only the
//! server can decide, because it knows every configuration. Two configurations on one host
//! must not share a listening port, an image file or a libvirt domain name.
//!
//! A host is the same when either its name or its replication address matches (`hosts`).

use super::{Finding, Report};
use crate::model::{Document, HostRef, Node, Side};
use serde::{Deserialize, Serialize};

/// What a configuration occupies on one host: a listening port, an image file or a libvirt
/// domain name. The server stores the claims of every active configuration (indexed by kind
/// and value), so a save looks up only the claims that can collide with its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub host_name: String,
    pub host_address: String,
    /// `port`, `image` or `domain`.
    pub kind: String,
    pub value: String,
    /// The document field that makes the claim (a finding's subject).
    pub field: String,
}

/// A claim of another configuration, with that configuration's name.
pub struct OtherClaim<'a> {
    pub configuration: &'a str,
    pub claim: &'a Claim,
}

fn host(doc: &Document, side: Side) -> &HostRef {
    match side {
        Side::Primary => &doc.hosts.primary,
        Side::Secondary => &doc.hosts.secondary,
    }
}

/// Every claim `doc` makes.
pub fn claims(doc: &Document) -> Vec<Claim> {
    let mut v = Vec::new();
    let mut push = |h: &HostRef, kind: &str, value: String, field: String| {
        v.push(Claim {
            host_name: h.name.clone(),
            host_address: h.address.clone(),
            kind: kind.to_owned(),
            value,
            field,
        })
    };
    for (field, port) in [
        ("colo.migration_port", doc.colo.migration_port),
        ("colo.nbd_port", doc.colo.nbd_port),
    ] {
        push(
            &doc.hosts.secondary,
            "port",
            port.to_string(),
            field.to_owned(),
        );
    }
    for nic in &doc.nics {
        if let Some(p) = &nic.proxy {
            for (f, port) in [
                ("mirror_port", p.mirror_port),
                ("compare_port", p.compare_port),
            ] {
                push(
                    &doc.hosts.primary,
                    "port",
                    port.to_string(),
                    format!("nics.{}.proxy.{f}", nic.id),
                );
            }
        }
    }
    for n in &doc.nodes {
        if let Node::Image(img) = n {
            push(
                host(doc, img.side),
                "image",
                img.path.clone(),
                img.id.clone(),
            );
        }
    }
    for side in [Side::Primary, Side::Secondary] {
        push(
            host(doc, side),
            "domain",
            doc.guest.name.clone(),
            "guest.name".to_owned(),
        );
    }
    v
}

fn same_host(a: &Claim, b: &Claim) -> bool {
    super::hosts::same_host_reason(&a.host_name, &a.host_address, &b.host_name, &b.host_address)
        .is_some()
}

/// Findings for the claims `mine` against claims of other configurations of the same team
/// (any claims: those that do not collide are ignored).
pub fn findings(mine: &[Claim], theirs: &[OtherClaim]) -> Vec<Finding> {
    let mut r = Report {
        findings: Vec::new(),
    };
    for t in theirs {
        let theirs = t.claim;
        for c in mine
            .iter()
            .filter(|c| c.kind == theirs.kind && c.value == theirs.value && same_host(c, theirs))
        {
            let (code, what, hint) = match c.kind.as_str() {
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
                    c.host_name, c.host_address, t.configuration, theirs.field
                ),
                hint,
            );
        }
    }
    let mut f = r.findings;
    super::sort_findings(&mut f);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Other<'a> {
        name: &'a str,
        doc: &'a Document,
    }

    /// Findings for `doc` against other configurations, as the server computes them.
    fn check_against(doc: &Document, others: &[Other]) -> Vec<Finding> {
        let theirs: Vec<(&str, Vec<Claim>)> =
            others.iter().map(|o| (o.name, claims(o.doc))).collect();
        let refs: Vec<OtherClaim> = theirs
            .iter()
            .flat_map(|(name, cs)| {
                cs.iter().map(move |claim| OtherClaim {
                    configuration: name,
                    claim,
                })
            })
            .collect();
        findings(&claims(doc), &refs)
    }

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

    #[test]
    fn a_host_matches_under_another_spelling() {
        let a = doc("ipv6-hosts");
        for (name, address) in [("RENAMED", "fd00:0:0:0::2"), ("other", "fd00::0:2")] {
            let mut b = a.clone();
            b.hosts.secondary.name = name.into();
            b.hosts.secondary.address = address.into();
            let f = check_against(&a, &[Other { name: "b", doc: &b }]);
            assert!(
                f.iter().any(|x| x.code == "E070"),
                "{name} {address}: {f:?}"
            );
        }
        let mut b = a.clone();
        b.hosts.secondary.name = format!("{}.", a.hosts.secondary.name.to_uppercase());
        b.hosts.secondary.address = "fd00::99".into();
        let f = check_against(&a, &[Other { name: "b", doc: &b }]);
        assert!(
            f.iter().any(|x| x.code == "E070"),
            "name in capitals: {f:?}"
        );
    }
}
