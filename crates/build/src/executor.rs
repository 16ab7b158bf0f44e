//! The build: stages in order up to the target, each instruction a step
//! through the cache, the last stage's result stored as the image.
//!
//! A step's cache key is the sha256 of the key before it (a chain that
//! starts at the base image's id), the instruction with its variables
//! expanded, and its inputs (the content digest of what COPY copies, the
//! build args RUN sees). A hit gives back the parts the step made before,
//! timestamps included, so an all-hit build gives the same image id, as
//! the legacy builder does.

use berth_image::platform::Platform;
use berth_image::progress::{Event, Phase, ProgressFn};
use berth_image::registry::RegistryOptions;
use berth_image::{ImageParts, ImageStore};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::context::Context;
use crate::dockerfile::words;
use crate::dockerfile::{Dockerfile, Instruction, Kind};
use crate::error::{BuildError, Result};
use crate::runner::RuntimeExec;

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// `-t`: references to tag the result with.
    pub tags: Vec<String>,
    /// `--build-arg NAME=VALUE`.
    pub build_args: Vec<(String, String)>,
    /// `--target`: the stage to stop after.
    pub target: Option<String>,
    /// `--no-cache`: run every step (results still fill the cache).
    pub no_cache: bool,
    /// `--network`: `none` (the default; also `default`) or `host`.
    pub network: Option<String>,
    /// `--label`: labels set on the result.
    pub labels: Vec<(String, String)>,
    /// How RUN containers are run.
    pub runtime: RuntimeExec,
    /// Asked before each step: true stops the build there (Ctrl-C, a
    /// client that went away).
    pub cancel: Option<Cancel>,
    /// How FROM reaches registries for an image the store lacks (the
    /// options `pull` uses: credentials, insecure registries); `None`
    /// builds from the store only.
    pub registry: Option<RegistryOptions>,
    /// `--pull`: pull every FROM image, even one the store has.
    pub pull: bool,
    /// `--platform`: the platform of FROM images without a
    /// `--platform=` of their own.
    pub platform: Option<Platform>,
    /// `--cache-from`: when given, a cached step counts only if one of
    /// these images holds it (its layers and history are a prefix of the
    /// image's), as dockerd's cache restricted to sources; names that are
    /// not in the store are skipped.
    pub cache_from: Vec<String>,
    /// `--add-host NAME:ADDR`: lines RUN containers get in /etc/hosts.
    pub extra_hosts: Vec<(String, String)>,
    /// A network namespace RUN containers join, made by the engine for
    /// `--network NAME` (a network of its own); `network` then names it.
    pub run_network: Option<RunNetwork>,
    /// `--rm` / `--force-rm`: which RUN containers are removed.
    pub removal: Removal,
    /// The engine's containers for RUN steps (berthd), which dockerd lists
    /// in `docker ps -a`; without them a RUN container is the runtime's
    /// alone and always removed.
    pub containers: Option<Containers>,
}

/// Which RUN containers go after their step (dockerd's `rm`, `forcerm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Removal {
    /// `--rm` (the docker CLI's default): those of steps that worked; a
    /// failed step's stays.
    #[default]
    OnSuccess,
    /// `--rm=false` (docker-py's default): none.
    Never,
    /// `--force-rm`: all, failed ones too.
    Always,
}

/// A RUN step's container as the engine registers it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The image the step runs on (the previous step's).
    pub image_id: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
}

/// What a kept RUN container was left with.
#[derive(Debug)]
pub struct KeptRun<'a> {
    /// Its changes (the step rootfs's upper dir, unmounted): the engine
    /// moves them into the container's own rootfs.
    pub upper: &'a std::path::Path,
    pub exit_code: i32,
    pub started_at: String,
    pub finished_at: String,
}

/// The engine's side of RUN containers.
pub trait RunContainers: Send + Sync {
    /// Registers the container of a RUN step about to run; its id.
    fn create(&self, run: &RunInfo) -> std::result::Result<String, String>;
    /// The step ended: keep the container with what it left, or remove it.
    fn finish(&self, id: &str, kept: Option<KeptRun>) -> std::result::Result<(), String>;
}

/// [`RunContainers`] in [`BuildOptions`].
#[derive(Clone)]
pub struct Containers(pub std::sync::Arc<dyn RunContainers>);

