//! `/networks/...`: the engine's networks (the default `bridge`,
//! user-defined bridges and the CNI networks of the CNI config dir, from
//! the network drivers) plus the built-in `host` and `none`, in Docker's
//! JSON shape.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_engine::network::{NetworkCreate, NetworkInfo};
use berth_engine::{Engine, EngineError, Filters};
use serde_json::{json, Value};

use crate::body::{json, reply};
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

const EMPTY_TIME: &str = "0001-01-01T00:00:00Z";

/// The containers attached to network `name`, as inspect lists them.
fn containers_of(e: &Engine, name: &str) -> serde_json::Map<String, Value> {
    e.list_records()
        .into_iter()
        .filter(|r| r.state.status.is_live())
        .filter_map(|r| {
            if let Some(ep) = r.endpoints.get(name) {
                let v4 = if ep.ip_address.is_empty() {
                    String::new()
                } else {
                    format!("{}/{}", ep.ip_address, ep.ip_prefix_len)
                };
                let v6 = if ep.global_ipv6_address.is_empty() {
                    String::new()
                } else {
                    format!("{}/{}", ep.global_ipv6_address, ep.global_ipv6_prefix_len)
                };
                return Some((
                    r.id.clone(),
                    json!({ "Name": r.name, "EndpointID": ep.endpoint_id, "MacAddress": ep.mac_address, "IPv4Address": v4, "IPv6Address": v6 }),
                ));
            }
            // host and none have no endpoint record.
            let mode = r.host_config.network_mode.as_deref();
            (matches!(mode, Some("host" | "none")) && mode == Some(name)).then(|| {
                (
                    r.id.clone(),
                    json!({ "Name": r.name, "EndpointID": "", "MacAddress": "", "IPv4Address": "", "IPv6Address": "" }),
                )
            })
        })
        .collect()
}

fn model(e: &Engine, n: &NetworkInfo) -> Value {
    let mut options: serde_json::Map<String, Value> = n
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if n.name == "bridge" {
        options.insert(
            "com.docker.network.bridge.default_bridge".into(),
            json!("true"),
        );
    }
    // Each --aux-address shows in the config of its family's subnet.
    let aux_of = |v4: bool| -> serde_json::Map<String, Value> {
        n.aux_addresses
            .iter()
            .filter(|(_, ip)| {
                ip.parse::<std::net::IpAddr>()
                    .is_ok_and(|i| i.is_ipv4() == v4)
            })
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect()
    };
    let mut ipam = json!({ "Subnet": n.subnet, "Gateway": n.gateway });
    if !n.ip_range.is_empty() {
        ipam["IPRange"] = json!(n.ip_range);
    }
    let aux4 = aux_of(true);
    if !aux4.is_empty() {
        ipam["AuxiliaryAddresses"] = Value::Object(aux4);
    }
    // A CNI network whose IPAM is not host-local ranges shows none.
    let mut configs = if n.subnet.is_empty() && n.driver == "cni" {
        Vec::new()
    } else {
        vec![ipam]
    };
    if !n.subnet6.is_empty() {
        let mut v6 = json!({ "Subnet": n.subnet6, "Gateway": n.gateway6 });
        let aux6 = aux_of(false);
        if !aux6.is_empty() {
            v6["AuxiliaryAddresses"] = Value::Object(aux6);
        }
        configs.push(v6);
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": !n.subnet6.is_empty(),
        // berth keeps no IPAM driver options: null, as dockerd shows a
        // network created without them (the default bridge, the API).
        "IPAM": { "Driver": "default", "Options": null, "Config": configs },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers_of(e, &n.name),
        "Options": options,
        "Labels": n.labels,
    })
}

