//! The templates that ship with Lockstep, seeded into the database by a migration: the
//! wizard's standard pair with every site-specific value a parameter.

use super::{Constraints, ParamType, Parameter, Template};
use crate::model::{HostRef, ImageFormat, NicModel, NicSource};
use crate::wizard::{self, DiskSpec, NicSpec, WizardInput};
use serde_json::Value;

/// A template that ships with Lockstep (seeded by a migration).
pub struct Builtin {
    pub name: &'static str,
    pub description: &'static str,
    pub template: Template,
}

fn param(name: &str, kind: ParamType, description: &str, default: Option<Value>) -> Parameter {
    Parameter {
        name: name.to_owned(),
        kind,
        description: description.to_owned(),
        default,
        constraints: Constraints::default(),
    }
}

fn port(name: &str, description: &str, default: u32) -> Parameter {
    let mut p = param(name, ParamType::Integer, description, Some(default.into()));
    p.constraints.min = Some(1024);
    p.constraints.max = Some(65535);
    p
}

/// The built-in templates: the wizard's standard pair with 1 disk, with 2 disks, and with one
/// disk and a NIC behind the COLO proxy, every site-specific value a parameter.
pub fn builtins() -> Vec<Builtin> {
    vec![
        Builtin {
            name: "Standard pair, 1 disk",
            description: "Primary and secondary with one replicated disk (quorum, replication, NBD, hidden and active overlays).",
            template: standard(1, false),
        },
        Builtin {
            name: "Standard pair, 2 disks",
            description: "Primary and secondary with two replicated disks.",
            template: standard(2, false),
        },
        Builtin {
            name: "Standard pair, 1 disk, NIC with COLO proxy",
            description: "One replicated disk and an e1000 NIC on a host bridge, its traffic compared by the COLO proxy (filter-mirror, filter-redirector, colo-compare).",
            template: standard(1, true),
        },
    ]
}