impl std::fmt::Debug for Containers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Containers")
    }
}

/// The network RUN steps join (`--network` of a user-defined network).
#[derive(Debug, Clone)]
pub struct RunNetwork {
    /// The netns, attached to the network.
    pub netns: std::path::PathBuf,
    /// Its resolv.conf (the network's embedded DNS); None keeps the
    /// rootfs's own (a netns with only lo).
    pub resolv_conf: Option<String>,
}

/// Where RUN containers are networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunNet {
    /// A netns of their own with only `lo`.
    None,
    /// The builder's netns.
    Host,
    /// [`BuildOptions::run_network`]'s.
    Joined,
}

/// A cancellation check, e.g. a flag a signal handler sets.
#[derive(Clone)]
pub struct Cancel(pub std::sync::Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cancel")
    }
}

/// What a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// `sha256:...`
    pub id: String,
    /// Steps run (FROMs included) and how many of them were cache hits.
    pub steps: usize,
    pub cache_hits: usize,
}

/// Where progress text goes (`Step 1/5 : FROM busybox\n`, RUN output, ...).
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Builds the Dockerfile in `opts` with `context` into `store`.
pub fn build(
    store: &ImageStore,
    context: &Context,
    opts: &BuildOptions,
    progress: Progress,
) -> Result<Built> {
    build_announcing(store, context, opts, progress, &mut |_| {})
}

