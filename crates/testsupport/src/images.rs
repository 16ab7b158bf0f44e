//! Image archives for tests, built in memory from the host's busybox: no
//! registry, no docker.
//!
//! [`busybox_docker_archive`] writes a `docker save`-style archive of a
//! two-layer busybox image tagged `busybox:latest`. The second layer
//! deletes `/etc/removed.txt` (a whiteout) and replaces `/data/old` (an
//! opaque directory), so tests can check whiteouts the way Docker applies
//! them. [`LayerBuilder`] and [`DockerArchive`] build other images,
//! including hostile ones (raw entry names no tar library would write).

use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::bundle::{self, HOST_BUSYBOX};

/// mtime of every entry, so archives are reproducible.
pub const MTIME: u64 = 1_700_000_000;

/// One tar entry for [`LayerBuilder::entry`].
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    /// The name, written as is.
    pub name: &'a str,
    /// Kind.
    pub kind: tar::EntryType,
    /// Permission bits (with set-id and sticky bits).
    pub mode: u32,
    /// Link target of symlinks and hardlinks.
    pub link: Option<&'a str>,
    /// File content.
    pub data: &'a [u8],
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Modification time.
    pub mtime: u64,
    /// (major, minor) of device nodes.
    pub device: Option<(u32, u32)>,
}

impl Default for Entry<'_> {
    fn default() -> Self {
        Entry {
            name: "",
            kind: tar::EntryType::Regular,
            mode: 0o644,
            link: None,
            data: &[],
            uid: 0,
            gid: 0,
            mtime: MTIME,
            device: None,
        }
    }
}

/// Builds one layer tar in memory.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    /// An empty layer.
    pub fn new() -> Self {
        LayerBuilder {
            tar: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends an entry with `name` written as is (no checks), so tests can
    /// make `../x` or `/etc/x` entries.
    pub fn raw(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        link: Option<&str>,
        data: &[u8],
    ) -> io::Result<&mut Self> {
        self.entry(&Entry {
            name,
            kind,
            mode,
            link,
            data,
            ..Entry::default()
        })
    }

    /// PAX extended attributes for the next entry (e.g.
    /// `SCHILY.xattr.user.x`).
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> io::Result<&mut Self> {
        self.tar.append_pax_extensions(records.iter().copied())?;
        Ok(self)
    }

    /// Appends an entry with every header field chosen.
    pub fn entry(&mut self, e: &Entry<'_>) -> io::Result<&mut Self> {
        let Entry {
            name,
            kind,
            mode,
            link,
            data,
            uid,
            gid,
            mtime,
            device,
        } = *e;
        let mut h = tar::Header::new_gnu();
        {
            let gnu = h
                .as_gnu_mut()
                .ok_or_else(|| io::Error::other("not a gnu header"))?;
            if name.len() >= gnu.name.len() {
                return Err(io::Error::other(format!("entry name {name:?} too long")));
            }
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(l) = link {
                if l.len() >= gnu.linkname.len() {
                    return Err(io::Error::other(format!("link name {l:?} too long")));
                }
                gnu.linkname[..l.len()].copy_from_slice(l.as_bytes());
            }
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        if let Some((major, minor)) = device {
            h.set_device_major(major)?;
            h.set_device_minor(minor)?;
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.tar.append(&h, data)?;
        Ok(self)
    }

    /// A directory.
    pub fn dir(&mut self, name: &str, mode: u32) -> io::Result<&mut Self> {
        self.raw(
            &format!("{}/", name.trim_end_matches('/')),
            tar::EntryType::Directory,
            mode,
            None,
            &[],
        )
    }

    /// A regular file.
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<&mut Self> {
        self.raw(name, tar::EntryType::Regular, mode, None, data)
    }

    /// A symlink.
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<&mut Self> {
        self.raw(name, tar::EntryType::Symlink, 0o777, Some(target), &[])
    }

    /// A hardlink to the earlier entry `target`.
    pub fn hardlink(&mut self, name: &str, target: &str) -> io::Result<&mut Self> {
        self.raw(name, tar::EntryType::Link, 0o644, Some(target), &[])
    }

    /// A Docker/OCI whiteout deleting `path` from lower layers.
    pub fn whiteout(&mut self, path: &str) -> io::Result<&mut Self> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, 0o644, &[])
    }

    /// Marks directory `dir` opaque (hides everything below it in lower layers).
    pub fn opaque(&mut self, dir: &str) -> io::Result<&mut Self> {
        self.file(
            &format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            0o644,
            &[],
        )
    }

    /// The finished tar.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.tar.into_inner()
    }
}

/// One image of a [`DockerArchive`].
pub struct ArchiveImage {
    /// Layer tars (uncompressed, or gzip/zstd: docker load takes either),
    /// bottom first, with their uncompressed digests.
    pub layers: Vec<(Vec<u8>, String)>,
    /// `RepoTags`, e.g. `busybox:latest`.
    pub repo_tags: Vec<String>,
    /// The config's `config` object (Env, Cmd, ...).
    pub config: serde_json::Value,
}

