//! `--format` for list commands, as docker's formatter does it: a `table`
//! prefix means a header row and aligned columns, `json` one JSON object per
//! line, anything else a Go template per row.

use std::io::Write;

use super::template::{Template, TemplateError};

/// docker's tabwriter settings: minimum cell width 10, padding 3.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// The template after `table`, shown with a header and aligned.
    Table(String),
    Json,
    Raw(String),
}

impl Format {
    /// `flag` is the user's `--format`; `default_table` the verb's default
    /// columns (without the `table` prefix).
    pub fn from_flag(flag: Option<&str>, default_table: &str) -> Format {
        match flag.map(str::trim) {
            None | Some("") | Some("table") => Format::Table(default_table.to_owned()),
            Some("json") => Format::Json,
            Some(f) if f.starts_with("table") => {
                Format::Table(f["table".len()..].trim().to_owned())
            }
            Some(f) => Format::Raw(f.to_owned()),
        }
    }
}

/// Render `rows` (each a JSON object of the verb's fields) in `format`.
/// `headers` maps field names to column titles.
pub fn render_rows(
    format: &Format,
    headers: &serde_json::Value,
    rows: &[serde_json::Value],
) -> Result<String, TemplateError> {
    match format {
        Format::Json => {
            let mut out = String::new();
            for r in rows {
                out.push_str(
                    &serde_json::to_string(r).map_err(|e| TemplateError::Exec(e.to_string()))?,
                );
                out.push('\n');
            }
            Ok(out)
        }
        Format::Raw(t) => {
            let tmpl = Template::parse(t)?;
            let mut out = String::new();
            for r in rows {
                out.push_str(&tmpl.render(r)?);
                out.push('\n');
            }
            Ok(out)
        }
        Format::Table(t) => {
            let tmpl = Template::parse(t)?;
            let mut out = tmpl.render(headers)?;
            out.push('\n');
            for r in rows {
                out.push_str(&tmpl.render(r)?);
                out.push('\n');
            }
            Ok(align(&out))
        }
    }
}

/// Render and print to stdout.
pub fn print_rows(
    format: &Format,
    headers: &serde_json::Value,
    rows: &[serde_json::Value],
) -> anyhow::Result<()> {
    let text = render_rows(format, headers, rows)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// Align tab-separated cells into columns (Go's tabwriter with docker's
/// settings): a cell ended by a tab is padded to its column's width; the
/// last cell of a line is not.
pub fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (c.chars().count() + PADDING).max(MIN_WIDTH);
            if widths.len() <= i {
                widths.push(w);
            } else if widths[i] < w {
                widths[i] = w;
            }
        }
    }
    let mut out = String::new();
    for cells in &lines {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_has_header_and_docker_widths() {
        let f = Format::from_flag(None, "{{.ID}}\t{{.Image}}\t{{.Names}}");
        let headers = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Names": "NAMES"});
        let rows = vec![json!({"ID": "0123456789ab", "Image": "busybox", "Names": "web"})];
        let out = render_rows(&f, &headers, &rows).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     NAMES\n0123456789ab   busybox   web\n"
        );
    }

    #[test]
    fn json_format_is_one_object_per_line() {
        let f = Format::from_flag(Some("json"), "{{.ID}}");
        let rows = vec![
            json!({"ID": "a", "Names": "x"}),
            json!({"ID": "b", "Names": "y"}),
        ];
        let out = render_rows(&f, &json!({}), &rows).unwrap();
        assert_eq!(
            out,
            "{\"ID\":\"a\",\"Names\":\"x\"}\n{\"ID\":\"b\",\"Names\":\"y\"}\n"
        );
    }

    #[test]
    fn raw_template_has_no_header() {
        let f = Format::from_flag(Some("{{.Names}}:{{.ID}}"), "{{.ID}}");
        let out = render_rows(
            &f,
            &json!({"ID": "CONTAINER ID"}),
            &[json!({"ID": "a", "Names": "x"})],
        )
        .unwrap();
        assert_eq!(out, "x:a\n");
    }

    #[test]
    fn custom_table_format() {
        let f = Format::from_flag(Some("table {{.Names}}\\t{{.Status}}"), "{{.ID}}");
        assert_eq!(f, Format::Table("{{.Names}}\\t{{.Status}}".into()));
        let out = render_rows(
            &f,
            &json!({"Names": "NAMES", "Status": "STATUS"}),
            &[json!({"Names": "a-very-long-name", "Status": "Up 2 seconds"})],
        )
        .unwrap();
        assert_eq!(
            out,
            "NAMES              STATUS\na-very-long-name   Up 2 seconds\n"
        );
    }
}
