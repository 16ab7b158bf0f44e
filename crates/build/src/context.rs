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

/// One `.dockerignore` line, as moby's patternmatcher reads it: a
/// pattern over the slash-separated context path, or an exception
/// (`!pattern`).
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern text (what an exception's prefix test uses).
    text: String,
    tokens: Vec<Token>,
    exclude: bool,
}

/// A piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(u8),
    /// `?`: one byte but `/`.
    One,
    /// `*`: any run of bytes without `/`.
    Star,
    /// `**/` (or `**` before more pattern): nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]` (negated with `^` or `!`).
    Class {
        neg: bool,
        set: Vec<(u8, u8)>,
    },
}

/// Whether to take a context entry (COPY's walk, the CLI's context tar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Take it (and, for a directory, look at what it holds).
    Keep,
    /// Leave it and all below it out.
    All,
    /// Leave the directory entry out but look inside: an exception
    /// (`!dir/file`) may take something back, as moby's walk does.
    Entry,
}

/// The `.dockerignore` lines of `text`, read as moby's ignorefile does:
/// `#` comments only at the start of a line, spaces trimmed (after a `!`
/// too), paths cleaned, a leading `/` dropped.
fn read_patterns(text: &str) -> Vec<Pattern> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let (exclude, pat) = match l.strip_prefix('!') {
            Some(p) => (false, p.trim()),
            None => (true, l),
        };
        let text = clean_pattern(pat);
        if text.is_empty() {
            continue;
        }
        out.push(Pattern {
            tokens: compile(&text),
            text,
            exclude,
        });
    }
    out
}

/// Go's filepath.Clean of a pattern (its `*`/`?` untouched), slashes, no
/// leading `/`.
fn clean_pattern(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn compile(p: &str) -> Vec<Token> {
    let b = p.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                if b.get(i) == Some(&b'/') {
                    i += 1;
                }
                out.push(if i >= b.len() {
                    Token::Rest
                } else {
                    Token::AnyDirs
                });
                continue;
            }
            b'*' => out.push(Token::Star),
            b'?' => out.push(Token::One),
            b'\\' if i + 1 < b.len() => {
                i += 1;
                out.push(Token::Lit(b[i]));
            }
            b'[' => {
                let close = b[i + 1..].iter().position(|&c| c == b']');
                match close {
                    Some(end) => {
                        let body = &b[i + 1..i + 1 + end];
                        let (neg, body) = match body.split_first() {
                            Some((b'^' | b'!', rest)) => (true, rest),
                            _ => (false, body),
                        };
                        let mut set = Vec::new();
                        let mut j = 0;
                        while j < body.len() {
                            if j + 2 < body.len() && body[j + 1] == b'-' {
                                set.push((body[j], body[j + 2]));
                                j += 3;
                            } else {
                                set.push((body[j], body[j]));
                                j += 1;
                            }
                        }
                        out.push(Token::Class { neg, set });
                        i += end + 2;
                        continue;
                    }
                    None => out.push(Token::Lit(b'[')),
                }
            }
            c => out.push(Token::Lit(c)),
        }
        i += 1;
    }
    out
}

/// Whether the whole of `s` matches `t`.
fn tokens_match(t: &[Token], s: &[u8]) -> bool {
    match t.split_first() {
        None => s.is_empty(),
        Some((Token::Rest, _)) => true,
        Some((Token::AnyDirs, rest)) => {
            tokens_match(rest, s)
                || (0..s.len())
                    .filter(|&i| s[i] == b'/')
                    .any(|i| tokens_match(rest, &s[i + 1..]))
        }
        Some((Token::Star, rest)) => {
            let run = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
            (0..=run).any(|i| tokens_match(rest, &s[i..]))
        }
        Some((Token::One, rest)) => {
            s.first().is_some_and(|&c| c != b'/') && tokens_match(rest, &s[1..])
        }
        Some((Token::Class { neg, set }, rest)) => match s.split_first() {
            Some((&c, srest)) => {
                let hit = set.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                c != b'/' && hit != *neg && tokens_match(rest, srest)
            }
            None => false,
        },
        Some((Token::Lit(c), rest)) => s.first() == Some(c) && tokens_match(rest, &s[1..]),
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        tokens_match(&self.tokens, path.as_bytes())
    }
}

