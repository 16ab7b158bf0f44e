//! Container names with a '/' in them: legacy link names (`parent/alias`)
//! name the linked container (`DELETE /containers/parent/alias?link=1`,
//! `GET /containers/parent/alias/json`), as dockerd's routes take any
//! text as the name. The router's `{id}` is one segment, so such a name's
//! slashes are percent-encoded before routing (the extractor decodes them).

use axum::http::Method;

/// The container verbs (`/containers/{id}/<verb>`) a slashed name may precede.
const VERBS: &[&str] = &[
    "json", "start", "stop", "restart", "kill", "wait", "attach", "logs", "pause", "unpause",
    "rename", "top", "resize", "stats", "changes", "update", "export", "archive", "exec",
];

/// The path with a slashed container name encoded, or `None` to leave it.
pub fn encode(method: &Method, path: &str) -> Option<String> {
    let rest = path.strip_prefix("/containers/")?;
    let (name, verb) = if *method == Method::DELETE {
        (rest, None)
    } else {
        let (name, verb) = rest.rsplit_once('/')?;
        if !VERBS.contains(&verb) {
            return None;
        }
        (name, Some(verb))
    };
    if !name.contains('/') || name.trim_matches('/').is_empty() {
        return None;
    }
    let name = name.replace('/', "%2F");
    Some(match verb {
        Some(v) => format!("/containers/{name}/{v}"),
        None => format!("/containers/{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slashed_names_are_encoded_for_container_routes() {
        assert_eq!(
            encode(&Method::DELETE, "/containers/app/db").as_deref(),
            Some("/containers/app%2Fdb")
        );
        assert_eq!(
            encode(&Method::DELETE, "/containers//app/db").as_deref(),
            Some("/containers/%2Fapp%2Fdb")
        );
        assert_eq!(
            encode(&Method::GET, "/containers/app/db/json").as_deref(),
            Some("/containers/app%2Fdb/json")
        );
        assert_eq!(encode(&Method::GET, "/containers/web/json"), None);
        assert_eq!(encode(&Method::DELETE, "/containers/web"), None);
        assert_eq!(encode(&Method::GET, "/containers/a/b/nosuchverb"), None);
        assert_eq!(encode(&Method::GET, "/images/a/b/json"), None);
    }
}
