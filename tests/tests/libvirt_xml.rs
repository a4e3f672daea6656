//! Every rendered domain XML of the golden corpus passes libvirt's own schema
//! (`virt-xml-validate`, libvirt-clients), and the validator really rejects a broken domain.

use lockstep_tests::{have_program, skip, workspace_root, TempDir};
use std::process::Command;

fn validate(path: &std::path::Path) -> (bool, String) {
    let out = Command::new("virt-xml-validate")
        .arg(path)
        .arg("domain")
        .output()
        .expect("run virt-xml-validate");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn rendered_domains_pass_virt_xml_validate() {
    let test = "libvirt_xml::rendered_domains_pass_virt_xml_validate";
    if !have_program("virt-xml-validate") || !have_program("xmllint") {
        skip(
            test,
            "libvirt-clients",
            "virt-xml-validate or xmllint is not installed",
        );
        return;
    }
    let mut files: Vec<_> = std::fs::read_dir(workspace_root().join("test-data"))
        .expect("test-data")
        .flatten()
        .flat_map(|e| {
            ["primary.xml", "secondary.xml", "swapped-secondary.xml"].map(|f| e.path().join(f))
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 18, "only {} domain files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let (ok, out) = validate(f);
        if !ok {
            failures.push(format!("{}: {out}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The check can fail: a domain with an unknown type is rejected.
    let tmp = TempDir::new("xml");
    let bad = tmp.path().join("bad.xml");
    let text = std::fs::read_to_string(&files[0]).expect("read");
    std::fs::write(&bad, text.replacen("type='kvm'", "type='bogus'", 1)).expect("write");
    assert!(
        !validate(&bad).0,
        "virt-xml-validate accepted a broken domain"
    );
}
