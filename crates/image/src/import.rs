//! `import`: a plain rootfs tar (maybe gzip, bzip2, xz or zstd) becomes a one-layer
//! image, with `--change` instructions applied to its config.

use std::io::Read;

use serde_json::{json, Map, Value};

use crate::changes;
use crate::compression;
use crate::create::{now_rfc3339, target_tag};
use crate::error::{ImageError, Result};
use crate::load::Added;
use crate::model::Image;
use crate::platform::host_arch;
use crate::store::ImageStore;

impl ImageStore {
    /// `docker import`: `tar` as the only layer of a new image.
    pub fn import(
        &self,
        tar: impl Read,
        reference: Option<&str>,
        changes: &[String],
    ) -> Result<Image> {
        let tag = target_tag(reference)?;
        let mut config = Map::new();
        changes::apply(&mut config, changes)?;
        let (_, plain) =
            compression::open_stream(tar).map_err(|e| ImageError::corrupt("import stream", e))?;
        let _gc = self.gc_lock(false)?;
        let mut added = Added::default();
        let res = (|| {
            let layer = self.add_layer(plain, &mut added)?;
            let created = now_rfc3339();
            let cfg: Value = json!({
                "architecture": host_arch(),
                "os": "linux",
                "created": created,
                "config": Value::Object(config.clone()),
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.clone()]},
                "history": [{"created": created, "created_by": "", "comment": "Imported from -"}],
            });
            self.add_image(&cfg, vec![layer], tag.as_deref(), "", &mut added)
        })();
        match res {
            Ok(id) => {
                drop(_gc);
                self.resolve(&id)
            }
            Err(e) => {
                self.undo(&added);
                Err(e)
            }
        }
    }
}
