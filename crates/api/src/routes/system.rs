//! `_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::container::logs::parse_timestamp;
use berth_engine::{Engine, Event, Filters};
use bollard_stubs::models::{
    Commit, PluginsInfo, SwarmInfo, SystemInfo, SystemVersion, SystemVersionComponents,
    SystemVersionPlatform,
};
use bytes::Bytes;

use crate::body::reply;
use crate::error::ApiResult;
use crate::query::Q;
use crate::version::{MAX, MIN};

/// `POST /auth`: an AuthConfig checked against its registry; dockerd's
/// answer on success, 401 when the registry refuses it.
async fn auth(State(e): State<Engine>, body: Bytes) -> ApiResult<Response> {
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|err| {
        crate::error::ApiError::bad_request(format!("invalid auth config: {err}"))
    })?;
    let username = v["username"].as_str().unwrap_or("").to_owned();
    if username.is_empty() {
        return Err(crate::error::ApiError::bad_request(
            "invalid auth config: a username is required",
        ));
    }
    let creds = berth_engine::registry::Credentials {
        username,
        password: v["password"].as_str().unwrap_or("").to_owned(),
    };
    let server = v["serveraddress"].as_str().unwrap_or("");
    e.registry_auth(server, creds).await?;
    Ok(reply(
        200,
        &serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" }),
    ))
}

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/auth", post(auth))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/events", get(events))
        .route("/system/df", get(df))
        .route("/build/prune", post(build_prune))
}

async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from("OK")
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("docker-experimental", HeaderValue::from_static("false"));
    // No BuildKit: the classic builder's version.
    h.insert("builder-version", HeaderValue::from_static("1"));
    r
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    (get("PRETTY_NAME"), get("VERSION_ID"))
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        other => other,
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

async fn version() -> ApiResult<Response> {
    let v = env!("CARGO_PKG_VERSION").to_owned();
    let engine = SystemVersionComponents {
        name: "Engine".into(),
        version: v.clone(),
        details: Some(
            [
                ("ApiVersion".to_owned(), MAX.to_string()),
                ("MinAPIVersion".to_owned(), MIN.to_string()),
                ("Os".to_owned(), "linux".to_owned()),
                ("Arch".to_owned(), go_arch().to_owned()),
                ("KernelVersion".to_owned(), kernel_version()),
            ]
            .into_iter()
            .collect(),
        ),
    };
    Ok(reply(
        200,
        &SystemVersion {
            platform: Some(SystemVersionPlatform {
                name: "berth".into(),
            }),
            components: Some(vec![engine]),
            version: Some(v),
            api_version: Some(MAX.to_string()),
            min_api_version: Some(MIN.to_string()),
            git_commit: Some(String::new()),
            go_version: Some(format!("rust (berth {})", env!("CARGO_PKG_VERSION"))),
            os: Some("linux".into()),
            arch: Some(go_arch().into()),
            kernel_version: Some(kernel_version()),
            experimental: Some(false),
            build_time: Some(String::new()),
        },
    ))
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn cgroup_version() -> &'static str {
    // SAFETY: statfs with a NUL-terminated path and a zeroed buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ok = unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), &mut st) } == 0;
    if ok && st.f_type as i64 == 0x6367_7270 {
        "2"
    } else {
        "1"
    }
}