impl ArchiveImage {
    /// An image of uncompressed `layers`.
    pub fn new(layers: Vec<Vec<u8>>, repo_tags: &[&str]) -> Self {
        ArchiveImage {
            layers: layers
                .into_iter()
                .map(|l| {
                    let d = sha256(&l);
                    (l, d)
                })
                .collect(),
            repo_tags: repo_tags.iter().map(|s| s.to_string()).collect(),
            config: serde_json::json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            }),
        }
    }

    /// The config blob.
    pub fn config_json(&self) -> Vec<u8> {
        let history: Vec<serde_json::Value> = (0..self.layers.len())
            .map(|i| {
                serde_json::json!({
                    "created": "2023-11-14T22:13:20Z",
                    "created_by": format!("/bin/sh -c #(nop) layer {i}"),
                })
            })
            .collect();
        let v = serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": self.config,
            "rootfs": {
                "type": "layers",
                "diff_ids": self.layers.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
            },
            "history": history,
        });
        serde_json::to_vec(&v).unwrap_or_default()
    }

    /// `sha256:<config digest>`: the image id.
    pub fn id(&self) -> String {
        sha256(&self.config_json())
    }
}

/// A classic `docker save` archive (`<id>.json`, `<layer>/layer.tar`,
/// `manifest.json`, `repositories`).
#[derive(Default)]
pub struct DockerArchive {
    /// The images, in manifest.json order.
    pub images: Vec<ArchiveImage>,
}

impl DockerArchive {
    /// The archive as bytes.
    pub fn to_bytes(&self) -> io::Result<Vec<u8>> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut manifest = Vec::new();
        let mut repositories = serde_json::Map::new();
        let mut seen = std::collections::HashSet::new();
        for img in &self.images {
            let config = img.config_json();
            let config_name = format!("{}.json", hex_of(&sha256(&config)));
            append(&mut tar, &config_name, &config)?;
            let mut layer_names = Vec::new();
            for (layer, _) in &img.layers {
                let dir = hex_of(&sha256(layer)).to_string();
                let name = format!("{dir}/layer.tar");
                if seen.insert(name.clone()) {
                    append(&mut tar, &name, layer)?;
                }
                layer_names.push(name);
            }
            for t in &img.repo_tags {
                if let Some((repo, tag)) = t.rsplit_once(':') {
                    let top = layer_names
                        .last()
                        .map(|n| n.trim_end_matches("/layer.tar").to_string())
                        .unwrap_or_default();
                    let entry = repositories
                        .entry(repo.to_string())
                        .or_insert_with(|| serde_json::json!({}));
                    if let Some(o) = entry.as_object_mut() {
                        o.insert(tag.to_string(), top.into());
                    }
                }
            }
            manifest.push(serde_json::json!({
                "Config": config_name,
                "RepoTags": img.repo_tags,
                "Layers": layer_names,
            }));
        }
        append(
            &mut tar,
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap_or_default(),
        )?;
        append(
            &mut tar,
            "repositories",
            &serde_json::to_vec(&repositories).unwrap_or_default(),
        )?;
        tar.into_inner()
    }

    /// Writes the archive to `path`.
    pub fn write(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(&self.to_bytes()?)?;
        f.sync_all()
    }
}

/// The two busybox layers (see the module doc).
pub fn busybox_layers() -> io::Result<Vec<Vec<u8>>> {
    let busybox = std::fs::read(HOST_BUSYBOX)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {HOST_BUSYBOX}: {e}")))?;
    let applets = bundle::list_applets(Path::new(HOST_BUSYBOX))
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut base = LayerBuilder::new();
    for d in [
        "bin", "dev", "etc", "proc", "sys", "root", "run", "var", "usr", "data", "data/old",
    ] {
        base.dir(d, 0o755)?;
    }
    base.dir("tmp", 0o1777)?;
    base.file("bin/busybox", 0o755, &busybox)?;
    for a in applets.iter().filter(|a| a.as_str() != "busybox") {
        base.symlink(&format!("bin/{a}"), "busybox")?;
    }
    base.symlink("usr/bin", "../bin")?;
    base.symlink("usr/sbin", "../bin")?;
    base.symlink("sbin", "bin")?;
    base.file("etc/passwd", 0o644, bundle::PASSWD.as_bytes())?;
    base.file("etc/group", 0o644, bundle::GROUP.as_bytes())?;
    base.file("etc/hosts", 0o644, bundle::HOSTS.as_bytes())?;
    base.file("etc/hostname", 0o644, b"berth\n")?;
    base.file("etc/removed.txt", 0o644, b"deleted by layer 2\n")?;
    base.file("data/old/keep.txt", 0o644, b"hidden by the opaque dir\n")?;
    base.file("data/kept.txt", 0o644, b"layer 1\n")?;
    let mut top = LayerBuilder::new();
    top.dir("etc", 0o755)?;
    top.whiteout("etc/removed.txt")?;
    top.file("etc/motd", 0o644, b"layer 2\n")?;
    top.dir("data/old", 0o755)?;
    top.opaque("data/old")?;
    top.file("data/old/new.txt", 0o644, b"layer 2\n")?;
    Ok(vec![base.finish()?, top.finish()?])
}

/// The busybox test image: two layers, one whiteout, one opaque dir,
/// tagged `busybox:latest`.
pub fn busybox_image() -> io::Result<ArchiveImage> {
    Ok(ArchiveImage::new(busybox_layers()?, &["busybox:latest"]))
}

/// Writes a `docker save` archive of [`busybox_image`] to `path`; returns
/// the image id (`sha256:..`).
pub fn busybox_docker_archive(path: impl AsRef<Path>) -> io::Result<String> {
    let img = busybox_image()?;
    let id = img.id();
    DockerArchive { images: vec![img] }.write(path)?;
    Ok(id)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn hex_of(d: &str) -> &str {
    d.trim_start_matches("sha256:")
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn append(tar: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(MTIME);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}
