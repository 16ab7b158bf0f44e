//! JSON message streams (pull/push/load progress, events, stats): a sequence
//! of JSON values, newline-separated or simply concatenated.

use std::io::Read;

use serde::de::DeserializeOwned;

use super::error::{ClientError, Result};

/// Iterate the values of a JSON stream; stops at EOF.
pub fn json_stream<T: DeserializeOwned>(r: impl Read) -> impl Iterator<Item = Result<T>> {
    serde_json::Deserializer::from_reader(r)
        .into_iter::<T>()
        .map(|v| v.map_err(ClientError::Decode))
}

/// One line of a progress stream (`/images/create`, `/images/{}/push`,
/// `/images/load`, `/build`), as the daemon writes it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ProgressMessage {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub progress: Option<String>,
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    pub error_detail: Option<ErrorDetail>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub message: Option<String>,
}

impl ProgressMessage {
    /// The in-band error, which docker reports after a 200 status.
    pub fn error_message(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.error_detail.as_ref().and_then(|d| d.message.clone()))
    }

    /// The line docker prints for this message when output is not a tty.
    pub fn display_line(&self) -> Option<String> {
        if let Some(s) = &self.stream {
            return Some(s.trim_end_matches('\n').to_owned());
        }
        let status = self.status.as_deref()?;
        let mut line = String::new();
        if let Some(id) = &self.id {
            line.push_str(id);
            line.push_str(": ");
        }
        line.push_str(status);
        if let Some(p) = self.progress.as_deref().filter(|p| !p.is_empty()) {
            line.push(' ');
            line.push_str(p);
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_and_newline_separated_values_both_parse() {
        let input = br#"{"status":"a"}{"status":"b"}
{"id":"abc","status":"Downloading","progress":"[=>  ]"}
"#;
        let msgs: Vec<ProgressMessage> = json_stream(&input[..]).collect::<Result<_>>().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[2].display_line().unwrap(), "abc: Downloading [=>  ]");
    }

    #[test]
    fn in_band_error_is_found() {
        let input = br#"{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}"#;
        let msgs: Vec<ProgressMessage> = json_stream(&input[..]).collect::<Result<_>>().unwrap();
        assert_eq!(msgs[0].error_message().as_deref(), Some("manifest unknown"));
    }

    #[test]
    fn garbage_is_an_error() {
        let input = b"{\"status\":\"a\"} not json";
        let out: Vec<Result<ProgressMessage>> = json_stream(&input[..]).collect();
        assert!(out.iter().any(|r| r.is_err()));
    }
}

/// Prints a progress stream as docker does: plain lines when not on a
/// terminal; on a terminal one line per layer id, rewritten in place
/// (cursor up, clear line) as its progress changes.
pub struct ProgressPrinter {
    tty: bool,
    /// Line of each id printed so far, counted from the first.
    ids: Vec<Option<String>>,
}

impl ProgressPrinter {
    pub fn new(tty: bool) -> ProgressPrinter {
        ProgressPrinter {
            tty,
            ids: Vec::new(),
        }
    }

    pub fn print(
        &mut self,
        msg: &ProgressMessage,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let Some(line) = msg.display_line() else {
            return Ok(());
        };
        let id = msg
            .id
            .clone()
            .filter(|i| !i.is_empty() && msg.stream.is_none());
        if !self.tty {
            return writeln!(out, "{line}");
        }
        if let Some(id) = &id {
            if let Some(pos) = self
                .ids
                .iter()
                .position(|i| i.as_deref() == Some(id.as_str()))
            {
                let up = self.ids.len() - pos;
                // Up to the id's line, rewrite it, and back down.
                write!(out, "\x1b[{up}A\x1b[2K\r{line}\x1b[{up}B\r")?;
                return out.flush();
            }
        }
        self.ids.push(id);
        writeln!(out, "\x1b[2K\r{line}")?;
        out.flush()
    }
}

#[cfg(test)]
mod printer_tests {
    use super::*;

    fn msg(id: Option<&str>, status: &str) -> ProgressMessage {
        ProgressMessage {
            id: id.map(str::to_owned),
            status: Some(status.to_owned()),
            ..Default::default()
        }
    }

    #[test]
    fn plain_lines_without_a_terminal() {
        let mut p = ProgressPrinter::new(false);
        let mut out = Vec::new();
        p.print(&msg(Some("a"), "Downloading"), &mut out).unwrap();
        p.print(&msg(Some("a"), "Done"), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a: Downloading\na: Done\n");
    }

    #[test]
    fn a_known_id_is_rewritten_in_place_on_a_terminal() {
        let mut p = ProgressPrinter::new(true);
        let mut out = Vec::new();
        p.print(&msg(Some("a"), "Waiting"), &mut out).unwrap();
        p.print(&msg(Some("b"), "Waiting"), &mut out).unwrap();
        p.print(&msg(Some("a"), "Done"), &mut out).unwrap();
        p.print(&msg(None, "Status: ok"), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[2K\ra: Waiting\n\x1b[2K\rb: Waiting\n\x1b[2A\x1b[2K\ra: Done\x1b[2B\r\x1b[2K\rStatus: ok\n"
        );
    }
}