/// `host` and `none` get a 64-hex id like every network (clients take a
/// short id from it), fixed per name so it never changes.
fn builtin_id(name: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("berth builtin network {name}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn builtin(e: &Engine, name: &str) -> Value {
    json!({
        "Name": name,
        "Id": builtin_id(name),
        "Created": EMPTY_TIME,
        "Scope": "local",
        "Driver": if name == "none" { "null" } else { name },
        "EnableIPv4": false,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": null, "Config": [] },
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers_of(e, name),
        "Options": {},
        "Labels": {},
    })
}

fn all(e: &Engine) -> Vec<Value> {
    let mut v: Vec<Value> = e
        .network_driver()
        .networks()
        .iter()
        .map(|n| model(e, n))
        .collect();
    v.push(builtin(e, "host"));
    v.push(builtin(e, "none"));
    v
}

/// A network by name, full id or unique id prefix.
fn find(e: &Engine, id: &str) -> ApiResult<Value> {
    let nets = all(e);
    if let Some(n) = nets.iter().find(|n| n["Name"] == id || n["Id"] == id) {
        return Ok(n.clone());
    }
    let mut by_prefix = nets.iter().filter(|n| {
        n["Id"]
            .as_str()
            .is_some_and(|i| !id.is_empty() && i.starts_with(id))
    });
    match (by_prefix.next(), by_prefix.next()) {
        (Some(n), None) => Ok(n.clone()),
        _ => Err(ApiError::from(EngineError::NotFound(format!(
            "network {id} not found"
        )))),
    }
}

/// `GET /networks` with dockerd's filters: name (substring), id (prefix),
/// driver, label, type (custom or builtin).
async fn list(
    State(e): State<Engine>,
    axum::extract::Query(q): axum::extract::Query<crate::query::Q>,
) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    f.check_keys(&["name", "id", "driver", "label", "type", "scope", "dangling"])?;
    if f.get("dangling").is_some() {
        return Err(EngineError::NotImplemented(
            "the dangling filter of network ls is not available yet in berthd".into(),
        )
        .into());
    }
    let text = |n: &Value, k: &str| n[k].as_str().unwrap_or_default().to_owned();
    let nets: Vec<Value> = all(&e)
        .into_iter()
        .filter(|n| {
            let builtin = matches!(n["Name"].as_str(), Some("bridge" | "host" | "none"));
            let labels = strings(&n["Labels"]);
            f.any("name", |v| text(n, "Name").contains(v))
                && f.any("id", |v| text(n, "Id").starts_with(v))
                && f.any("driver", |v| text(n, "Driver") == v)
                && f.any("scope", |v| text(n, "Scope") == v)
                && f.any("type", |v| match v {
                    "custom" => !builtin,
                    "builtin" => builtin,
                    _ => false,
                })
                && f.labels_match("label", &labels)
        })
        .collect();
    Ok(reply(200, &nets))
}

async fn inspect(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(reply(200, &find(&e, &id)?))
}