/// [`build`], calling `on_image` with each stage's image id as the stage
/// ends, the result's last, before the closing "Successfully built" line: where dockerd's legacy
/// builder sends its `{"aux": {"ID": ...}}` message, so that clients which
/// read the last message as the result (docker-py) see that line last.
pub fn build_announcing(
    store: &ImageStore,
    context: &Context,
    opts: &BuildOptions,
    progress: Progress,
    on_image: &mut dyn FnMut(&str),
) -> Result<Built> {
    let df = Dockerfile::parse(&opts.dockerfile)?;
    crate::layer_steps::remove_stale(store, &opts.runtime);
    let network = match opts.network.as_deref() {
        Some("host") => RunNet::Host,
        _ if opts.run_network.is_some() => RunNet::Joined,
        None | Some("") | Some("none") | Some("default") => RunNet::None,
        Some(other) => {
            return Err(BuildError::Invalid(format!(
                "network mode {other:?} is not supported by a daemonless berth build (none or host; build through berthd for its networks)"
            )))
        }
    };
    for t in &opts.tags {
        let r = berth_image::Reference::parse(t)?;
        if r.digest.is_some() {
            return Err(BuildError::Invalid(format!(
                "invalid reference format: {t} (a tag cannot name a digest)"
            )));
        }
    }
    let last = match &opts.target {
        Some(t) => df.stage_index(t).ok_or_else(|| {
            BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
        })?,
        None => df.stages.len() - 1,
    };
    let cache_sources = if opts.cache_from.is_empty() {
        None
    } else {
        let mut v = Vec::new();
        for r in &opts.cache_from {
            match store.parts(r) {
                Ok((_, p)) => v.push(p),
                Err(berth_image::ImageError::NotFound(_))
                | Err(berth_image::ImageError::InvalidReference(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Some(v)
    };
    // Later values of a key win.
    let labels: std::collections::BTreeMap<String, String> = opts.labels.iter().cloned().collect();
    let mut ex = Executor {
        store,
        cache_sources,
        ctx: context,
        opts,
        escape: df.escape,
        network,
        out: progress,
        step: 0,
        total: df.steps_until(last) + labels.len(),
        hits: 0,
        results: Vec::new(),
        consumed: Vec::new(),
        meta: Vec::new(),
        stage_names: df.stages.iter().map(|s| s.name.clone()).collect(),
    };
    ex.meta_args(&df)?;
    for i in 0..=last {
        let r = ex.stage(&df, i)?;
        // dockerd announces each stage's image as it ends; the last
        // one's after the --label steps, below.
        if i < last && !r.image_id.is_empty() {
            on_image(&r.image_id);
        }
        ex.results.push(r);
    }
    let mut fin = ex
        .results
        .pop()
        .ok_or_else(|| BuildError::Invalid("no build stage".into()))?;
    // `--label`s are LABEL steps at the end of the last stage, one per
    // key in key order, as dockerd adds them.
    for (k, v) in labels {
        let text = format!("LABEL {k}={v}");
        ex.step_header_text(&text)?;
        let desc = format!("LABEL {}", json!([[&k, &v]]));
        ex.cached(&mut fin, &desc, |_, parts| {
            let mut p = nop(parts, &text);
            labels_of(&mut p).insert(k.clone(), json!(v));
            Ok(p)
        })?;
    }
    let unused: Vec<&str> = opts
        .build_args
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !ex.consumed.iter().any(|c| c == k))
        .collect();
    if !unused.is_empty() {
        ex.say(&format!(
            "[Warning] One or more build-args [{}] were not consumed\n",
            unused.join(" ")
        ));
    }
    // The last step's image is the result; a Dockerfile of nothing but
    // FROM scratch made none, which dockerd refuses too.
    if fin.image_id.is_empty() {
        return Err(BuildError::Invalid(
            "No image was generated. Is your Dockerfile empty?".into(),
        ));
    }
    for t in &opts.tags {
        store.tag(&fin.image_id, t)?;
    }
    let image = fin.image_id.clone();
    on_image(&image);
    ex.say(&format!("Successfully built {}\n", short(&image)));
    for t in &opts.tags {
        let r = berth_image::Reference::parse(t)?;
        let shown = r
            .tagged()
            .map(|f| berth_image::reference::familiar_name(&f))
            .unwrap_or_else(|| t.clone());
        ex.say(&format!("Successfully tagged {shown}\n"));
    }
    Ok(Built {
        id: image,
        steps: ex.step,
        cache_hits: ex.hits,
    })
}

/// The state of the stage being built.
pub(crate) struct StageState {
    pub parts: ImageParts,
    /// The cache chain's key so far.
    pub key: String,
    /// Build args declared in this stage, with their values.
    pub args: Vec<(String, String)>,
    /// Whether this stage set CMD (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    /// The image of the last step (the base's id after FROM; empty for
    /// scratch): each step commits an untagged image whose parent this
    /// is, as the legacy builder does.
    pub image_id: String,
}

impl StageState {
    /// Variables for expansion: args, then ENV (which wins).
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        v.extend(env_of(&self.parts));
        v
    }
}

pub(crate) struct Executor<'a> {
    pub store: &'a ImageStore,
    /// `--cache-from` images' parts (None: the whole local cache serves).
    cache_sources: Option<Vec<ImageParts>>,
    pub ctx: &'a Context,
    pub opts: &'a BuildOptions,
    pub escape: char,
    pub network: RunNet,
    out: Progress<'a>,
    step: usize,
    total: usize,
    hits: usize,
    /// Finished stages, by index.
    pub results: Vec<StageState>,
    /// Build args some ARG declared.
    consumed: Vec<String>,
    /// ARGs before the first FROM, with values.
    meta: Vec<(String, String)>,
    /// Stage names (`AS name`), by index.
    pub stage_names: Vec<Option<String>>,
}

impl Executor<'_> {
    pub fn say(&mut self, s: &str) {
        (self.out)(s);
    }

    fn build_arg(&mut self, name: &str) -> Option<String> {
        let v = self
            .opts
            .build_args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
        if !self.consumed.iter().any(|c| c == name) {
            self.consumed.push(name.to_string());
        }
        v
    }

    fn meta_args(&mut self, df: &Dockerfile) -> Result<()> {
        for ins in &df.meta_args {
            if let Kind::Arg(list) = &ins.kind {
                for (k, default) in list {
                    let dflt = match default {
                        Some(d) => {
                            Some(words::expand(d, &self.meta, self.escape).map_err(|m| {
                                BuildError::Step {
                                    line: ins.line,
                                    message: m,
                                }
                            })?)
                        }
                        None => None,
                    };
                    let v = self.build_arg(k).or(dflt).unwrap_or_default();
                    self.meta.push((k.clone(), v));
                }
            }
        }
        Ok(())
    }

    fn step_header(&mut self, ins: &Instruction) -> Result<()> {
        self.step_header_text(&ins.text)
    }

    fn step_header_text(&mut self, text: &str) -> Result<()> {
        if self.opts.cancel.as_ref().is_some_and(|c| (c.0)()) {
            return Err(BuildError::Invalid("the build was cancelled".into()));
        }
        self.step += 1;
        let s = format!("Step {}/{} : {text}\n", self.step, self.total);
        self.say(&s);
        Ok(())
    }

    fn stage(&mut self, df: &Dockerfile, index: usize) -> Result<StageState> {
        let stage = &df.stages[index];
        self.step_header(&stage.from)?;
        let Kind::From {
            image, platform, ..
        } = &stage.from.kind
        else {
            return Err(BuildError::Invalid("a stage must start with FROM".into()));
        };
        let line = stage.from.line;
        let image = words::expand(image, &self.meta, self.escape)
            .map_err(|m| BuildError::Step { line, message: m })?;
        let platform = match platform {
            Some(p) => {
                let p = words::expand(p, &self.meta, self.escape)
                    .map_err(|m| BuildError::Step { line, message: m })?;
                Some(Platform::parse(&p).map_err(|e| BuildError::Step {
                    line,
                    message: format!("FROM --platform: {e}"),
                })?)
            }
            None => self.opts.platform.clone(),
        };
        if !self.is_stage(&image) {
            self.pull_if_needed(&image, platform.as_ref())
                .map_err(|e| e.at(line))?;
        }
        let mut st = self.base(&image).map_err(|e| e.at(line))?;
        let id = config_id(&st.parts);
        self.say(&format!(" ---> {}\n", short(&id)));
        // The base's ONBUILD triggers run first, and are not inherited.
        let triggers: Vec<String> = config_of(&mut st.parts)
            .remove("OnBuild")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        if !triggers.is_empty() {
            self.say(&format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
            for t in &triggers {
                let ins = crate::dockerfile::instruction::parse(line, t, self.escape)?;
                self.instruction(&mut st, &ins).map_err(|e| e.at(line))?;
            }
        }
        for ins in &stage.instructions {
            self.step_header(ins)?;
            self.instruction(&mut st, ins).map_err(|e| e.at(ins.line))?;
        }
        Ok(st)
    }

    /// The state a FROM starts with: scratch, an earlier stage, or an image.
    fn base(&self, image: &str) -> Result<StageState> {
        let fresh = |parts: ImageParts, key: String, image_id: String| StageState {
            parts,
            key,
            args: Vec::new(),
            cmd_set: false,
            image_id,
        };
        if image == "scratch" {
            let parts = ImageParts {
                config: json!({
                    "architecture": berth_image::platform::host_arch(),
                    "os": "linux",
                    "config": {},
                    "rootfs": { "type": "layers", "diff_ids": [] },
                    "history": []
                }),
                layers: Vec::new(),
            };
            return Ok(fresh(parts, digest_hex("scratch"), String::new()));
        }
        if let Some(prev) = self
            .results
            .iter()
            .zip(0..)
            .find(|(_, i)| self.stage_named(*i, image))
            .map(|(r, _)| r)
        {
            return Ok(fresh(
                prev.parts.clone(),
                prev.key.clone(),
                prev.image_id.clone(),
            ));
        }
        match self.store.parts(image) {
            Ok((id, parts)) => {
                let key = digest_hex(&format!("FROM {id}"));
                Ok(fresh(parts, key, id))
            }
            Err(berth_image::ImageError::NotFound(_)) => Err(BuildError::Invalid(format!(
                "pull access denied for {image}: the image is not in the store (this build does not pull: berth pull or berth load it first)"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether FROM `image` names scratch or an earlier stage (no pull).
    fn is_stage(&self, image: &str) -> bool {
        image == "scratch" || (0..self.results.len()).any(|i| self.stage_named(i, image))
    }

    /// Pulls a FROM image the store lacks (or has for another platform, or
    /// every one with `--pull`), as the legacy builder does, with the
    /// pull's progress in the build output.
    fn pull_if_needed(&mut self, image: &str, platform: Option<&Platform>) -> Result<()> {
        let Some(reg) = &self.opts.registry else {
            return Ok(());
        };
        if !self.opts.pull {
            match self.store.resolve(image) {
                Ok(img) => {
                    let have = format!("{}/{}", img.config.os(), img.config.architecture());
                    let matches = platform.is_none_or(|p| {
                        format!("{}/{}", p.os, p.arch) == have
                            && p.variant
                                .as_ref()
                                .is_none_or(|v| img.config.variant().as_ref() == Some(v))
                    });
                    if matches {
                        return Ok(());
                    }
                }
                Err(berth_image::ImageError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let reference = berth_image::Reference::parse(image)?;
        let mut opts = reg.clone();
        opts.platform = platform.cloned();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        opts.progress = Some(ProgressFn(std::sync::Arc::new(move |e: &Event| {
            let what = match e.phase {
                Phase::Download => "Downloading",
                Phase::Unpack => "Extracting",
                Phase::Exists => "Already exists",
                Phase::Done => "Download complete",
                Phase::Upload | Phase::Mounted => return,
            };
            // One line per blob and phase: a text stream, not a redrawn bar.
            let first = seen
                .lock()
                .map(|mut s| s.insert((e.digest.clone(), what)))
                .unwrap_or(false);
            if first {
                let _ = tx.send(format!("{}: {what}\n", short(&e.digest)));
            }
        })));
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
        let path = reference.path.clone();
        self.say(&format!(
            "{}: Pulling from {}\n",
            reference
                .digest
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or(tag),
            path
        ));
        let store = self.store;
        let wanted = reference.to_string();
        let pulled = std::thread::scope(|s| {
            // The pull reports from its threads; this one prints (the
            // progress callback is not Send). The channel ends when the
            // pull, and with it the last sender, is done.
            let h = s.spawn(move || store.pull(&wanted, &opts));
            for line in rx {
                self.say(&line);
            }
            h.join()
        })
        .map_err(|_| BuildError::Invalid(format!("pulling {image}: the pull panicked")))?;
        let img = pulled.map_err(|e| match e {
            berth_image::ImageError::NotFound(_) => BuildError::Invalid(format!(
                "pull access denied for {}, repository does not exist or may require 'docker login'",
                berth_image::reference::familiar_name(&reference.repository())
            )),
            e => BuildError::Invalid(format!("pulling {image}: {e}")),
        })?;
        if let Some(d) = img.repo_digests.last() {
            self.say(&format!(
                "Digest: {}\n",
                d.rsplit_once('@').map(|x| x.1).unwrap_or(d)
            ));
        }
        self.say(&format!(
            "Status: Downloaded newer image for {}\n",
            berth_image::reference::familiar_name(&reference.to_string())
        ));
        Ok(())
    }

    fn stage_named(&self, index: usize, name: &str) -> bool {
        self.stage_names
            .get(index)
            .is_some_and(|n| n.as_deref() == Some(&name.to_ascii_lowercase()))
    }

    /// Runs one step through the cache: `desc` says everything its result
    /// depends on besides the state before it. `run` must be cheap and
    /// pure (a config step's): with `--cache-from` it is run to learn the
    /// step's history entry before the sources are asked.
    pub fn cached(
        &mut self,
        st: &mut StageState,
        desc: &str,
        run: impl FnOnce(&mut Self, &ImageParts) -> Result<ImageParts>,
    ) -> Result<()> {
        self.cached_step(st, desc, None, run)
    }

    /// [`Self::cached`] for a step that makes a layer (RUN, COPY, ADD,
    /// WORKDIR): `plan` is what it will say without running it, so that a
    /// `--cache-from` image may stand in for the run.
    pub fn cached_step(
        &mut self,
        st: &mut StageState,
        desc: &str,
        plan: Option<StepPlan>,
        run: impl FnOnce(&mut Self, &ImageParts) -> Result<ImageParts>,
    ) -> Result<()> {
        let key = digest_hex(&format!("{}\n{desc}", st.key));
        if !self.opts.no_cache {
            if let Some(p) = self.store.build_cache_get(&key)? {
                if self.store.parts_present(&p) && self.cache_source_holds(&p) {
                    return self.hit(st, key, p);
                }
            }
        }
        let from_sources = self.cache_sources.is_some() && !self.opts.no_cache;
        let parts = match plan {
            Some(plan) if from_sources => {
                match self.restore(&st.parts, &plan.pre, &plan.created_by) {
                    Some(p) => {
                        self.store.build_cache_put(&key, &p)?;
                        return self.hit(st, key, p);
                    }
                    None => run(self, &st.parts)?,
                }
            }
            None if from_sources => {
                let p = run(self, &st.parts)?;
                let mut pre = p.clone();
                let created_by = pre.config["history"]
                    .as_array_mut()
                    .and_then(|h| h.pop())
                    .and_then(|e| e["created_by"].as_str().map(str::to_owned));
                let restored = match created_by {
                    Some(c) if pre.layers.len() == st.parts.layers.len() => {
                        self.restore(&st.parts, &pre, &c)
                    }
                    _ => None,
                };
                if let Some(r) = restored {
                    self.store.build_cache_put(&key, &r)?;
                    return self.hit(st, key, r);
                }
                p
            }
            _ => run(self, &st.parts)?,
        };
        self.store.build_cache_put(&key, &parts)?;
        st.parts = parts;
        st.key = key;
        self.commit_step(st)
    }

    fn hit(&mut self, st: &mut StageState, key: String, p: ImageParts) -> Result<()> {
        self.hits += 1;
        self.say(" ---> Using cache\n");
        st.parts = p;
        st.key = key;
        self.commit_step(st)
    }

    /// The step's result taken from a `--cache-from` image, as dockerd's
    /// cache restores one: an image whose history and layers begin with
    /// the current state's, and whose next history entry was made by this
    /// step (the same `created_by`), gives that entry and its layer, over
    /// `pre` (the state with the step's config changes).
    fn restore(&self, cur: &ImageParts, pre: &ImageParts, created_by: &str) -> Option<ImageParts> {
        let sources = self.cache_sources.as_ref()?;
        let history = |c: &Value| c["history"].as_array().cloned().unwrap_or_default();
        let hist = history(&cur.config);
        for src in sources {
            let src_hist = history(&src.config);
            let n = hist.len();
            let consistent = src_hist.len() > n
                && src_hist[..n] == hist[..]
                && src.layers.len() >= cur.layers.len()
                && src.layers[..cur.layers.len()]
                    .iter()
                    .zip(&cur.layers)
                    .all(|(a, b)| a.diff_id == b.diff_id);
            if !consistent || src_hist[n]["created_by"].as_str() != Some(created_by) {
                continue;
            }
            let entry = src_hist[n].clone();
            let mut out = pre.clone();
            if entry["empty_layer"].as_bool() != Some(true) {
                let below = src_hist[..n]
                    .iter()
                    .filter(|h| h["empty_layer"].as_bool() != Some(true))
                    .count();
                let layer = src.layers.get(below)?.clone();
                match out.config["rootfs"]["diff_ids"].as_array_mut() {
                    Some(ids) => ids.push(json!(layer.diff_id)),
                    None => {
                        out.config["rootfs"] =
                            json!({ "type": "layers", "diff_ids": [layer.diff_id] })
                    }
                }
                out.layers.push(layer);
            }
            if let Some(obj) = out.config.as_object_mut() {
                obj.insert("created".into(), entry["created"].clone());
                let h = obj.entry("history").or_insert_with(|| json!([]));
                if let Some(list) = h.as_array_mut() {
                    list.push(entry);
                }
            }
            if self.store.parts_present(&out) {
                return Some(out);
            }
        }
        None
    }

    /// Whether a cached step may serve: always without `--cache-from`;
    /// with it, only when a source image holds the step's result (its
    /// layers and history begin with the step's).
    fn cache_source_holds(&self, p: &ImageParts) -> bool {
        let Some(sources) = &self.cache_sources else {
            return true;
        };
        let history = |c: &Value| c["history"].as_array().cloned().unwrap_or_default();
        let (layers, hist) = (&p.layers, history(&p.config));
        sources.iter().any(|src| {
            let src_hist = history(&src.config);
            src.layers.len() >= layers.len()
                && src.layers[..layers.len()]
                    .iter()
                    .zip(layers)
                    .all(|(a, b)| a.diff_id == b.diff_id)
                && src_hist.len() >= hist.len()
                && src_hist[..hist.len()] == hist[..]
        })
    }

    /// Stores the step's state as an untagged image whose parent is the
    /// previous step's, and prints its id.
    fn commit_step(&mut self, st: &mut StageState) -> Result<()> {
        let img = self.store.create_image(&st.parts, &[], &st.image_id)?;
        st.image_id = img.id;
        let id = st.image_id.clone();
        self.say(&format!(" ---> {}\n", short(&id)));
        Ok(())
    }

    fn instruction(&mut self, st: &mut StageState, ins: &Instruction) -> Result<()> {
        match &ins.kind {
            Kind::Run {
                buildkit_flag: Some(f),
                ..
            } => Err(BuildError::Invalid(format!(
                "the --{f} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
            ))),
            Kind::Run { cmd, network, .. } => self.run_step(st, ins, cmd, network.as_deref()),
            Kind::Copy(spec) => self.copy_step(st, ins, spec, false),
            Kind::Add(spec) => self.copy_step(st, ins, spec, true),
            Kind::Workdir(dir) => self.workdir_step(st, ins, dir),
            Kind::Arg(list) => {
                for (k, default) in list {
                    let dflt = match default {
                        Some(d) => {
                            Some(words::expand(d, &st.vars(), self.escape).map_err(|m| {
                                BuildError::Step {
                                    line: ins.line,
                                    message: m,
                                }
                            })?)
                        }
                        None => self
                            .meta
                            .iter()
                            .rev()
                            .find(|(m, _)| m == k)
                            .map(|(_, v)| v.clone()),
                    };
                    let given = self.build_arg(k);
                    st.args.retain(|(a, _)| a != k);
                    if let Some(v) = given.or(dflt) {
                        st.args.push((k.clone(), v));
                    }
                }
                let desc = format!("ARG {}", json!(st.args));
                let text = ins.text.clone();
                self.cached(st, &desc, |_, p| Ok(nop(p, &text)))
            }
            Kind::From { .. } => Err(BuildError::Invalid("FROM inside a stage".into())),
            _ => self.config_step(st, ins),
        }
    }
}

/// What a layer step will record, known before it runs.
pub(crate) struct StepPlan {
    /// The state with the step's config changes, before its history entry.
    pub pre: ImageParts,
    /// Its history entry's `created_by`.
    pub created_by: String,
}

/// A config-only step's parts: the history entry, marked empty.
pub(crate) fn nop(parts: &ImageParts, text: &str) -> ImageParts {
    let mut p = parts.clone();
    history(&mut p, &format!("/bin/sh -c #(nop)  {text}"), true);
    p
}

/// Appends a history entry and sets `created`.
pub(crate) fn history(parts: &mut ImageParts, created_by: &str, empty_layer: bool) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let Some(obj) = parts.config.as_object_mut() else {
        return;
    };
    obj.insert("created".into(), json!(now));
    let h = obj.entry("history").or_insert_with(|| json!([]));
    if !h.is_array() {
        *h = json!([]);
    }
    if let Some(list) = h.as_array_mut() {
        let mut e = json!({ "created": now, "created_by": created_by });
        if empty_layer {
            e["empty_layer"] = json!(true);
        }
        list.push(e);
    }
}

/// The `config` object of the config blob, made if missing.
pub(crate) fn config_of(parts: &mut ImageParts) -> &mut Map<String, Value> {
    if !parts.config.is_object() {
        parts.config = json!({});
    }
    let obj = parts.config.as_object_mut().expect("made an object above");
    let c = obj.entry("config").or_insert_with(|| json!({}));
    if !c.is_object() {
        *c = json!({});
    }
    c.as_object_mut().expect("made an object above")
}

pub(crate) fn labels_of(parts: &mut ImageParts) -> &mut Map<String, Value> {
    let c = config_of(parts);
    let l = c.entry("Labels").or_insert_with(|| json!({}));
    if !l.is_object() {
        *l = json!({});
    }
    l.as_object_mut().expect("made an object above")
}

/// The config's Env as pairs.
pub(crate) fn env_of(parts: &ImageParts) -> Vec<(String, String)> {
    parts.config["config"]["Env"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (e.to_string(), String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The image id the parts would have (the config blob's digest).
pub(crate) fn config_id(parts: &ImageParts) -> String {
    let bytes = serde_json::to_vec(&parts.config).unwrap_or_default();
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

pub(crate) fn digest_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The 12-hex short form of an id.
pub(crate) fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// A fresh id for a step's rootfs and container.
pub(crate) fn step_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    digest_hex(&format!("{}-{t}-{n}", std::process::id()))
}
