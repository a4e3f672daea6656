//! Validate and render a 1-disk and a 32-disk standard pair (with a proxied NIC).
//! Targets (issue 2): validate 1 disk < 50 µs, 32 disks < 1 ms, natively.
//! Run: `cargo bench -p lockstep-shared --bench validate_render`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lockstep_shared::model::{NicModel, NicSource};
use lockstep_shared::render::{render_all, Validated};
use lockstep_shared::validate::validate;
use lockstep_shared::wizard::{example_input, standard_pair, NicSpec};
use lockstep_shared::Document;

fn doc(disks: usize) -> Document {
    let mut input = example_input("bench", disks);
    input.nic = Some(NicSpec {
        mac: "52:54:00:00:00:01".to_owned(),
        model: NicModel::E1000,
        source: NicSource::Bridge {
            bridge: "br0".to_owned(),
        },
    });
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
