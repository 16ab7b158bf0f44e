//! Concurrent loads of the same layers unpack each layer once; the other
//! load waits on the layer's lock and finds it there.

mod common;

use berth_testsupport::images::busybox_docker_archive;
use common::*;

#[test]
fn two_concurrent_loads_give_one_copy_of_each_layer() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&path)?;
    let bytes = std::fs::read(&path)?;
    // A second store handle on the same root, as another process would have
    // (same metadata db shared through the handle).
    let results = std::thread::scope(|scope| {
        let a = scope.spawn(|| s.clone().load(&bytes[..]));
        let b = scope.spawn(|| s.clone().load(&bytes[..]));
        (a.join(), b.join())
    });
    let (Ok(a), Ok(b)) = results else {
        panic!("a load thread panicked")
    };
    let (a, b) = (a?, b?);
    assert_eq!(a[0].id, id);
    assert_eq!(b[0].id, id);
    assert_eq!(
        a[0].layers_unpacked + b[0].layers_unpacked,
        2,
        "each layer unpacked once"
    );
    let snaps: Vec<String> = std::fs::read_dir(s.root().join("snapshots"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        snaps.len(),
        2,
        "one snapshot per layer, no temp or lock files: {snaps:?}"
    );
    assert_eq!(s.list()?.len(), 1);
    Ok(())
}
