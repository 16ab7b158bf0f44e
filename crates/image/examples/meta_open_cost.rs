//! How long a metadata read costs when the redb file is opened per
//! operation (ImageStore::open) vs kept open by the caller.
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let per_op = berth_image::ImageStore::open(&dir.path().join("a"))?;
    let shared = berth_image::ImageStore::open_with_store(
        &dir.path().join("b"),
        Arc::new(berth_store::RedbStore::open(dir.path().join("b.redb"))?),
    )?;
    for (name, s) in [("per-op open", &per_op), ("shared handle", &shared)] {
        let t = Instant::now();
        for _ in 0..200 {
            s.list()?;
        }
        println!("{name}: {:?} per list()", t.elapsed() / 200);
    }
    Ok(())
}
