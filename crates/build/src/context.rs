//! The build context: a directory on this host (the CLI's), or a tar the
//! API received unpacked into one; `.dockerignore` patterns; the files a
//! COPY source names, never outside the context.

use std::path::{Component, Path, PathBuf};

use crate::error::BuildError;

/// A build context directory and its `.dockerignore`.
#[derive(Debug, Clone)]
pub struct Context {
    root: PathBuf,
    ignore: Vec<Pattern>,
}

/// One `.dockerignore` line: a glob over slash-separated context paths,
/// or an exception (`!pattern`).
#[derive(Debug, Clone)]
struct Pattern {
    glob: Vec<String>,
    exclude: bool,
}

impl Context {
    /// The context at `root`, reading its `.dockerignore` if present.
    pub fn open(root: &Path) -> Result<Context, BuildError> {
        let root = root
            .canonicalize()
            .map_err(|e| BuildError::Context(format!("build context {}: {e}", root.display())))?;
        let mut ignore = Vec::new();
        if let Ok(text) = std::fs::read_to_string(root.join(".dockerignore")) {
            for line in text.lines() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let (exclude, pat) = match l.strip_prefix('!') {
                    Some(p) => (false, p.trim()),
                    None => (true, l),
                };
                let cleaned = clean(pat);
                if cleaned.is_empty() {
                    continue;
                }
                ignore.push(Pattern {
                    glob: cleaned.split('/').map(str::to_string).collect(),
                    exclude,
                });
            }
        }
        Ok(Context { root, ignore })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `rel` (slash-separated, relative to the root) is ignored:
    /// the last pattern that matches it or one of its parents decides.
    pub fn ignored(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let mut out = false;
        for p in &self.ignore {
            let hit = (1..=parts.len()).any(|n| glob_match(&p.glob, &parts[..n]));
            if hit {
                out = p.exclude;
            }
        }
        out
    }

    /// The context paths (relative, slash-separated) a COPY source names:
    /// a path, or a glob over paths. Errors if it leaves the context or
    /// matches nothing.
    pub fn resolve_source(&self, src: &str) -> Result<Vec<String>, BuildError> {
        let cleaned = clean(src);
        if escapes(src) {
            return Err(BuildError::Context(format!(
                "COPY failed: forbidden path outside the build context: {src}"
            )));
        }
        let has_glob = cleaned.contains(['*', '?', '[']);
        if !has_glob {
            let p = self.path(&cleaned)?;
            if p.symlink_metadata().is_err() || (!cleaned.is_empty() && self.ignored(&cleaned)) {
                return Err(BuildError::Context(format!(
                    "COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
                )));
            }
            return Ok(vec![cleaned]);
        }
        let glob: Vec<String> = cleaned.split('/').map(str::to_string).collect();
        let mut hits = Vec::new();
        self.walk("", &mut |rel| {
            let parts: Vec<&str> = rel.split('/').collect();
            if glob_match(&glob, &parts) {
                hits.push(rel.to_string());
            }
        })?;
        hits.retain(|h| !self.ignored(h));
        hits.sort();
        if hits.is_empty() {
            return Err(BuildError::Context(format!(
                "COPY failed: no source files were specified or all were excluded by .dockerignore: {src}"
            )));
        }
        Ok(hits)
    }

    /// Where the context path `rel` is on this host: symlinks on the way
    /// resolve inside the context (a context from a client must not name
    /// the daemon's files); the last component is not followed.
    pub fn path(&self, rel: &str) -> Result<PathBuf, BuildError> {
        crate::files::resolve_in(&self.root, rel, false)
    }

    /// Calls `f` for every path under `rel` (not following symlinks).
    pub fn walk(&self, rel: &str, f: &mut dyn FnMut(&str)) -> Result<(), BuildError> {
        let dir = self.root.join(rel);
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| BuildError::Context(format!("listing {}: {e}", dir.display())))?;
        let mut names: Vec<String> = rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let child = if rel.is_empty() {
                n
            } else {
                format!("{rel}/{n}")
            };
            f(&child);
            let p = self.root.join(&child);
            if p.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                self.walk(&child, f)?;
            }
        }
        Ok(())
    }
}

/// `a/./b//c/` → `a/b/c`; a leading `/` dropped (context paths are
/// relative to its root).
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => out.push(s.to_str().unwrap_or("")),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.join("/")
}

