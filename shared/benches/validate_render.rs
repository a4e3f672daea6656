//! Validate and render a 1-disk and a 32-disk standard pair (with a proxied NIC).
//! Targets (issue 2): validate 1 disk < 50 µs, 32 disks < 1 ms, natively.
//! Run: `cargo bench -p lockstep-shared --bench validate_render`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lockstep_shared::model::{HostRef, ImageFormat, NicModel, NicSource};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::validate;
use lockstep_shared::wizard::{standard_pair, DiskSpec, NicSpec, WizardInput};
use lockstep_shared::Document;

fn doc(disks: usize) -> Document {
    let host = |a: &str| HostRef {
        name: a.to_owned(),
        address: a.to_owned(),
        run_dir: "/run/lockstep".to_owned(),
    };
    let mut input = WizardInput::new(
        "bench",
        "3f1c2a9e-6b1d-4c2e-9a57-0d7c1e5b8f21",
        host("10.0.0.1"),
        host("10.0.0.2"),
    );
    input.nic = Some(NicSpec {
        mac: "52:54:00:00:00:01".to_owned(),
        model: NicModel::E1000,
        source: NicSource::Bridge {
            bridge: "br0".to_owned(),
        },
    });
    input.disks = (0..disks)
        .map(|i| DiskSpec {
            path: format!("/var/lib/colo/bench/disk{i}.qcow2"),
            secondary_path: None,
            size_bytes: 10 << 30,
            format: ImageFormat::Qcow2,
            storage: None,
            secondary_storage: None,
        })
        .collect();
    standard_pair(&input)
}

fn bench(c: &mut Criterion) {
    for n in [1usize, 32] {
        let d = doc(n);
        assert!(validate(&d).is_empty(), "{n}-disk document is valid");
        c.bench_function(&format!("validate/{n}-disk"), |b| {
            b.iter(|| validate(black_box(&d)))
        });
        let v = Validated::new(d.clone()).expect("valid");
        c.bench_function(&format!("render_all/{n}-disk"), |b| {
            b.iter(|| render_all(black_box(&v)))
        });
        let text = serde_json::to_string(&d).expect("json");
        c.bench_function(&format!("parse+validate/{n}-disk"), |b| {
            b.iter(|| validate(&Document::from_json(black_box(&text)).expect("parse")))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