fn standard(disks: usize, nic: bool) -> Template {
    const SIZE_MARK: u64 = 0x10c4_57e9; // a size no parameter default uses
    let host = |n: &str, a: &str| HostRef {
        name: format!("${{{n}}}"),
        address: format!("${{{a}}}"),
        run_dir: "/run/lockstep".to_owned(),
    };
    let mut input = WizardInput::new(
        "${name}",
        "${uuid}",
        host("primary_host", "primary_address"),
        host("secondary_host", "secondary_address"),
    );
    input.overlay_dir = "${overlay_dir}".to_owned();
    for i in 0..disks {
        input.disks.push(DiskSpec {
            path: format!("${{disk{i}_path}}"),
            secondary_path: None,
            size_bytes: SIZE_MARK,
            format: ImageFormat::Qcow2,
            storage: None,
            secondary_storage: None,
        });
    }
    if nic {
        input.nic = Some(NicSpec {
            mac: "${mac}".to_owned(),
            model: NicModel::E1000,
            source: NicSource::Bridge {
                bridge: "${bridge}".to_owned(),
            },
        });
    }
    let doc = wizard::standard_pair(&input);
    let mut body = serde_json::to_value(&doc).unwrap_or(Value::Null);
    let mut set = |pointer: &str, name: &str| {
        if let Some(v) = body.pointer_mut(pointer) {
            *v = Value::String(format!("${{{name}}}"));
        }
    };
    set("/guest/memory_mib", "memory_mib");
    set("/guest/vcpus", "vcpus");
    set("/colo/migration_port", "migration_port");
    set("/colo/nbd_port", "nbd_port");
    set("/colo/checkpoint_delay_ms", "checkpoint_delay_ms");
    if nic {
        set("/nics/0/proxy/mirror_port", "mirror_port");
        set("/nics/0/proxy/compare_port", "compare_port");
    }
    if let Some(nodes) = body.get_mut("nodes").and_then(Value::as_array_mut) {
        for n in nodes {
            let id = n["id"].as_str().unwrap_or("").to_owned();
            // Each disk's images carry its size; the replicated images carry its format.
            if n["size_bytes"] == SIZE_MARK {
                let i = id.trim_start_matches(|c: char| !c.is_ascii_digit());
                n["size_bytes"] = Value::String(format!("${{disk{i}_size}}"));
            }
            if id.starts_with("pdisk") || id.starts_with("sdisk") {
                let i = id.trim_start_matches(|c: char| !c.is_ascii_digit());
                n["format"] = Value::String(format!("${{disk{i}_format}}"));
                n["storage"] = Value::String(format!("${{disk{i}_storage}}"));
            }
        }
    }

    let mut name = param(
        "name",
        ParamType::String,
        "Guest (libvirt domain) name",
        Some("colo-vm".into()),
    );
    name.constraints.pattern = Some("[A-Za-z0-9][A-Za-z0-9_.-]*".to_owned());
    name.constraints.max_length = Some(64);
    let mut memory = param(
        "memory_mib",
        ParamType::Integer,
        "Guest memory in MiB",
        Some(1024.into()),
    );
    memory.constraints.min = Some(64);
    memory.constraints.max = Some(4 << 20);
    let mut vcpus = param("vcpus", ParamType::Integer, "Virtual CPUs", Some(1.into()));
    vcpus.constraints.min = Some(1);
    vcpus.constraints.max = Some(288);
    let mut delay = param(
        "checkpoint_delay_ms",
        ParamType::Integer,
        "Longest time between checkpoints, in milliseconds",
        Some(2000.into()),
    );
    delay.constraints.min = Some(100);
    delay.constraints.max = Some(600_000);
    let mut ps = vec![
        name,
        param(
            "uuid",
            ParamType::Uuid,
            "Guest UUID (generated when not given)",
            None,
        ),
        memory,
        vcpus,
        param(
            "primary_host",
            ParamType::String,
            "Primary host: a registered host name",
            Some("colo-a".into()),
        ),
        param(
            "primary_address",
            ParamType::String,
            "Primary host's replication address",
            Some("192.0.2.1".into()),
        ),
        param(
            "secondary_host",
            ParamType::String,
            "Secondary host: a registered host name",
            Some("colo-b".into()),
        ),
        param(
            "secondary_address",
            ParamType::String,
            "Secondary host's replication address",
            Some("192.0.2.2".into()),
        ),
        param(
            "overlay_dir",
            ParamType::String,
            "Where the secondary keeps the hidden and active overlays (tmpfs recommended)",
            Some("/dev/shm/lockstep".into()),
        ),
    ];
    for i in 0..disks {
        ps.push(param(
            &format!("disk{i}_path"),
            ParamType::String,
            &format!("Image file of disk {i} (the same path on both hosts)"),
            Some(format!("/var/lib/colo/colo-vm-disk{i}.qcow2").into()),
        ));
        let mut size = param(
            &format!("disk{i}_size"),
            ParamType::Size,
            &format!("Size of disk {i}, e.g. 10G"),
            Some("10G".into()),
        );
        size.constraints.min = Some(1 << 20);
        ps.push(size);
        let mut format = param(
            &format!("disk{i}_format"),
            ParamType::String,
            &format!("Image format of disk {i}"),
            Some("qcow2".into()),
        );
        format.constraints.choices = Some(vec!["qcow2".into(), "raw".into()]);
        ps.push(format);
        let mut storage = param(
            &format!("disk{i}_storage"),
            ParamType::String,
            &format!(
                "What the path of disk {i} is: file, or block for an LVM volume, partition or \
                 multipath device (QEMU opens those with host_device)"
            ),
            Some("file".into()),
        );
        storage.constraints.choices = Some(vec!["file".into(), "block".into()]);
        ps.push(storage);
    }
    ps.push(port(
        "migration_port",
        "Migration port on the secondary",
        9000,
    ));
    ps.push(port("nbd_port", "NBD port on the secondary", 9001));
    if nic {
        ps.push(port(
            "mirror_port",
            "COLO proxy mirror port on the primary",
            9002,
        ));
        ps.push(port(
            "compare_port",
            "COLO proxy compare port on the primary",
            9003,
        ));
        ps.push(param(
            "mac",
            ParamType::Mac,
            "NIC MAC address (generated when not given)",
            None,
        ));
        ps.push(param(
            "bridge",
            ParamType::String,
            "Host bridge the NIC joins on both hosts",
            Some("br0".into()),
        ));
    }
    ps.push(delay);
    Template {
        parameters: ps,
        body,
    }
}
