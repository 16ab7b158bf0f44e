//! From Dockerfile text to logical lines: parser directives at the top
//! (`# escape=` and `# syntax=`), comments, line continuations with the
//! escape character. Each logical line keeps the number of its first
//! physical line, which every later error names.

use super::ParseError;

/// One instruction's text, continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based number of the physical line the instruction starts on.
    pub number: usize,
    pub text: String,
}

/// The logical lines of `text` and the escape character in force.
pub fn logical_lines(text: &str) -> Result<(Vec<Line>, char), ParseError> {
    let mut escape = '\\';
    let mut in_directives = true;
    let mut seen_directives: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<Line> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if in_directives {
            if let Some((name, value)) = directive(raw) {
                if seen_directives.contains(&name) {
                    return Err(ParseError::new(
                        number,
                        format!("only one {name} parser directive can be used"),
                    ));
                }
                if name == "escape" {
                    escape = match value.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(ParseError::new(
                                number,
                                format!("invalid escape token '{value}' does not match ` or \\"),
                            ))
                        }
                    };
                }
                seen_directives.push(name);
                continue;
            }
            in_directives = false;
        }
        let trimmed = raw.trim_start();
        if trimmed.starts_with('#') {
            // Comments are dropped, also in the middle of a continuation.
            continue;
        }
        if trimmed.trim_end().is_empty() {
            // An empty line inside a continuation does not end it (docker
            // accepts this, with a warning).
            continue;
        }
        let body = raw.trim_end();
        let (piece, continues) = match body.strip_suffix(escape) {
            // An escaped escape character at the end is not a continuation.
            Some(rest) if !rest.ends_with(escape) || escape != '\\' => (rest, true),
            _ => (body, false),
        };
        match cur.as_mut() {
            Some(l) => l.text.push_str(piece),
            None => {
                cur = Some(Line {
                    number,
                    text: piece.trim_start().to_string(),
                })
            }
        }
        if !continues {
            if let Some(l) = cur.take() {
                out.push(l);
            }
        }
    }
    if let Some(l) = cur.take() {
        // A continuation at the end of the file ends the instruction.
        out.push(l);
    }
    Ok((out, escape))
}

/// `# name=value` at the top of the file; names are case-insensitive.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "escape" | "syntax" | "check").then(|| (name, value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_numbers() -> Result<(), ParseError> {
        let text =
            "FROM busybox\n# a comment\nRUN echo a \\\n  # inside\n  && echo b\n\nCMD [\"sh\"]\n";
        let (lines, esc) = logical_lines(text)?;
        assert_eq!(esc, '\\');
        assert_eq!(
            lines,
            vec![
                Line {
                    number: 1,
                    text: "FROM busybox".into()
                },
                Line {
                    number: 3,
                    text: "RUN echo a   && echo b".into()
                },
                Line {
                    number: 7,
                    text: "CMD [\"sh\"]".into()
                },
            ]
        );
        Ok(())
    }

    #[test]
    fn escape_directive_changes_the_continuation() -> Result<(), ParseError> {
        let text = "# escape=`\nFROM busybox\nRUN echo c:\\dir `\n  more\n";
        let (lines, esc) = logical_lines(text)?;
        assert_eq!(esc, '`');
        assert_eq!(lines[1].text, "RUN echo c:\\dir   more");
        assert_eq!(lines[1].number, 3);
        Ok(())
    }

    #[test]
    fn a_directive_after_an_instruction_is_a_comment() -> Result<(), ParseError> {
        let (lines, esc) = logical_lines("FROM a\n# escape=`\nRUN x \\\n y\n")?;
        assert_eq!(esc, '\\');
        assert_eq!(lines.len(), 2);
        Ok(())
    }

    #[test]
    fn bad_escape_names_its_line() {
        let e = logical_lines("# syntax=x\n# escape=z\nFROM a\n").err();
        assert_eq!(e.map(|e| e.line), Some(2));
    }
}
