//! Host identity: when two spellings name one machine.
//!
//! Host names compare without case and without a trailing dot (DNS names are case-insensitive,
//! RFC 4343, and `hv-a.` is the fully qualified `hv-a`). Addresses compare as parsed IP
//! addresses (`fd00:0::1` is `fd00::1`, `::ffff:10.0.0.1` is `10.0.0.1`), DNS names as names. An
//! address that looks numeric but is not a plain dotted-decimal IPv4 or an IPv6 literal
//! (`010.0.0.1`, `10.1`, `0x0a000001`) is refused: the C resolver's `inet_aton` reads such
//! spellings as octal, hex or short forms, so two tools would disagree on which host it is.

use crate::model::HostRef;
use std::net::IpAddr;

/// A host name in the form two names are compared in.
pub fn name_key(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_lowercase()
}

/// A replication address in the form two addresses are compared in: the canonical text of a
/// parsed IP address, or the lower-case DNS name without its trailing dot.
pub fn address_key(address: &str) -> String {
    match address.parse::<IpAddr>() {
        Ok(ip) => ip.to_canonical().to_string(),
        Err(_) => name_key(address),
    }
}

/// Whether two spellings name one replication address (as [`address_key`] compares them).
pub fn same_address(a: &str, b: &str) -> bool {
    address_key(a) == address_key(b)
}

/// Why an address is not an IP address or a DNS name QEMU can use, if it is not.
pub fn address_problem(a: &str) -> Option<&'static str> {
    if a.parse::<IpAddr>().is_ok() {
        return None;
    }
    let name = a.strip_suffix('.').unwrap_or(a);
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > 253 {
        return Some("is longer than 253 characters");
    }
    if name.contains(':') {
        return Some("is not a valid IPv6 address (brackets and zone ids are not accepted)");
    }
    let labels: Vec<&str> = name.split('.').collect();
    let valid_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !labels.iter().all(valid_label) {
        return Some("is not an IP address or a DNS name (letters, digits and '-' between dots)");
    }
    let numeric = |l: &str| {
        !l.is_empty() && l.chars().all(|c| c.is_ascii_digit())
            || l.len() > 2
                && l[..2].eq_ignore_ascii_case("0x")
                && l[2..].chars().all(|c| c.is_ascii_hexdigit())
    };
    if labels.last().is_some_and(|l| numeric(l)) {
        return Some(
            "looks like an IPv4 address but is not four decimal numbers without leading zeros; \
             resolvers read such spellings as octal, hex or short forms",
        );
    }
    None
}

/// Why two hosts are one machine, if they are: their names or their addresses match.
pub fn same_host_reason(
    a_name: &str,
    a_address: &str,
    b_name: &str,
    b_address: &str,
) -> Option<String> {
    if name_key(a_name) == name_key(b_name) {
        Some(if a_name == b_name {
            format!("both are named {a_name:?}")
        } else {
            format!("{a_name:?} and {b_name:?} differ only in case or a trailing dot")
        })
    } else if same_address(a_address, b_address) {
        Some(if a_address == b_address {
            format!("both have the address {a_address}")
        } else {
            format!("{a_address} and {b_address} are one address")
        })
    } else {
        None
    }
}

/// Whether two host references are the same machine.
pub fn same_host(a: &HostRef, b: &HostRef) -> bool {
    same_host_reason(&a.name, &a.address, &b.name, &b.address).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, address: &str) -> HostRef {
        HostRef {
            name: name.to_owned(),
            address: address.to_owned(),
            run_dir: "/run/lockstep".to_owned(),
        }
    }

    #[test]
    fn names_compare_without_case_or_trailing_dot() {
        assert!(same_host(&h("hv-a", "10.0.0.1"), &h("HV-A", "10.0.0.2")));
        assert!(same_host(&h("hv-a.", "10.0.0.1"), &h("hv-a", "10.0.0.2")));
        assert!(!same_host(&h("hv-a", "10.0.0.1"), &h("hv-b", "10.0.0.2")));
    }

    #[test]
    fn addresses_compare_as_parsed_addresses() {
        assert!(same_host(&h("a", "fd00::1"), &h("b", "fd00:0::1")));
        assert!(same_host(&h("a", "FD00::1"), &h("b", "fd00:0:0:0:0:0:0:1")));
        assert!(same_host(&h("a", "10.0.0.1"), &h("b", "::ffff:10.0.0.1")));
        assert!(same_host(
            &h("a", "Colo-B.example.net."),
            &h("b", "colo-b.example.net")
        ));
        assert!(!same_host(&h("a", "fd00::1"), &h("b", "fd00::2")));
    }

    #[test]
    fn ambiguous_numeric_spellings_are_refused() {
        for a in [
            "010.0.0.1",
            "10.1",
            "10.0.0.01",
            "0x0a000001",
            "0x0a.0.0.1",
            "167772161",
        ] {
            assert!(address_problem(a).is_some(), "{a} accepted");
        }
        for a in [
            "10.0.0.1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "colo-b.example.net.",
            "hv-a",
            "a1",
        ] {
            assert_eq!(address_problem(a), None, "{a} refused");
        }
        assert!(address_problem("[fd00::1]").is_some());
        assert!(address_problem("fe80::1%eth0").is_some());
        assert!(address_problem("").is_some());
        assert!(address_problem(".").is_some());
    }
}