impl Context {
    /// The context at `root`, reading its `.dockerignore` if present: the
    /// client's view (the daemonless build, the CLI's context tar).
    pub fn open(root: &Path) -> Result<Context, BuildError> {
        let root = root
            .canonicalize()
            .map_err(|e| BuildError::Context(format!("build context {}: {e}", root.display())))?;
        let ignore = std::fs::read_to_string(root.join(".dockerignore"))
            .map(|t| read_patterns(&t))
            .unwrap_or_default();
        Ok(Context { root, ignore })
    }

    /// A context a client sent (the daemon's view): the client applied
    /// its `.dockerignore` already, so nothing more is left out, except
    /// that `.dockerignore` and the Dockerfile (`dockerfile`, its path in
    /// the context) are removed when `.dockerignore` names them, as
    /// dockerd does (the docker CLI always sends both).
    pub fn open_received(root: &Path, dockerfile: &str) -> Result<Context, BuildError> {
        let mut ctx = Context::open(root)?;
        let patterns = std::mem::take(&mut ctx.ignore);
        if patterns.is_empty() {
            return Ok(ctx);
        }
        let probe = Context {
            root: ctx.root.clone(),
            ignore: patterns,
        };
        for f in [".dockerignore".to_string(), clean(dockerfile)] {
            if probe.ignored(&f) {
                if let Ok(p) = ctx.path(&f) {
                    if let Err(e) = std::fs::remove_file(&p) {
                        tracing::warn!(file = %p.display(), error = %e, "removing an ignored file from the build context");
                    }
                }
            }
        }
        Ok(ctx)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `rel` (slash-separated, relative to the root) is ignored:
    /// the last pattern that matches it or one of its parents decides
    /// (moby's MatchesOrParentMatches).
    pub fn ignored(&self, rel: &str) -> bool {
        let rel = clean(rel);
        let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let mut out = false;
        for p in &self.ignore {
            // Only a pattern that could change the answer is tried.
            if p.exclude == out {
                continue;
            }
            let hit = (1..=parts.len())
                .rev()
                .any(|n| p.matches(&parts[..n].join("/")));
            if hit {
                out = p.exclude;
            }
        }
        out
    }

    /// What a walk does with `rel`: an ignored directory is still looked
    /// into when an exception's pattern starts with its path (moby's walk:
    /// `!dir/sub/file` keeps `dir` open, `!**/file` does not).
    pub fn skip(&self, rel: &str) -> Skip {
        if !self.ignored(rel) {
            return Skip::Keep;
        }
        let dir = format!("{}/", clean(rel));
        let reopened = self
            .ignore
            .iter()
            .any(|p| !p.exclude && format!("{}/", p.text).starts_with(&dir));
        if reopened {
            Skip::Entry
        } else {
            Skip::All
        }
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
    fn dockerignore_as_moby_reads_it() -> Result<(), Box<dyn std::error::Error>> {
        let (_d, c) =
            ctx(" sub \n! sub/c.txt  \n #not a comment\n**/*.log\n!**/keep.log\n/a.txt/\n")?;
        // An exception under an ignored directory takes the file back and
        // keeps the directory open for the walk; `!**/...` does not.
        assert!(c.ignored("sub") && !c.ignored("sub/c.txt"));
        assert_eq!(c.skip("sub"), Skip::Entry);
        assert_eq!(c.skip("sub/deep"), Skip::All);
        assert!(c.ignored("sub/deep/d.log") && c.ignored("b.log"));
        assert!(!c.ignored("keep.log"));
        assert!(c.ignored("a.txt"));
        // `#` starts a comment only in the first column.
        assert!(c.ignored("#not a comment"));
        assert_eq!(c.skip("keep.log"), Skip::Keep);
        let (_d, c) = ctx("sub/**\n")?;
        assert!(c.ignored("sub/c.txt") && c.ignored("sub/deep/d.log") && !c.ignored("a.txt"));
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