/// Whether `p`, taken relative to the context root, climbs out of it.
fn escapes(p: &str) -> bool {
    let mut depth: i64 = 0;
    for c in Path::new(p).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::RootDir => depth = 0,
            _ => {}
        }
    }
    false
}

/// Glob over path components: `**` any number of components, `*`, `?` and
/// `[...]` within one.
fn glob_match(glob: &[String], path: &[&str]) -> bool {
    match glob.split_first() {
        None => path.is_empty(),
        Some((g, rest)) if g == "**" => {
            (0..=path.len()).any(|skip| glob_match(rest, &path[skip..]))
        }
        Some((g, rest)) => match path.split_first() {
            Some((p, prest)) => {
                component_match(g.as_bytes(), p.as_bytes()) && glob_match(rest, prest)
            }
            None => false,
        },
    }
}

fn component_match(g: &[u8], s: &[u8]) -> bool {
    match g.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| component_match(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && component_match(rest, &s[1..]),
        Some((b'[', rest)) => {
            let Some(end) = rest.iter().position(|&c| c == b']') else {
                return s.first() == Some(&b'[') && component_match(rest, &s[1..]);
            };
            let Some((&c, srest)) = s.split_first() else {
                return false;
            };
            let (neg, class) = match rest[..end].split_first() {
                Some((b'^' | b'!', cl)) => (true, cl),
                _ => (false, &rest[..end]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != neg && component_match(&rest[end + 1..], srest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            s.first() == Some(&rest[0]) && component_match(&rest[1..], &s[1..])
        }
        Some((&c, rest)) => s.first() == Some(&c) && component_match(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ignore: &str) -> Result<(tempfile::TempDir, Context), Box<dyn std::error::Error>> {
        let d = tempfile::tempdir()?;
        std::fs::write(d.path().join(".dockerignore"), ignore)?;
        for f in ["a.txt", "b.log", "keep.log", "sub/c.txt", "sub/deep/d.log"] {
            let p = d.path().join(f);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(p, f)?;
        }
        let c = Context::open(d.path())?;
        Ok((d, c))
    }

    #[test]
    fn dockerignore_patterns_and_exceptions() -> Result<(), Box<dyn std::error::Error>> {
        let (_d, c) = ctx("# comment\n*.log\n!keep.log\n/sub/deep\n")?;
        assert!(c.ignored("b.log"));
        assert!(!c.ignored("keep.log"));
        assert!(!c.ignored("a.txt"));
        assert!(c.ignored("sub/deep"));
        assert!(c.ignored("sub/deep/d.log"));
        assert!(!c.ignored("sub/c.txt"));
        let (_d, c) = ctx("**/*.txt\n")?;
        assert!(c.ignored("a.txt") && c.ignored("sub/c.txt"));
        Ok(())
    }

    #[test]
    fn sources_globs_and_escapes() -> Result<(), Box<dyn std::error::Error>> {
        let (_d, c) = ctx("b.log\n")?;
        assert_eq!(c.resolve_source("*.log")?, vec!["keep.log".to_string()]);
        assert_eq!(
            c.resolve_source("./sub/../a.txt")?,
            vec!["a.txt".to_string()]
        );
        assert_eq!(
            c.resolve_source("sub/*/d.log")?,
            vec!["sub/deep/d.log".to_string()]
        );
        assert!(c.resolve_source("../etc/passwd").is_err());
        assert!(c.resolve_source("b.log").is_err());
        assert!(c.resolve_source("missing").is_err());
        assert!(c.resolve_source("*.none").is_err());
        Ok(())
    }

    #[test]
    fn symlinks_in_the_context_stay_inside_it() -> Result<(), Box<dyn std::error::Error>> {
        let (d, c) = ctx("")?;
        std::os::unix::fs::symlink("/etc", d.path().join("link"))?;
        assert!(c.resolve_source("link/passwd").is_err());
        assert_eq!(c.path("link/x")?, c.root().join("etc/x"));
        Ok(())
    }

    #[test]
    fn character_classes() {
        assert!(component_match(b"f[a-c]o", b"fbo"));
        assert!(!component_match(b"f[^a-c]o", b"fbo"));
        assert!(component_match(b"*.t?t", b"x.txt"));
    }
}
