//! Go templates through `gtmpl`, with the functions docker adds (`json`,
//! `join`, `split`, `upper`, `lower`, `title`, `truncate`, `pad`) and
//! conversion between JSON and template values.

use gtmpl::{Func, FuncError, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: {0}")]
    Exec(String),
}

pub struct Template {
    inner: gtmpl::Template,
}

impl Template {
    /// Parse `text`; `\t` and `\n` written literally (as shells pass them)
    /// become tab and newline, as in docker.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let text = text.replace("\\t", "\t").replace("\\n", "\n");
        let mut inner = gtmpl::Template::default();
        inner.add_funcs(DOCKER_FUNCS);
        inner
            .parse(go_printing(&text))
            .map_err(|e| TemplateError::Parse(e.to_string()))?;
        Ok(Template { inner })
    }

    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.inner
            .render(&gtmpl::Context::from(to_gtmpl(data)))
            .map_err(|e| TemplateError::Exec(e.to_string()))
    }
}

/// gtmpl prints lists and maps with Rust's Debug form; Go prints `[a b]`
/// and `map[k:v]`. Each printing action `{{ X }}` becomes `{{ X | __print }}`
/// so values print as Go's would. Control actions (`if`, `range`, `end`,
/// ...), assignments and comments are left alone.
fn go_printing(text: &str) -> String {
    const CONTROL: &[&str] = &[
        "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    ];
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // Find the closing braces outside string literals.
        let mut end = None;
        let mut quote: Option<char> = None;
        let mut prev = '\0';
        for (i, c) in after.char_indices() {
            match quote {
                Some(q) => {
                    if c == q && prev != '\\' {
                        quote = None;
                    }
                }
                None => {
                    if c == '"' || c == '`' {
                        quote = Some(c);
                    } else if c == '}' && after[i..].starts_with("}}") {
                        end = Some(i);
                        break;
                    }
                }
            }
            prev = c;
        }
        let Some(end) = end else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (lead, body) = match inner.strip_prefix('-') {
            Some(b) if b.starts_with(char::is_whitespace) => ("-", b),
            _ => ("", inner),
        };
        let (body, trail) = match body.strip_suffix('-') {
            Some(b) if b.ends_with(char::is_whitespace) => (b, "-"),
            _ => (body, ""),
        };
        let first = body.split_whitespace().next().unwrap_or("");
        let keep = body.trim().is_empty()
            || body.trim_start().starts_with("/*")
            || CONTROL.contains(&first)
            || body.contains(":=")
            || (first.starts_with('$') && body.split_whitespace().nth(1) == Some("="));
        out.push_str("{{");
        out.push_str(lead);
        out.push_str(body);
        if !keep {
            out.push_str(" | __print ");
        }
        out.push_str(trail);
        out.push_str("}}");
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Go's `%v` of a template value.
fn go_format(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Function(_) => String::new(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) | Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_format(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

fn print_go(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        args.iter().map(go_format).collect::<Vec<_>>().join(" "),
    ))
}

/// `len` of strings, lists and maps (gtmpl's own refuses maps).
fn len(args: &[Value]) -> Result<Value, FuncError> {
    let n = match arg(args, 0, "len", 1)? {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Object(m) | Value::Map(m) => m.len(),
        Value::Nil | Value::NoValue => 0,
        other => return Err(FuncError::Generic(format!("len of {}", go_format(other)))),
    };
    Ok(Value::from(n as u64))
}

const DOCKER_FUNCS: &[(&str, Func)] = &[
    ("__print", print_go as Func),
    ("len", len as Func),
    ("json", json as Func),
    ("join", join as Func),
    ("split", split as Func),
    ("upper", upper as Func),
    ("lower", lower as Func),
    ("title", title as Func),
    ("truncate", truncate as Func),
    ("pad", pad as Func),
];

pub fn to_gtmpl(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect())
        }
    }
}

