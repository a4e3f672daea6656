//! libvirt domain XML for each side (`colo-reference.md` §4.4).
//!
//! libvirt owns machine type, memory, vCPUs, NICs and the iothread; `<qemu:commandline>` carries
//! the COLO block graph, the guest disks at fixed PCI addresses, the proxy, the private QMP
//! monitor and, on the secondary, `-incoming defer`. There is no `<disk>` element: a libvirt disk
//! needs a `<target>`, which would attach the secondary disk to the guest.

use super::escape::xml;
use super::names;
use super::qemu;
use super::Validated;
use crate::model::{NicModel, NicSource, Side};
use std::fmt::Write;

/// The domain XML of one side.
pub fn domain_xml(v: &Validated, side: Side) -> String {
    let doc = v.doc();
    let g = &doc.guest;
    let mut s = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        s,
        "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
    );
    let _ = writeln!(s, "  <name>{}</name>", xml(&g.name));
    let _ = writeln!(s, "  <uuid>{}</uuid>", xml(&g.uuid.to_ascii_lowercase()));
    let _ = writeln!(
        s,
        "  <description>Lockstep COLO {} of {}; generated, do not edit</description>",
        side.as_str(),
        xml(&g.name)
    );
    let _ = writeln!(s, "  <memory unit='MiB'>{}</memory>", g.memory_mib);
    let _ = writeln!(s, "  <vcpu placement='static'>{}</vcpu>", g.vcpus);
    if v.has_proxy() {
        // colo-compare runs in libvirt's iothread1; never create it in qemu:commandline
        // (libvirt then miscounts IOThreads, ABLESTACK 301).
        let _ = writeln!(s, "  <iothreads>1</iothreads>");
        let _ = writeln!(
            s,
            "  <iothreadids>\n    <iothread id='1'/>\n  </iothreadids>"
        );
    }
    let _ = writeln!(s, "  <os>");
    let _ = writeln!(
        s,
        "    <type arch='x86_64' machine='{}'>hvm</type>",
        xml(&g.machine)
    );
    let _ = writeln!(s, "  </os>");
    let _ = writeln!(s, "  <on_poweroff>destroy</on_poweroff>");
    let _ = writeln!(s, "  <on_reboot>restart</on_reboot>");
    let _ = writeln!(s, "  <on_crash>destroy</on_crash>");
    let _ = writeln!(s, "  <devices>");
    let _ = writeln!(s, "    <emulator>{}</emulator>", xml(&g.emulator));
    // No USB controller or balloon: nothing libvirt places may take our slots, and nothing may
    // need RAM discard (rule 25).
    let _ = writeln!(s, "    <controller type='usb' model='none'/>");
    for nic in &doc.nics {
        let ty = match &nic.source {
            NicSource::Bridge { .. } => "bridge",
            NicSource::User => "user",
        };
        let _ = writeln!(s, "    <interface type='{ty}'>");
        match &nic.source {
            NicSource::Bridge { bridge } => {
                let _ = writeln!(s, "      <source bridge='{}'/>", xml(bridge));
            }
            NicSource::User => {}
        }
        let _ = writeln!(
            s,
            "      <mac address='{}'/>",
            xml(&nic.mac.to_ascii_lowercase())
        );
        let model = match nic.model {
            NicModel::E1000 => "e1000",
            NicModel::Rtl8139 => "rtl8139",
            NicModel::Virtio => "virtio",
        };
        let _ = writeln!(s, "      <model type='{model}'/>");
        if nic.model == NicModel::Virtio {
            // Userspace virtio (no vhost), one queue: netfilters refuse both (rule 30).
            let _ = writeln!(s, "      <driver name='qemu' queues='1'/>");
        }
        let _ = writeln!(
            s,
            "      <alias name='{}'/>",
            xml(&names::nic_alias(&nic.id))
        );
        let _ = writeln!(
            s,
            "      <address type='pci' domain='0x0000' bus='0x00' slot='{:#04x}' function='0x0'/>",
            nic.pci_slot
        );
        let _ = writeln!(s, "    </interface>");
    }
    let _ = writeln!(s, "    <memballoon model='none'/>");
    let _ = writeln!(s, "  </devices>");
    let _ = writeln!(s, "  <qemu:commandline>");
    for arg in qemu::colo_args(v, side) {
        let _ = writeln!(s, "    <qemu:arg value='{}'/>", xml(&arg));
    }
    let _ = writeln!(s, "  </qemu:commandline>");
    let _ = writeln!(s, "</domain>");
    s
}