async fn info(State(e): State<Engine>) -> ApiResult<Response> {
    let (all, running, paused, stopped) = e.counts();
    let (os, os_version) = os_release();
    let cfg = e.config();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let id = cfg.data_root.to_string_lossy().into_owned();
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    // berth's own runtime under dockerd's stock names, then the
    // configured external ones.
    let own = cfg.self_binary.to_string_lossy().into_owned();
    let mut runtimes: std::collections::HashMap<_, _> = berth_engine::config::BUILTIN_RUNTIMES
        .iter()
        .map(|n| {
            let rt = bollard_stubs::models::Runtime {
                path: Some(own.clone()),
                ..Default::default()
            };
            ((*n).to_owned(), rt)
        })
        .collect();
    for (name, rt) in &cfg.runtimes {
        runtimes.insert(
            name.clone(),
            bollard_stubs::models::Runtime {
                path: Some(rt.path.to_string_lossy().into_owned()),
                runtime_args: (!rt.args.is_empty()).then(|| rt.args.clone()),
                ..Default::default()
            },
        );
    }
    let info = SystemInfo {
        id: Some(format!("berth:{id}")),
        containers: Some(all as i64),
        containers_running: Some(running as i64),
        containers_paused: Some(paused as i64),
        containers_stopped: Some(stopped as i64),
        images: Some(e.image_count() as i64),
        driver: Some("overlay2".into()),
        driver_status: Some(vec![vec!["Backing Filesystem".into(), "overlayfs".into()]]),
        docker_root_dir: Some(cfg.data_root.to_string_lossy().into_owned()),
        plugins: Some(PluginsInfo {
            volume: Some(vec!["local".into()]),
            network: Some(vec![
                "bridge".into(),
                "cni".into(),
                "host".into(),
                "null".into(),
            ]),
            authorization: None,
            log: Some(vec!["json-file".into(), "none".into()]),
        }),
        memory_limit: Some(true),
        swap_limit: Some(true),
        cpu_cfs_period: Some(true),
        cpu_cfs_quota: Some(true),
        cpu_shares: Some(true),
        cpu_set: Some(true),
        pids_limit: Some(true),
        oom_kill_disable: Some(true),
        ipv4_forwarding: Some(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .map(|s| s.trim() == "1")
                .unwrap_or(false),
        ),
        debug: Some(false),
        nfd: Some(
            std::fs::read_dir("/proc/self/fd")
                .map(|d| d.count() as i64)
                .unwrap_or(0),
        ),
        n_goroutines: Some(0),
        system_time: Some(berth_runtime_time()),
        logging_driver: Some("json-file".into()),
        cgroup_driver: serde_json::from_value(serde_json::json!("cgroupfs")).ok(),
        cgroup_version: serde_json::from_value(serde_json::json!(cgroup_version())).ok(),
        n_events_listener: Some(0),
        kernel_version: Some(kernel_version()),
        operating_system: Some(os),
        os_version: Some(os_version),
        os_type: Some("linux".into()),
        architecture: Some(arch().into()),
        ncpu: Some(ncpu),
        mem_total: Some(mem_total()),
        index_server_address: Some("https://index.docker.io/v1/".into()),
        registry_config: None,
        generic_resources: None,
        http_proxy: Some(String::new()),
        https_proxy: Some(String::new()),
        no_proxy: Some(String::new()),
        name: Some(host),
        labels: Some(Vec::new()),
        experimental_build: Some(false),
        server_version: Some(env!("CARGO_PKG_VERSION").into()),
        runtimes: Some(runtimes),
        default_runtime: Some(cfg.default_runtime.clone()),
        swarm: Some(SwarmInfo {
            node_id: Some(String::new()),
            node_addr: Some(String::new()),
            local_node_state: serde_json::from_value(serde_json::json!("inactive")).ok(),
            control_available: Some(false),
            error: Some(String::new()),
            ..Default::default()
        }),
        live_restore_enabled: Some(true),
        isolation: None,
        init_binary: Some(String::new()),
        containerd_commit: Some(Commit {
            id: Some(String::new()),
        }),
        runc_commit: Some(Commit {
            id: Some(String::new()),
        }),
        init_commit: Some(Commit {
            id: Some(String::new()),
        }),
        security_options: Some(vec!["name=cgroupns".into()]),
        warnings: Some(Vec::new()),
        cdi_spec_dirs: Some(Vec::new()),
        // As dockerd: only pools given by --default-address-pool.
        default_address_pools: (!cfg.address_pools.is_empty()).then(|| {
            cfg.address_pools
                .iter()
                .map(|p| bollard_stubs::models::SystemInfoDefaultAddressPools {
                    base: Some(p.base.to_string()),
                    size: Some(i64::from(p.size)),
                })
                .collect()
        }),
        firewall_backend: Some(bollard_stubs::models::FirewallInfo {
            driver: Some("nftables".into()),
            info: None,
        }),
        ..Default::default()
    };
    Ok(reply(200, &info))
}