pub fn from_gtmpl(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                serde_json::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                serde_json::Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(from_gtmpl).collect()),
        Value::Object(o) | Value::Map(o) => {
            let sorted: std::collections::BTreeMap<_, _> =
                o.iter().map(|(k, v)| (k.clone(), from_gtmpl(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
    }
}

fn arg<'a>(args: &'a [Value], i: usize, name: &str, want: usize) -> Result<&'a Value, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError::ExactlyXArgs(name.to_owned(), want))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let v = arg(args, 0, "json", 1)?;
    serde_json::to_string(&from_gtmpl(v))
        .map(Value::String)
        .map_err(|e| FuncError::Generic(e.to_string()))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let list = arg(args, 0, "join", 2)?;
    let sep = text(arg(args, 1, "join", 2)?);
    let items: Vec<String> = match list {
        Value::Array(a) => a.iter().map(text).collect(),
        Value::NoValue | Value::Nil => vec![],
        other => vec![text(other)],
    };
    Ok(Value::String(items.join(&sep)))
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "split", 2)?);
    let sep = text(arg(args, 1, "split", 2)?);
    Ok(Value::Array(
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_owned()))
            .collect(),
    ))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        text(arg(args, 0, "upper", 1)?).to_uppercase(),
    ))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        text(arg(args, 0, "lower", 1)?).to_lowercase(),
    ))
}

fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "title", 1)?);
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c.is_whitespace();
    }
    Ok(Value::String(out))
}

fn number(v: &Value) -> Result<usize, FuncError> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .map(|u| u as usize)
            .ok_or(FuncError::UnableToConvertFromValue),
        Value::String(s) => s.parse().map_err(|_| FuncError::UnableToConvertFromValue),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "truncate", 2)?);
    let n = number(arg(args, 1, "truncate", 2)?)?;
    Ok(Value::String(s.chars().take(n).collect()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = text(arg(args, 0, "pad", 3)?);
    let left = number(arg(args, 1, "pad", 3)?)?;
    let right = number(arg(args, 2, "pad", 3)?)?;
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(left),
        " ".repeat(right)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, data: serde_json::Value) -> String {
        Template::parse(t).unwrap().render(&data).unwrap()
    }

    #[test]
    fn fields_and_nested_fields() {
        let data = json!({"State": {"Status": "running", "Pid": 42}, "Name": "/web"});
        assert_eq!(
            render("{{.State.Status}} {{.State.Pid}}", data.clone()),
            "running 42"
        );
        assert_eq!(render("{{.Name}}", data), "/web");
    }

    #[test]
    fn docker_functions() {
        let data = json!({"Labels": {"a": "b"}, "Args": ["x", "y"], "Name": "web"});
        assert_eq!(render("{{json .Labels}}", data.clone()), r#"{"a":"b"}"#);
        assert_eq!(render("{{join .Args \",\"}}", data.clone()), "x,y");
        assert_eq!(
            render("{{upper .Name}}|{{title .Name}}", data.clone()),
            "WEB|Web"
        );
        assert_eq!(render("{{truncate .Name 2}}", data.clone()), "we");
        assert_eq!(render("{{index .Labels \"a\"}}", data.clone()), "b");
        assert_eq!(render("{{range .Args}}[{{.}}]{{end}}", data), "[x][y]");
    }

    #[test]
    fn lists_and_maps_print_as_go_does() {
        let data = json!({"Cmd": ["sh", "-c", "x"], "Labels": {"b": "2", "a": "1"}, "Health": null, "N": {"x": {}}});
        assert_eq!(render("{{.Cmd}}", data.clone()), "[sh -c x]");
        assert_eq!(render("{{.Labels}}", data.clone()), "map[a:1 b:2]");
        assert_eq!(render("{{.Health}}", data.clone()), "<nil>");
        assert_eq!(render("{{len .N}} {{len .Cmd}}", data.clone()), "1 3");
        assert_eq!(
            render("{{- if .Cmd }}yes{{ else }}no{{ end -}}", data.clone()),
            "yes"
        );
        assert_eq!(render("{{$x := .Cmd}}{{index $x 0}}", data.clone()), "sh");
        assert_eq!(render(r#"{{"}}" }}"#, data.clone()), "}}");
        // gtmpl ranges over maps in hash order (Go sorts keys): one key here.
        let one = json!({"Labels": {"a": "1"}});
        assert_eq!(
            render(
                "{{/* note */}}{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}",
                one
            ),
            "a=1;"
        );
    }

    #[test]
    fn escaped_tabs_become_tabs() {
        assert_eq!(render(r"{{.A}}\t{{.B}}", json!({"A": 1, "B": 2})), "1\t2");
    }

    #[test]
    fn a_broken_template_is_a_parse_error() {
        assert!(matches!(
            Template::parse("{{.A"),
            Err(TemplateError::Parse(_))
        ));
    }
}
