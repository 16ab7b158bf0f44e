//! The instructions that make layers: RUN (a container of berth's runtime
//! over the step's rootfs), COPY/ADD (files from the context or another
//! stage copied into it), WORKDIR (when it has to create the directory).
//! Each works on an overlayfs rootfs of the state's layers; the layer is
//! the upper dir afterwards, packed with its whiteouts.

use std::path::PathBuf;

use berth_image::{ImageParts, LayerRef};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::config_steps::argv;
use crate::context::Skip;
use crate::dockerfile::words;
use crate::dockerfile::{Command, CopySpec, Instruction};
use crate::error::{BuildError, Result};
use crate::executor::{config_of, env_of, history, step_id, Executor, StageState, StepPlan};
use crate::executor::{Containers, KeptRun, Removal, RunInfo, RunNet};
use crate::files::{self, Attrs};
use crate::runner::{mount_points, RunSpec, Stream};

/// An engine container of a RUN step; removed if the step ends without
/// saying what becomes of it (an error on the way, a cancel).
struct EngineRun {
    containers: Containers,
    id: String,
    done: bool,
}

impl EngineRun {
    fn finish(&mut self, kept: Option<KeptRun>) {
        self.done = true;
        if let Err(e) = self.containers.0.finish(&self.id, kept) {
            tracing::warn!(container = %self.id, error = %e, "finishing a RUN container");
        }
    }
}

