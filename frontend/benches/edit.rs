//! One editor edit as the browser does it, natively: apply a move (one drag step) to the
//! editor state, validate the document, and compute the positions to draw, for the 1-disk and
//! the 32-disk standard pair; plus "add protected disk" and the automatic layout. The browser
//! runs the same code as WebAssembly (slower than native); its own numbers need the browser.
//! Run: `cargo bench -p lockstep-frontend --bench edit`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lockstep_frontend::editor::{Edit, Editor};
use lockstep_frontend::geometry::{auto_layout, positions};
use lockstep_shared::model::ImageFormat;
use lockstep_shared::validate::validate;
use lockstep_shared::wizard::{example_input, standard_pair, DiskSpec};
use lockstep_shared::Document;

fn disk(i: usize) -> DiskSpec {
    DiskSpec {
        path: format!("/var/lib/colo/bench/disk{i}.qcow2"),
        secondary_path: None,
        size_bytes: 10 << 30,
        format: ImageFormat::Qcow2,
        storage: None,
        secondary_storage: None,
    }
}

fn doc(disks: usize) -> Document {
    standard_pair(&example_input("bench", disks))
}

fn bench(c: &mut Criterion) {
    for n in [1usize, 32] {
        let d = doc(n);
        let mut e = Editor::new(d.clone());
        c.bench_function(&format!("drag step + validate + positions/{n}-disk"), |b| {
            b.iter(|| {
                e.apply(Edit::Move {
                    ids: vec!["pdisk0".into()],
                    dx: 1.0,
                    dy: 0.5,
                })
                .expect("move");
                let f = validate(black_box(e.document()));
                let p = positions(e.document());
                (f.len(), p.len())
            })
        });
        c.bench_function(&format!("add protected disk + validate/{n}-disk"), |b| {
            b.iter_batched(
                || Editor::new(d.clone()),
                |mut e| {
                    e.apply(Edit::AddProtectedDisk {
                        disk: disk(99),
                        overlay_dir: "/dev/shm/lockstep".into(),
                    })
                    .expect("add");
                    validate(e.document()).len()
                },
                criterion::BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("auto layout/{n}-disk"), |b| {
            b.iter(|| auto_layout(black_box(&d)))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
