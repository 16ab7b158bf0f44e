//! A volume mounted by a subdirectory (`--mount type=volume,...,
//! volume-subpath=SUB`, API 1.45 `VolumeOptions.Subpath`): checked
//! lexically at create, resolved against the volume at each start.

use std::path::{Component, Path, PathBuf};

use super::record::{ContainerRecord, MountRecord};
use crate::error::{EngineError, Result};

/// A subpath must be relative and stay inside the volume by its text
/// alone (Go's `filepath.IsLocal`: not empty, not absolute, no `..`
/// leading out). Checked at create, as dockerd's mount parser does.
pub(crate) fn check(m: &MountRecord) -> Result<()> {
    if m.subpath.is_empty() {
        return Ok(());
    }
    if m.name.is_empty() {
        return Err(invalid("must not set Subpath when using anonymous volumes"));
    }
    if !is_local(Path::new(&m.subpath)) {
        return Err(invalid("subpath must be a relative path within the volume"));
    }
    Ok(())
}

fn invalid(why: &str) -> EngineError {
    EngineError::Invalid(format!("invalid mount config for type \"volume\": {why}"))
}

fn is_local(p: &Path) -> bool {
    let mut depth = 0i32;
    let mut any = false;
    for c in p.components() {
        match c {
            Component::Normal(_) => {
                depth += 1;
                any = true;
            }
            Component::CurDir => any = true,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
                any = true;
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    any
}

/// The host directory a subpath mount binds: the subpath with symlinks
/// resolved, which must exist (404, as dockerd's "cannot access path")
/// and stay inside the volume (400, "escapes the base directory").
pub(crate) fn resolve(volume_dir: &Path, subpath: &str) -> Result<PathBuf> {
    let base = volume_dir.canonicalize().map_err(|e| {
        EngineError::NotFound(format!("cannot access path {}: {e}", volume_dir.display()))
    })?;
    let joined = base.join(subpath);
    let target = joined.canonicalize().map_err(|e| {
        EngineError::NotFound(format!("cannot access path {}: {e}", joined.display()))
    })?;
    if !target.starts_with(&base) {
        return Err(EngineError::Invalid(format!(
            "path concatenation escapes the base directory, base: {}, subpath: {subpath}",
            base.display()
        )));
    }
    Ok(target)
}

/// The record with each subpath mount's source set to the directory it
/// binds (for the runtime spec; the stored record keeps the volume).
pub(crate) fn resolved(rec: &ContainerRecord) -> Result<ContainerRecord> {
    let mut out = rec.clone();
    for m in out.mounts.iter_mut().filter(|m| !m.subpath.is_empty()) {
        m.source = resolve(Path::new(&m.source), &m.subpath)?
            .to_string_lossy()
            .into_owned();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(sub: &str) -> MountRecord {
        MountRecord {
            kind: "volume".into(),
            name: "v".into(),
            subpath: sub.into(),
            ..MountRecord::default()
        }
    }

    #[test]
    fn subpaths_must_be_local_by_their_text() {
        for ok in ["sub", "a/b", "a/../b", "./x"] {
            assert!(check(&named(ok)).is_ok(), "{ok}");
        }
        for bad in ["/etc", "..", "../x", "a/../../x"] {
            let e = check(&named(bad)).expect_err(bad).to_string();
            assert!(
                e.contains("subpath must be a relative path within the volume"),
                "{e}"
            );
        }
    }

    #[test]
    fn an_anonymous_volume_takes_no_subpath() {
        let mut m = named("sub");
        m.name.clear();
        let e = check(&m).expect_err("anonymous").to_string();
        assert!(
            e.contains("must not set Subpath when using anonymous volumes"),
            "{e}"
        );
    }

    #[test]
    fn resolving_follows_symlinks_but_stays_inside() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let vol = dir.path().join("vol");
        std::fs::create_dir_all(vol.join("sub"))?;
        std::os::unix::fs::symlink("sub", vol.join("inside"))?;
        std::os::unix::fs::symlink(dir.path(), vol.join("outside"))?;
        let sub = vol.canonicalize()?.join("sub");
        assert_eq!(resolve(&vol, "sub").ok(), Some(sub.clone()));
        assert_eq!(resolve(&vol, "inside").ok(), Some(sub));
        assert!(matches!(
            resolve(&vol, "outside"),
            Err(EngineError::Invalid(_))
        ));
        assert!(matches!(
            resolve(&vol, "missing"),
            Err(EngineError::NotFound(_))
        ));
        Ok(())
    }
}