impl Drop for EngineRun {
    fn drop(&mut self) {
        if !self.done {
            self.finish(None);
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// RUN output as the progress stream shows it: stderr between the colour
/// codes dockerd's legacy builder wraps it in (bright red, then reset).
fn shown_output(which: Stream, chunk: &[u8]) -> String {
    let text = String::from_utf8_lossy(chunk);
    match which {
        Stream::Stdout => text.into_owned(),
        Stream::Stderr => format!("\x1b[91m{text}\x1b[0m"),
    }
}

/// The default PATH RUN gets when the config has none (docker's).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Prefix of the rootfs (and container) ids of build steps.
pub(crate) const STEP_PREFIX: &str = "build-";

/// A mounted rootfs of a state's layers, removed on drop. While it exists
/// its lock file (`<store>/build/locks/<id>`) is held, so a later build
/// can tell a rootfs left by a killed builder from one in use.
struct StepRootfs<'s> {
    store: &'s berth_image::ImageStore,
    id: String,
    merged: PathBuf,
    upper: PathBuf,
    lock: Option<(std::fs::File, PathBuf)>,
}

/// The lock file of a step rootfs.
pub(crate) fn lock_path(store: &berth_image::ImageStore, id: &str) -> PathBuf {
    store.root().join("build").join("locks").join(id)
}

impl<'s> StepRootfs<'s> {
    fn new(store: &'s berth_image::ImageStore, layers: &[LayerRef]) -> Result<StepRootfs<'s>> {
        let id = format!("{STEP_PREFIX}{}", &step_id()[..24]);
        let lp = lock_path(store, &id);
        if let Some(dir) = lp.parent() {
            std::fs::create_dir_all(dir)
                .map_err(BuildError::io(format!("creating {}", dir.display())))?;
        }
        let f = std::fs::File::create(&lp)
            .map_err(BuildError::io(format!("creating {}", lp.display())))?;
        f.lock()
            .map_err(BuildError::io(format!("locking {}", lp.display())))?;
        let lock = Some((f, lp));
        let r = store.create_rootfs_of_layers(&id, "", layers)?;
        let mut me = StepRootfs {
            store,
            id,
            merged: r.merged,
            upper: r.upper,
            lock,
        };
        me.merged = store.mount_rootfs(&me.id)?;
        Ok(me)
    }

    /// Unmounts and packs the upper dir as a layer.
    fn commit(&self) -> Result<LayerRef> {
        self.store.unmount_rootfs(&self.id)?;
        Ok(self.store.layer_from_dir(&self.upper, true)?)
    }
}

impl Drop for StepRootfs<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.store.remove_rootfs(&self.id) {
            tracing::warn!(rootfs = %self.id, error = %e, "removing a build step's rootfs");
        }
        if let Some((f, p)) = self.lock.take() {
            let _ = std::fs::remove_file(&p);
            drop(f);
        }
    }
}

/// Removes step rootfs that no running build holds (left by a builder
/// that was killed), and their runtime containers.
pub(crate) fn remove_stale(store: &berth_image::ImageStore, runtime: &crate::RuntimeExec) {
    let Ok(ids) = store.rootfs_ids() else { return };
    for id in ids.iter().filter(|i| i.starts_with(STEP_PREFIX)) {
        let lp = lock_path(store, id);
        let free = match std::fs::File::open(&lp) {
            Ok(f) => f.try_lock().is_ok(),
            // No lock file: its builder never got to hold one, or is gone.
            Err(_) => true,
        };
        if !free {
            continue;
        }
        if runtime.root.join(id).exists() {
            runtime.delete(id);
        }
        match store.remove_rootfs(id) {
            Ok(()) => tracing::info!(rootfs = %id, "removed the rootfs of an interrupted build"),
            Err(e) => tracing::warn!(rootfs = %id, error = %e, "removing a stale build rootfs"),
        }
        let _ = std::fs::remove_file(&lp);
        let _ = std::fs::remove_dir_all(runtime.bundles.join(id));
    }
}

/// `parts` with `layer` on top and a history entry for it.
fn with_layer(parts: &ImageParts, layer: LayerRef, created_by: &str) -> ImageParts {
    let mut p = parts.clone();
    if let Some(ids) = p.config["rootfs"]["diff_ids"].as_array_mut() {
        ids.push(json!(layer.diff_id));
    } else {
        p.config["rootfs"] = json!({ "type": "layers", "diff_ids": [layer.diff_id] });
    }
    p.layers.push(layer);
    history(&mut p, created_by, false);
    p
}

fn working_dir(parts: &ImageParts) -> String {
    parts.config["config"]["WorkingDir"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("/")
        .to_string()
}

/// `p` made absolute against `cwd` and cleaned.
fn absolute(cwd: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", cwd.trim_end_matches('/'))
    };
    format!("/{}", crate::context::clean(&joined))
}

impl Executor<'_> {
    pub(crate) fn run_step(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        cmd: &Command,
        network: Option<&str>,
    ) -> Result<()> {
        let net = match network {
            None | Some("default") => self.network,
            Some("host") => RunNet::Host,
            Some("none") => RunNet::None,
            Some(n) => {
                return Err(BuildError::Invalid(format!(
                    "RUN --network={n} is not supported (default, none or host)"
                )))
            }
        };
        let host = net == RunNet::Host;
        let args = argv(st, cmd);
        let mut env: Vec<String> = env_of(&st.parts)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        // Build args reach RUN as environment, below ENV.
        let env_keys: Vec<String> = env_of(&st.parts).into_iter().map(|(k, _)| k).collect();
        let arg_env: Vec<String> = st
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.extend(arg_env.iter().cloned());
        // The network is part of the key only as it was before networks
        // could be joined (host or not), so existing cache records hold.
        let desc = format!("RUN {} {} host={host}", json!(args), json!(arg_env));
        let shown = match cmd {
            Command::Shell(_) => args.join(" "),
            Command::Exec(l) => format!("{}", json!(l)),
        };
        let user = st.parts.config["config"]["User"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let line = ins.line;
        let plan = StepPlan {
            pre: st.parts.clone(),
            created_by: shown.clone(),
        };
        let base_image = st.image_id.clone();
        self.cached_step(st, &desc, Some(plan), move |ex, parts| {
            let rootfs = StepRootfs::new(ex.store, &parts.layers)?;
            let cwd = working_dir(parts);
            files::mkdir_in(&rootfs.merged, &cwd, None)?;
            let (uid, gid) = if user.is_empty() {
                (0, 0)
            } else {
                files::lookup_user(&rootfs.merged, &user)?
            };
            // What the runtime's mounts would create, to leave out of the layer.
            let joined = match net {
                RunNet::Joined => ex.opts.run_network.as_ref(),
                _ => None,
            };
            let points = mount_points(host || joined.is_some_and(|j| j.resolv_conf.is_some()));
            let mut absent: Vec<String> = Vec::new();
            for p in &points {
                let mut cur = String::new();
                for c in p.trim_start_matches('/').split('/') {
                    cur = format!("{cur}/{c}");
                    let there = files::resolve_in(&rootfs.merged, &cur, false)
                        .map(|h| h.symlink_metadata().is_ok())
                        .unwrap_or(true);
                    if !there && !absent.contains(&cur) {
                        absent.push(cur.clone());
                    }
                }
            }
            // The engine's container for the step (berthd), whose id the
            // stream shows; else the runtime container's.
            let mut engine_run = match &ex.opts.containers {
                Some(c) => {
                    let info = RunInfo {
                        image_id: base_image.clone(),
                        args: args.clone(),
                        env: env.clone(),
                        cwd: cwd.clone(),
                        user: user.clone(),
                    };
                    let id = c.0.create(&info).map_err(|m| BuildError::Step {
                        line,
                        message: format!("creating the RUN container: {m}"),
                    })?;
                    Some(EngineRun {
                        containers: c.clone(),
                        id,
                        done: false,
                    })
                }
                None => None,
            };
            let cid = match &engine_run {
                Some(r) => r.id.clone(),
                None => rootfs.id["build-".len()..].to_string(),
            };
            let cid = &cid[..cid.len().min(12)];
            ex.say(&format!(" ---> Running in {cid}\n"));
            let started_at = now();
            let spec = RunSpec {
                id: &rootfs.id,
                rootfs: &rootfs.merged,
                args: args.clone(),
                env: env.clone(),
                cwd,
                uid,
                gid,
                host_network: host,
                netns: joined.map(|j| j.netns.as_path()),
                resolv_conf: joined.and_then(|j| j.resolv_conf.as_deref()),
                extra_hosts: &ex.opts.extra_hosts,
            };
            let runtime = ex.opts.runtime.clone();
            let mut pending = Vec::new();
            let cancel = ex.opts.cancel.clone();
            let mut pending_err = Vec::new();
            let code = runtime.run(
                &spec,
                &mut |which: Stream, b: &[u8]| {
                    let buf = match which {
                        Stream::Stdout => &mut pending,
                        Stream::Stderr => &mut pending_err,
                    };
                    buf.extend_from_slice(b);
                    // Whole lines as they come; the rest at the end.
                    if let Some(i) = buf.iter().rposition(|&c| c == b'\n') {
                        let chunk: Vec<u8> = buf.drain(..=i).collect();
                        ex.say(&shown_output(which, &chunk));
                    }
                },
                cancel.as_ref(),
            )?;
            for (which, rest) in [(Stream::Stdout, &pending), (Stream::Stderr, &pending_err)] {
                if !rest.is_empty() {
                    let s = shown_output(which, rest);
                    ex.say(&s);
                }
            }
            if cancel.as_ref().is_some_and(|c| (c.0)()) {
                return Err(BuildError::Invalid("the build was cancelled".into()));
            }
            let finished_at = now();
            let removal = ex.opts.removal;
            if code != 0 {
                // A failed step's container stays unless --force-rm.
                if let Some(r) = engine_run.as_mut() {
                    if removal == Removal::Always {
                        r.finish(None);
                        ex.say(&format!(" ---> Removed intermediate container {cid}\n"));
                    } else {
                        ex.store.unmount_rootfs(&rootfs.id)?;
                        r.finish(Some(KeptRun {
                            upper: &rootfs.upper,
                            exit_code: code,
                            started_at,
                            finished_at,
                        }));
                    }
                }
                return Err(BuildError::RunFailed {
                    line,
                    message: format!("The command '{shown}' returned a non-zero code: {code}"),
                    code,
                });
            }
            ex.store.unmount_rootfs(&rootfs.id)?;
            // Deepest first, so parents are empty when their turn comes.
            absent.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in &absent {
                let u = rootfs.upper.join(p.trim_start_matches('/'));
                if let Ok(md) = u.symlink_metadata() {
                    if md.is_dir() {
                        let _ = std::fs::remove_dir(&u);
                    } else if md.len() == 0 {
                        let _ = std::fs::remove_file(&u);
                    }
                }
            }
            let layer = rootfs.commit()?;
            match engine_run.as_mut() {
                Some(r) if removal == Removal::Never => r.finish(Some(KeptRun {
                    upper: &rootfs.upper,
                    exit_code: 0,
                    started_at,
                    finished_at,
                })),
                _ => {
                    if let Some(r) = engine_run.as_mut() {
                        r.finish(None);
                    }
                    ex.say(&format!(" ---> Removed intermediate container {cid}\n"));
                }
            }
            Ok(with_layer(parts, layer, &shown))
        })
    }

    pub(crate) fn copy_step(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        spec: &CopySpec,
        add: bool,
    ) -> Result<()> {
        let line = ins.line;
        let vars = st.vars();
        let ex_word = |w: &str| {
            words::expand(w, &vars, self.escape)
                .map_err(|message| BuildError::Step { line, message })
        };
        let mut sources = Vec::new();
        for s in &spec.sources {
            let s = ex_word(s)?;
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(BuildError::Step {
                    line,
                    message: format!(
                        "ADD {s}: downloading from a URL is refused: berth builds offline (fetch the file into the build context and COPY it)"
                    ),
                });
            }
            sources.push(s);
        }
        let dest_raw = ex_word(&spec.dest)?;
        let cwd = working_dir(&st.parts);
        let dest = absolute(&cwd, &dest_raw);
        let dest_is_dir = dest_raw.ends_with('/') || dest_raw == "." || sources.len() > 1;
        let chown = spec.chown.as_deref().map(&ex_word).transpose()?;
        let mode = spec
            .chmod
            .as_deref()
            .and_then(|m| u32::from_str_radix(m, 8).ok());

        // Where the sources come from: the context, or a stage or image's rootfs.
        let from_parts: Option<ImageParts> = match &spec.from {
            None => None,
            Some(f) => {
                let f = ex_word(f)?;
                let idx = self
                    .stage_names
                    .iter()
                    .take(self.results.len())
                    .position(|n| n.as_deref() == Some(&f.to_ascii_lowercase()))
                    .or_else(|| f.parse::<usize>().ok().filter(|i| *i < self.results.len()));
                match idx {
                    Some(i) => Some(self.results[i].parts.clone()),
                    None => match self.store.parts(&f) {
                        Ok((_, p)) => Some(p),
                        Err(berth_image::ImageError::NotFound(_)) => {
                            return Err(BuildError::Step {
                                line,
                                message: format!("COPY --from={f}: no build stage of that name before this one, and no such image in the store"),
                            })
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
            }
        };
        let from_root = match &from_parts {
            Some(p) => Some(StepRootfs::new(self.store, &p.layers)?),
            None => None,
        };
        // Source paths on this host, each with the name it copies as and
        // whether .dockerignore applies below it.
        let mut resolved: Vec<(PathBuf, String, Option<String>)> = Vec::new();
        match &from_root {
            Some(r) => {
                for s in &sources {
                    let p = files::resolve_in(&r.merged, s, true)?;
                    if p.symlink_metadata().is_err() {
                        return Err(BuildError::Step {
                            line,
                            message: format!("COPY failed: stat {s}: file does not exist"),
                        });
                    }
                    let name = crate::context::clean(s)
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    resolved.push((p, name, None));
                }
            }
            None => {
                for s in &sources {
                    for rel in self.ctx.resolve_source(s).map_err(|e| e.at(line))? {
                        let name = rel.rsplit('/').next().unwrap_or("").to_string();
                        resolved.push((self.ctx.path(&rel)?, name, Some(rel)));
                    }
                }
            }
        }
        let multiple = resolved.len() > 1;
        let mut h = Sha256::new();
        for (p, name, rel) in &resolved {
            h.update(format!("{name}\0").as_bytes());
            let ctx = self.ctx;
            let prefix = rel.clone();
            let skip = move |r: &str| match &prefix {
                Some(base) if base.is_empty() => ctx.skip(r),
                Some(base) => ctx.skip(&format!("{base}/{r}")),
                None => Skip::Keep,
            };
            files::hash_tree(&mut h, p, "", &skip)?;
        }
        let inputs = hex::encode(h.finalize());
        let kw = if add { "ADD" } else { "COPY" };
        let desc = format!(
            "{kw} {inputs} to {dest} dir={} chown={chown:?} chmod={mode:?}",
            dest_is_dir || multiple
        );
        let created_by = format!("/bin/sh -c #(nop) {kw} file:{inputs} in {dest} ");
        let ctx = self.ctx;
        let plan = StepPlan {
            pre: st.parts.clone(),
            created_by: created_by.clone(),
        };
        self.cached_step(st, &desc, Some(plan), move |ex, parts| {
            let rootfs = StepRootfs::new(ex.store, &parts.layers)?;
            let (uid, gid) = match &chown {
                Some(c) => files::lookup_user(&rootfs.merged, c)?,
                None => (0, 0),
            };
            let attrs = Attrs {
                uid,
                gid,
                mode,
                keep_owner: false,
            };
            let existing_dir = files::resolve_in(&rootfs.merged, &dest, true)
                .map(|p| p.is_dir())
                .unwrap_or(false);
            for (p, name, rel) in &resolved {
                let is_dir = p.symlink_metadata().map(|m| m.is_dir()).unwrap_or(false);
                let target = if is_dir || !(dest_is_dir || multiple || existing_dir) {
                    dest.clone()
                } else {
                    format!("{}/{name}", dest.trim_end_matches('/'))
                };
                let prefix = rel.clone();
                let skip = move |r: &str| match &prefix {
                    Some(base) if base.is_empty() => ctx.skip(r),
                    Some(base) => ctx.skip(&format!("{base}/{r}")),
                    None => Skip::Keep,
                };
                if add && !is_dir && rel.is_some() {
                    if let Some(tmp) = crate::archive::extract_if_archive(p)? {
                        let keep = Attrs {
                            keep_owner: chown.is_none(),
                            ..attrs
                        };
                        files::copy_into(tmp.path(), &rootfs.merged, &dest, keep, &|_| Skip::Keep)?;
                        continue;
                    }
                }
                files::copy_into(p, &rootfs.merged, &target, attrs, &skip)?;
            }
            let layer = rootfs.commit()?;
            drop(rootfs);
            Ok(with_layer(parts, layer, &created_by))
        })?;
        drop(from_root);
        Ok(())
    }

    pub(crate) fn workdir_step(
        &mut self,
        st: &mut StageState,
        ins: &Instruction,
        dir: &str,
    ) -> Result<()> {
        let line = ins.line;
        let d = words::expand(dir, &st.vars(), self.escape)
            .map_err(|message| BuildError::Step { line, message })?;
        let cwd = working_dir(&st.parts);
        let path = absolute(&cwd, &d);
        let desc = format!("WORKDIR {path}");
        let text = ins.text.clone();
        let mut pre = st.parts.clone();
        config_of(&mut pre).insert("WorkingDir".into(), json!(path));
        let plan = StepPlan {
            pre,
            created_by: format!("/bin/sh -c #(nop)  {text}"),
        };
        self.cached_step(st, &desc, Some(plan), move |ex, parts| {
            let mut base = parts.clone();
            config_of(&mut base).insert("WorkingDir".into(), json!(path));
            let rootfs = StepRootfs::new(ex.store, &parts.layers)?;
            let exists = files::resolve_in(&rootfs.merged, &path, true)
                .map(|p| p.is_dir())
                .unwrap_or(false);
            if exists {
                history(&mut base, &format!("/bin/sh -c #(nop)  {text}"), true);
                return Ok(base);
            }
            files::mkdir_in(&rootfs.merged, &path, None)?;
            let layer = rootfs.commit()?;
            Ok(with_layer(
                &base,
                layer,
                &format!("/bin/sh -c #(nop)  {text}"),
            ))
        })
    }
}
