//! Words of an instruction's arguments as docker's shell lexer reads them:
//! split on unquoted whitespace, then per word `$VAR`, `${VAR}`,
//! `${VAR:-word}` and `${VAR:+word}` expanded (not inside single quotes),
//! quotes removed and escapes applied.

/// Looks up a variable (build args and ENV of the stage so far).
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

/// Splits `s` on unquoted whitespace, keeping quotes and escapes.
pub fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            None => {
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One word: variables expanded, quotes removed, escapes applied.
pub fn expand(word: &str, vars: &dyn Vars, escape: char) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                out.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(
                    "unexpected end of statement while looking for matching single-quote".into(),
                );
            }
            i += 1;
        } else if c == '"' {
            i += 1;
            loop {
                if i >= chars.len() {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                let d = chars[i];
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape && i + 1 < chars.len() {
                    let n = chars[i + 1];
                    if n == '"' || n == '$' || n == escape {
                        out.push(n);
                    } else {
                        out.push(d);
                        out.push(n);
                    }
                    i += 2;
                } else if d == '$' {
                    i = variable(&chars, i, vars, escape, &mut out)?;
                } else {
                    out.push(d);
                    i += 1;
                }
            }
        } else if c == escape {
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
            }
            i += 2;
        } else if c == '$' {
            i = variable(&chars, i, vars, escape, &mut out)?;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Every word of `s`, each expanded.
pub fn expand_all(s: &str, vars: &dyn Vars, escape: char) -> Result<Vec<String>, String> {
    split_raw(s, escape)
        .iter()
        .map(|w| expand(w, vars, escape))
        .collect()
}

/// Expands the variable at `chars[i] == '$'`; returns the index after it.
fn variable(
    chars: &[char],
    i: usize,
    vars: &dyn Vars,
    escape: char,
    out: &mut String,
) -> Result<usize, String> {
    let mut j = i + 1;
    if chars.get(j) == Some(&'{') {
        j += 1;
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        let name: String = chars[start..j].iter().collect();
        if name.is_empty() {
            return Err("missing variable name in ${}".into());
        }
        match chars.get(j) {
            Some('}') => {
                out.push_str(&vars.get(&name).unwrap_or_default());
                Ok(j + 1)
            }
            Some(':') => {
                let op = chars.get(j + 1).copied();
                let wstart = j + 2;
                let mut depth = 0;
                let mut k = wstart;
                while k < chars.len() {
                    match chars[k] {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    k += 1;
                }
                if k >= chars.len() {
                    return Err(format!("missing '}}' in ${{{name}:..."));
                }
                let word: String = chars[wstart..k].iter().collect();
                let value = vars.get(&name).filter(|v| !v.is_empty());
                match op {
                    Some('-') => match value {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&expand(&word, vars, escape)?),
                    },
                    Some('+') => {
                        if value.is_some() {
                            out.push_str(&expand(&word, vars, escape)?)
                        }
                    }
                    _ => return Err(format!("unsupported modifier in ${{{name}:...}}")),
                }
                Ok(k + 1)
            }
            _ => Err(format!("missing '}}' in ${{{name}")),
        }
    } else {
        let start = j;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        if j == start {
            out.push('$');
            return Ok(j);
        }
        let name: String = chars[start..j].iter().collect();
        out.push_str(&vars.get(&name).unwrap_or_default());
        Ok(j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        vec![
            ("A".into(), "one".into()),
            ("EMPTY".into(), String::new()),
            ("B".into(), "two words".into()),
        ]
    }

    #[test]
    fn expansion_forms() -> Result<(), String> {
        let v = vars();
        assert_eq!(expand("$A", &v, '\\')?, "one");
        assert_eq!(expand("${A}x", &v, '\\')?, "onex");
        assert_eq!(expand("${NOPE:-dflt}", &v, '\\')?, "dflt");
        assert_eq!(expand("${EMPTY:-d}", &v, '\\')?, "d");
        assert_eq!(expand("${A:+set}", &v, '\\')?, "set");
        assert_eq!(expand("${NOPE:+set}", &v, '\\')?, "");
        assert_eq!(expand("'$A'", &v, '\\')?, "$A");
        assert_eq!(expand("\"$B\"", &v, '\\')?, "two words");
        assert_eq!(expand("\\$A", &v, '\\')?, "$A");
        assert_eq!(expand("a$", &v, '\\')?, "a$");
        assert!(expand("${A", &v, '\\').is_err());
        assert!(expand("'open", &v, '\\').is_err());
        Ok(())
    }

    #[test]
    fn split_keeps_quoted_spaces() {
        assert_eq!(
            split_raw("a=\"x y\" b='c d' e\\ f", '\\'),
            vec!["a=\"x y\"", "b='c d'", "e\\ f"]
        );
    }
}