fn strings(v: &Value) -> HashMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn create(State(e): State<Engine>, b: bytes::Bytes) -> ApiResult<Response> {
    let body: Value = json(&b, false)?;
    let name = body["Name"].as_str().unwrap_or_default().to_owned();
    if name.is_empty() {
        return Err(EngineError::Invalid("network name is required".into()).into());
    }
    let configs = body["IPAM"]["Config"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    // One config per family: the IPv4 one and (with --ipv6) the IPv6 one.
    let is_v6 = |c: &Value| text(&c["Subnet"]).is_some_and(|s| s.contains(':'));
    let (v6s, v4s): (Vec<Value>, Vec<Value>) = configs.into_iter().partition(is_v6);
    if v4s.len() > 1 || v6s.len() > 1 {
        return Err(EngineError::NotImplemented(
            "more than one IPAM config per address family is not available yet in berthd".into(),
        )
        .into());
    }
    let first = v4s.into_iter().next().unwrap_or(Value::Null);
    let six = v6s.into_iter().next().unwrap_or(Value::Null);
    for c in [&first, &six] {
        if c["Gateway"].is_string() && c["Subnet"].as_str().unwrap_or_default().is_empty() {
            return Err(EngineError::Invalid("gateway specified without a subnet".into()).into());
        }
    }
    let mut aux_addresses = strings(&first["AuxiliaryAddresses"]);
    aux_addresses.extend(strings(&six["AuxiliaryAddresses"]));
    let req = NetworkCreate {
        name,
        driver: body["Driver"].as_str().unwrap_or("bridge").to_owned(),
        subnet: text(&first["Subnet"]),
        gateway: text(&first["Gateway"]),
        ip_range: text(&first["IPRange"]),
        ipv6: body["EnableIPv6"] == true,
        subnet6: text(&six["Subnet"]),
        gateway6: text(&six["Gateway"]),
        aux_addresses,
        internal: body["Internal"].as_bool().unwrap_or(false),
        attachable: body["Attachable"].as_bool().unwrap_or(false),
        labels: strings(&body["Labels"]),
        options: strings(&body["Options"]),
    };
    let driver = e.network_driver().clone();
    let info = tokio::task::spawn_blocking(move || driver.create_network(&req))
        .await
        .map_err(|err| EngineError::Internal(err.to_string()))??;
    Ok(reply(201, &json!({ "Id": info.id, "Warning": "" })))
}

async fn remove(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    let n = find(&e, &id)?;
    let name = n["Name"].as_str().unwrap_or_default().to_owned();
    if matches!(name.as_str(), "bridge" | "host" | "none") {
        return Err(EngineError::Forbidden(format!(
            "{name} is a pre-defined network and cannot be removed"
        ))
        .into());
    }
    if n["Driver"] == "cni" {
        // The driver refuses, saying where the network comes from.
        let driver = e.network_driver().clone();
        tokio::task::spawn_blocking(move || driver.remove_network(&name))
            .await
            .map_err(|err| EngineError::Internal(err.to_string()))??;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // As dockerd: only live endpoints hold a network (a stopped
    // container's start fails later with "network not found").
    // dockerd: 403 (libnetwork's ActiveEndpointsError), naming them.
    let users: Vec<String> = e
        .list_records()
        .iter()
        .filter_map(|r| {
            r.endpoints.get(&name).map(|ep| {
                format!(
                    "name:{:?} id:{:?}",
                    r.name,
                    &ep.endpoint_id[..ep.endpoint_id.len().min(12)]
                )
            })
        })
        .collect();
    if !users.is_empty() {
        return Err(EngineError::Forbidden(format!(
            "error while removing network: network {name} has active endpoints ({})",
            users.join(", ")
        ))
        .into());
    }
    let driver = e.network_driver().clone();
    tokio::task::spawn_blocking(move || driver.remove_network(&name))
        .await
        .map_err(|err| EngineError::Internal(err.to_string()))??;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The NetworkSettings fields API 1.50 still has at top level
/// (IPAddress, Gateway, MacAddress, ...): the default bridge's endpoint.
pub(crate) fn add_default_bridge_fields(inspect: &mut Value) {
    let Some(ns) = inspect
        .get_mut("NetworkSettings")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let ep = ns
        .get("Networks")
        .and_then(|n| n.get("bridge"))
        .cloned()
        .unwrap_or(Value::Null);
    let text = |k: &str| json!(ep.get(k).and_then(Value::as_str).unwrap_or_default());
    for k in [
        "IPAddress",
        "Gateway",
        "MacAddress",
        "EndpointID",
        "IPv6Gateway",
        "GlobalIPv6Address",
    ] {
        ns.insert(k.into(), text(k));
    }
    for k in ["IPPrefixLen", "GlobalIPv6PrefixLen"] {
        ns.insert(
            k.into(),
            json!(ep.get(k).and_then(Value::as_i64).unwrap_or(0)),
        );
    }
    ns.insert("Bridge".into(), json!(""));
    ns.insert("HairpinMode".into(), json!(false));
    ns.insert("LinkLocalIPv6Address".into(), json!(""));
    ns.insert("LinkLocalIPv6PrefixLen".into(), json!(0));
    ns.insert("SecondaryIPAddresses".into(), Value::Null);
    ns.insert("SecondaryIPv6Addresses".into(), Value::Null);
}

/// Removes every user-defined network without live endpoints (as
/// dockerd) that the `label` filters select.
async fn prune(
    State(e): State<Engine>,
    axum::extract::Query(q): axum::extract::Query<crate::query::Q>,
) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    f.check_keys(&["label", "label!", "until"])?;
    if f.get("until").is_some() {
        return Err(EngineError::NotImplemented(
            "the until filter of network prune is not available yet in berthd".into(),
        )
        .into());
    }
    let used: std::collections::HashSet<String> = e
        .list_records()
        .iter()
        .flat_map(|r| r.endpoints.keys().cloned().collect::<Vec<_>>())
        .collect();
    let victims: Vec<String> = e
        .network_driver()
        .networks()
        .into_iter()
        .filter(|n| n.name != "bridge" && n.driver != "cni")
        .filter(|n| !used.contains(&n.name) && !used.contains(&n.id))
        .filter(|n| {
            f.labels_match("label", &n.labels)
                && f.get("label!").is_none_or(|not| {
                    !not.iter().any(|want| match want.split_once('=') {
                        Some((k, v)) => n.labels.get(k).is_some_and(|have| have == v),
                        None => n.labels.contains_key(want.as_str()),
                    })
                })
        })
        .map(|n| n.name)
        .collect();
    let driver = e.network_driver().clone();
    let deleted = tokio::task::spawn_blocking(move || {
        victims
            .into_iter()
            .filter(|n| match driver.remove_network(n) {
                Ok(()) => true,
                Err(err) => {
                    tracing::warn!(network = %n, "prune: {err}");
                    false
                }
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|err| EngineError::Internal(err.to_string()))?;
    Ok(reply(200, &json!({ "NetworksDeleted": deleted })))
}

#[derive(serde::Deserialize, Default)]
struct ConnectBody {
    #[serde(rename = "Container", default)]
    container: String,
    #[serde(rename = "EndpointConfig", default)]
    endpoint_config: Option<bollard_stubs::models::EndpointSettings>,
    #[serde(rename = "Force", default)]
    force: bool,
}

async fn connect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: bytes::Bytes,
) -> ApiResult<Response> {
    let body: ConnectBody = json(&b, false)?;
    e.network_connect(
        &id,
        &body.container,
        body.endpoint_config.unwrap_or_default(),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: bytes::Bytes,
) -> ApiResult<Response> {
    let body: ConnectBody = json(&b, false)?;
    e.network_disconnect(&id, &body.container, body.force)
        .await?;
    Ok(StatusCode::OK.into_response())
}