fn berth_runtime_time() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    berth_engine::container::inspect::format_time(d.as_secs(), d.subsec_nanos())
}

fn event_json(e: &Event) -> serde_json::Value {
    let secs = e.time_nano / 1_000_000_000;
    let mut v = serde_json::json!({
        "Type": e.kind,
        "Action": e.action,
        "Actor": { "ID": e.actor_id, "Attributes": e.attributes },
        "scope": "local",
        "time": secs,
        "timeNano": e.time_nano,
    });
    if e.kind == "container" {
        v["status"] = serde_json::json!(e.action);
        v["id"] = serde_json::json!(e.actor_id);
        if let Some(img) = e.attributes.get("image") {
            v["from"] = serde_json::json!(img);
        }
    }
    v
}

async fn events(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    let since = parse_timestamp(q.str("since").unwrap_or(""))?.map(|s| (s * 1e9) as i64);
    let until = parse_timestamp(q.str("until").unwrap_or(""))?.map(|s| (s * 1e9) as i64);
    let (past, mut rx) = e.events().subscribe(since);
    let (tx, out) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let send = |ev: &Event| Bytes::from(format!("{}\n", event_json(ev)));
        for ev in past.iter().filter(|ev| ev.matches(&f)) {
            if until.is_some_and(|u| ev.time_nano > u) {
                return;
            }
            if tx.send(send(ev)).await.is_err() {
                return;
            }
        }
        loop {
            let deadline = until.map(|u| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i64)
                    .unwrap_or(0);
                Duration::from_nanos((u - now).max(0) as u64)
            });
            let next = match deadline {
                Some(d) => match tokio::time::timeout(d, rx.recv()).await {
                    Ok(r) => r,
                    Err(_) => return,
                },
                None => tokio::select! {
                    r = rx.recv() => r,
                    _ = tx.closed() => return,
                },
            };
            match next {
                Ok(ev) => {
                    if ev.matches(&f) && tx.send(send(&ev)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    let stream = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(out),
        Ok::<_, Infallible>,
    );
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

/// berth builds no images, so there is never a build cache to prune.
async fn build_prune() -> Response {
    reply(
        200,
        &serde_json::json!({ "CachesDeleted": [], "SpaceReclaimed": 0 }),
    )
}

async fn df(State(e): State<Engine>) -> ApiResult<Response> {
    let containers: Vec<_> = e.list_records().iter().map(|r| e.summary(r)).collect();
    let volumes: Vec<serde_json::Value> = e
        .volume_list(&Filters::default())?
        .into_iter()
        .map(|v| {
            let path = e.volume_path(&v.name);
            serde_json::json!({
                "Name": v.name,
                "Driver": v.driver,
                "Mountpoint": path,
                "CreatedAt": v.created_at,
                "Labels": v.labels,
                "Scope": "local",
                "Options": v.options,
                "UsageData": {
                    "Size": berth_engine::volumes::dir_size(&path),
                    "RefCount": e.volume_users(&v.name).len(),
                },
            })
        })
        .collect();
    let mut images = e.image_list(false, Filters::default()).await?;
    let records = e.list_records();
    let mut layers_size = 0;
    for i in &mut images {
        i.containers = records.iter().filter(|r| r.image_id == i.id).count() as i64;
        // The CLI's RECLAIMABLE leaves out Size - SharedSize of used
        // images (-1 would make it skip them); berth does not account
        // shared layers.
        i.shared_size = 0;
        layers_size += i.size;
    }
    Ok(reply(
        200,
        &serde_json::json!({
            "LayersSize": layers_size,
            "Images": images,
            "Containers": containers,
            "Volumes": volumes,
            "BuildCache": [],
        }),
    ))
}
